//! Userspace cost per event before the flow engine: decoding ring-buffer records
//! into Events, and writing and reading trace files. Inputs are what nginx
//! serving 1 KiB and 64 KiB bodies produces.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use flowtap::capture::decode;
use flowtap::event::{Accept, Close, Data, Event, SockAddrs, Syscall, Task};
use flowtap::trace::{TraceReader, TraceWriter};

// bpf/flowtap.h, encoded by hand: the bench sits outside the crate, where the
// skeleton's types are not visible. `check_records` decodes each one first, so a
// drift in the layout fails the bench instead of timing garbage.
const KIND_ACCEPT: u32 = 1;
const KIND_DATA: u32 = 5;
const KIND_CLOSE: u32 = 6;
const SYS_READ: u32 = 1;
const SYS_WRITEV: u32 = 4;
const SOCK_EVENT_LEN: usize = 120;

fn header(kind: u32, fd: i32) -> Vec<u8> {
    let mut h = Vec::with_capacity(48);
    h.extend_from_slice(&123_456_789_000u64.to_ne_bytes()); // ts
    h.extend_from_slice(&4242u64.to_ne_bytes()); // cgroup
    h.extend_from_slice(&100u32.to_ne_bytes()); // pid
    h.extend_from_slice(&100u32.to_ne_bytes()); // tid
    h.extend_from_slice(&kind.to_ne_bytes());
    h.extend_from_slice(&fd.to_ne_bytes());
    let mut comm = [0u8; 16];
    comm[..5].copy_from_slice(b"nginx");
    h.extend_from_slice(&comm);
    h
}

fn data_record(syscall: u32, pos: u64, payload: &[u8]) -> Vec<u8> {
    let mut r = header(KIND_DATA, 11);
    r.extend_from_slice(&pos.to_ne_bytes());
    r.extend_from_slice(&(payload.len() as u64).to_ne_bytes());
    r.extend_from_slice(&(payload.len() as u32).to_ne_bytes());
    r.extend_from_slice(&syscall.to_ne_bytes());
    r.extend_from_slice(payload);
    r
}

fn v4(ip: [u8; 4], port: u16) -> Vec<u8> {
    let mut a = Vec::with_capacity(20);
    a.extend_from_slice(&2u16.to_ne_bytes());
    a.extend_from_slice(&port.to_ne_bytes());
    a.extend_from_slice(&ip);
    a.extend_from_slice(&[0; 12]);
    a
}

fn accept_record() -> Vec<u8> {
    let mut r = header(KIND_ACCEPT, 11);
    r.extend_from_slice(&0i32.to_ne_bytes());
    r.extend_from_slice(&1u32.to_ne_bytes());
    r.extend(v4([172, 18, 0, 3], 40000));
    r.extend(v4([172, 18, 0, 2], 80));
    r.extend(v4([172, 18, 0, 3], 40000));
    r.resize(SOCK_EVENT_LEN, 0);
    r
}

fn request() -> Vec<u8> {
    b"GET /1k HTTP/1.1\r\nHost: 172.18.0.2\r\nUser-Agent: oha/1.4.0\r\nAccept: */*\r\n\r\n".to_vec()
}

fn response(body_len: usize) -> Vec<u8> {
    let mut r = format!(
        "HTTP/1.1 200 OK\r\nServer: nginx/1.22.1\r\nDate: Mon, 23 Nov 2026 04:00:00 GMT\r\n\
         Content-Type: application/octet-stream\r\nContent-Length: {body_len}\r\n\
         Connection: keep-alive\r\nAccept-Ranges: bytes\r\n\r\n"
    )
    .into_bytes();
    r.extend((0..body_len).map(|i| b"abcdefghijklmnopqrstuvwxyz0123456789\n"[i % 37]));
    r
}

/// One keep-alive exchange of a 1 KiB body as nginx's side records it, and one
/// 16 KiB record of a 64 KiB body.
fn records() -> Vec<(&'static str, Vec<u8>)> {
    let chunk = response(65536)[..16 * 1024].to_vec();
    vec![
        ("accept", accept_record()),
        ("read request", data_record(SYS_READ, 0, &request())),
        (
            "writev 1 KiB response",
            data_record(SYS_WRITEV, 0, &response(1024)),
        ),
        ("writev 16 KiB record", data_record(SYS_WRITEV, 0, &chunk)),
        ("close", header(KIND_CLOSE, 11)),
    ]
}

fn check_records(records: &[(&str, Vec<u8>)]) {
    for (name, r) in records {
        match decode(r) {
            Ok(Event::Data(d)) => assert_eq!(d.payload.len() as u64, d.count, "{name}"),
            Ok(Event::Accept(a)) => assert_eq!(a.peer, Some("172.18.0.3:40000".parse().unwrap())),
            Ok(Event::Close(c)) => assert_eq!(c.fd, 11),
            other => panic!("{name}: the hand-encoded record decodes as {other:?}"),
        }
    }
}

fn bench_decode(c: &mut Criterion) {
    let records = records();
    check_records(&records);
    let mut group = c.benchmark_group("decode");
    for (name, record) in &records {
        group.throughput(Throughput::Elements(1));
        group.bench_function(*name, |b| b.iter(|| decode(black_box(record))));
    }
    group.finish();
}

fn task() -> Task {
    Task {
        pid: 100,
        tid: 100,
        comm: "nginx".into(),
        cgroup: 4242,
    }
}

/// A keep-alive connection of `n` 1 KiB exchanges, as Events.
fn keepalive_events(n: u64) -> Vec<Event> {
    let (req, resp) = (request(), response(1024));
    let mut events = vec![Event::Accept(Accept {
        ts: 1,
        task: task(),
        fd: 11,
        peer: Some("172.18.0.3:40000".parse().unwrap()),
        sock: Some(SockAddrs {
            local: Some("172.18.0.2:80".parse().unwrap()),
            peer: Some("172.18.0.3:40000".parse().unwrap()),
        }),
    })];
    let data = |i: u64, syscall, payload: &[u8]| {
        Event::Data(Data {
            ts: 10 + i,
            task: task(),
            fd: 11,
            syscall,
            pos: i / 2 * payload.len() as u64,
            count: payload.len() as u64,
            payload: payload.into(),
            truncated: false,
        })
    };
    for i in 0..n {
        events.push(data(2 * i, Syscall::Read, &req));
        events.push(data(2 * i + 1, Syscall::Writev, &resp));
    }
    events.push(Event::Close(Close {
        ts: 10 + 2 * n,
        task: task(),
        fd: 11,
    }));
    events
}

fn bench_trace(c: &mut Criterion) {
    let events = keepalive_events(100);
    let mut w = TraceWriter::new(Vec::new());
    for e in &events {
        w.write(e).expect("writing to memory");
    }
    let text = w.into_inner().expect("writing to memory");
    let mut group = c.benchmark_group("trace");
    group.throughput(Throughput::Bytes(text.len() as u64));
    group.bench_function("write 100 keep-alive exchanges", |b| {
        b.iter_batched_ref(
            || TraceWriter::new(Vec::with_capacity(text.len())),
            |w| {
                for e in &events {
                    w.write(e).expect("writing to memory");
                }
            },
            BatchSize::SmallInput,
        )
    });
    group.bench_function("read 100 keep-alive exchanges", |b| {
        b.iter(|| {
            let n = TraceReader::new(black_box(&text[..]))
                .map(|e| e.expect("a trace this bench wrote"))
                .count();
            assert_eq!(n, events.len());
        })
    });
    group.finish();
}

criterion_group!(benches, bench_decode, bench_trace);
criterion_main!(benches);
