//! Userspace cost per event before the flow engine: decoding ring-buffer records
//! into Events, and writing and reading trace files. Inputs are what nginx
//! serving 1 KiB and 64 KiB bodies produces.

use std::hint::black_box;

#[path = "common/mod.rs"]
mod common;

use common::{keepalive_events, request, response};
use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use flowtap::capture::decode;
use flowtap::event::Event;
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

fn bench_trace(c: &mut Criterion) {
    let events = keepalive_events(11, 100);
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
            let mut n = 0;
            for e in TraceReader::new(black_box(&text[..])) {
                black_box(e.expect("a trace this bench wrote"));
                n += 1;
            }
            assert_eq!(n, events.len());
        })
    });
    group.finish();
}

criterion_group!(benches, bench_decode, bench_trace);
criterion_main!(benches);
