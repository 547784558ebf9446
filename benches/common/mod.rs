//! Realistic inputs shared by the benches: what nginx's side of a keep-alive
//! connection to a load generator looks like, as bytes and as Events.

#![allow(dead_code)] // each bench uses its own part

use flowtap::event::{Accept, Close, Data, Event, SockAddrs, Syscall, Task};

pub const CLIENT: &str = "172.18.0.3:40000";
pub const SERVER: &str = "172.18.0.2:80";

pub fn request() -> Vec<u8> {
    b"GET /1k HTTP/1.1\r\nHost: 172.18.0.2\r\nUser-Agent: oha/1.4.0\r\nAccept: */*\r\n\r\n".to_vec()
}

pub fn response(body_len: usize) -> Vec<u8> {
    let mut r = format!(
        "HTTP/1.1 200 OK\r\nServer: nginx/1.22.1\r\nDate: Mon, 23 Nov 2026 04:00:00 GMT\r\n\
         Content-Type: application/octet-stream\r\nContent-Length: {body_len}\r\n\
         Connection: keep-alive\r\nAccept-Ranges: bytes\r\n\r\n"
    )
    .into_bytes();
    r.extend((0..body_len).map(|i| b"abcdefghijklmnopqrstuvwxyz0123456789\n"[i % 37]));
    r
}

/// A POST of a `body_len` JSON-ish body, as one buffer.
pub fn post(body_len: usize) -> Vec<u8> {
    let mut r = format!(
        "POST /api/items HTTP/1.1\r\nHost: 172.18.0.2\r\nContent-Type: application/json\r\n\
         Content-Length: {body_len}\r\n\r\n"
    )
    .into_bytes();
    r.extend((0..body_len).map(|i| b"{\"id\":1,\"name\":\"abcdefgh\"},"[i % 27]));
    r
}

pub fn task() -> Task {
    Task {
        pid: 100,
        tid: 100,
        comm: "nginx".into(),
        cgroup: 4242,
    }
}

/// Server side of a keep-alive connection of `n` exchanges of a 1 KiB body: the
/// accept (with the kernel's view of both ends), then a read of each request and a
/// writev of each response, then the close.
pub fn keepalive_events(fd: i32, n: u64) -> Vec<Event> {
    let (req, resp) = (request(), response(1024));
    let mut ts = 1_000;
    let mut next = || {
        ts += 20_000;
        ts
    };
    let mut events = vec![Event::Accept(Accept {
        ts: next(),
        task: task(),
        fd,
        peer: Some(CLIENT.parse().unwrap()),
        sock: Some(SockAddrs {
            local: Some(SERVER.parse().unwrap()),
            peer: Some(CLIENT.parse().unwrap()),
        }),
    })];
    for i in 0..n {
        for (syscall, payload) in [(Syscall::Read, &req), (Syscall::Writev, &resp)] {
            events.push(Event::Data(Data {
                ts: next(),
                task: task(),
                fd,
                syscall,
                pos: i * payload.len() as u64,
                count: payload.len() as u64,
                payload: payload[..].into(),
                truncated: false,
            }));
        }
    }
    events.push(Event::Close(Close {
        ts: next(),
        task: task(),
        fd,
    }));
    events
}
