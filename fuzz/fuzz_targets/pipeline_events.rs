//! The whole pipeline (sockets, HTTP, flows, a JSON Lines sink) fed arbitrary
//! event sequences. Each event is built from a few bytes: kind, process, fd,
//! time step, then a payload for data.
#![no_main]

use std::net::SocketAddr;

use flowtap::bytes::Bytes;
use flowtap::event::{
    Accept, Close, Connect, ContainerAction, ContainerEvent, ContainerInfo, Data, Event,
    ExistingSocket, Getsockname, SockAddrs, Syscall, Task,
};
use flowtap::pipeline::{Config, Pipeline};
use flowtap::sink::JsonLines;
use libfuzzer_sys::fuzz_target;

const ADDRS: [&str; 4] = [
    "10.0.0.1:80",
    "10.0.0.2:4000",
    "[::1]:8080",
    "172.18.0.3:51234",
];

fn addr(b: u8) -> SocketAddr {
    ADDRS[usize::from(b) % ADDRS.len()]
        .parse()
        .unwrap_or_else(|_| SocketAddr::from(([0, 0, 0, 0], 0)))
}

fn sock(b: u8) -> SockAddrs {
    SockAddrs {
        local: (b & 1 != 0).then(|| addr(b >> 1)),
        peer: (b & 2 != 0).then(|| addr(b >> 3)),
    }
}

fuzz_target!(|data: &[u8]| {
    let mut out = Vec::new();
    let mut p = Pipeline::new(
        Config {
            max_body: 256,
            body_budget: 1024,
            ..Config::default()
        },
        JsonLines::new(&mut out),
    );
    let mut ts: u64 = 0;
    let mut pos = [0u64; 8];
    let mut rest = data;
    while rest.len() >= 4 {
        let (head, tail) = rest.split_at(4);
        rest = tail;
        let [kind, who, step, arg] = [head[0], head[1], head[2], head[3]];
        // Big steps now and then cross the hold-back and idle deadlines.
        ts += if step & 0x80 != 0 {
            u64::from(step & 0x7f) * 100_000_000
        } else {
            u64::from(step)
        };
        let task = Task {
            pid: u32::from(who & 3),
            tid: u32::from(who & 3),
            comm: "fuzz".into(),
            cgroup: u64::from((who >> 2) & 1),
        };
        let fd = i32::from((who >> 3) & 3);
        let event = match kind % 10 {
            0 => Event::Accept(Accept {
                ts,
                task,
                fd,
                peer: Some(addr(arg)),
                sock: (arg & 0x10 != 0).then(|| sock(arg)),
            }),
            1 => Event::Connect(Connect {
                ts,
                task,
                fd,
                peer: Some(addr(arg)),
                result: if arg & 0x20 != 0 { -115 } else { 0 },
                sock: (arg & 0x10 != 0).then(|| sock(arg)),
            }),
            2 => Event::Getsockname(Getsockname {
                ts,
                task,
                fd,
                local: addr(arg),
            }),
            3 => Event::Socket(ExistingSocket {
                ts,
                task,
                fd,
                sock: sock(arg),
            }),
            4 | 5 | 6 => {
                let n = usize::from(arg & 0x7f).min(rest.len());
                let (payload, tail) = rest.split_at(n);
                rest = tail;
                let syscall = if kind & 1 != 0 {
                    Syscall::Write
                } else {
                    Syscall::Read
                };
                let slot = usize::from(who & 7);
                let extra = if arg & 0x80 != 0 {
                    u64::from(step & 7)
                } else {
                    0
                };
                let count = n as u64 + extra;
                let event = Event::Data(Data {
                    ts,
                    task,
                    fd,
                    syscall,
                    pos: pos[slot],
                    count,
                    payload: Bytes(payload.to_vec()),
                    truncated: extra > 0,
                });
                // Now and then a jump in position: lost events.
                pos[slot] += count + u64::from(kind == 6 && arg & 0x40 != 0);
                event
            }
            7 => Event::Close(Close { ts, task, fd }),
            8 => Event::Loss {
                ts,
                lost: u64::from(arg),
            },
            _ => Event::Container(ContainerEvent {
                ts,
                action: match arg % 5 {
                    0 => ContainerAction::Created,
                    1 => ContainerAction::Seen,
                    2 => ContainerAction::Start,
                    3 => ContainerAction::Die,
                    _ => ContainerAction::Update,
                },
                container: ContainerInfo {
                    id: "c".repeat(64),
                    name: "c".into(),
                    compose_project: None,
                    compose_service: None,
                    cgroup_id: Some(u64::from(arg & 1)),
                    ips: vec![addr(arg >> 1).ip()],
                    pid: None,
                },
            }),
        };
        if p.handle(event).is_err() {
            return;
        }
        if step == 0xff {
            let _ = p.advance_time(ts);
        }
    }
    let _ = p.finish();
});
