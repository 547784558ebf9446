//! The flow engine's cost: the HTTP/1.x decoder and connection pairing, the
//! per-socket state, and the whole pipeline from Events to JSON Lines. Inputs are
//! what nginx's side of a keep-alive connection looks like.

#[path = "common/mod.rs"]
mod common;

use std::hint::black_box;

use common::{keepalive_events, post, request, response, task};
use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use flowtap::event::Observer;
use flowtap::event::{Accept, Data, Direction, Event, Syscall};
use flowtap::http::{Connection, Decoded, Decoder, Kind};
use flowtap::pipeline::{Config, Pipeline};
use flowtap::sink::JsonLines;
use flowtap::sockets::{Limits, Sockets};

const MAX_BODY: usize = 1 << 20;

fn bench_decoder(c: &mut Criterion) {
    let mut group = c.benchmark_group("http decoder");
    let get = request();
    group.throughput(Throughput::Bytes(get.len() as u64));
    group.bench_function("GET head", |b| {
        b.iter_batched_ref(
            || (Decoder::new(Kind::Request, MAX_BODY), Vec::new()),
            |(d, out): &mut (Decoder, Vec<Decoded>)| {
                d.feed(1, black_box(&get), out);
                assert!(matches!(out.last(), Some(Decoded::Message(_))));
            },
            BatchSize::SmallInput,
        )
    });
    // As nginx reads it: 16 KiB at a time, the head in the first read.
    let big = post(64 * 1024);
    group.throughput(Throughput::Bytes(big.len() as u64));
    group.bench_function("POST 64 KiB body in 16 KiB reads", |b| {
        b.iter_batched_ref(
            || (Decoder::new(Kind::Request, MAX_BODY), Vec::new()),
            |(d, out): &mut (Decoder, Vec<Decoded>)| {
                for (i, piece) in big.chunks(16 * 1024).enumerate() {
                    d.feed(i as u64, black_box(piece), out);
                }
                assert!(matches!(out.last(), Some(Decoded::Message(_))));
            },
            BatchSize::SmallInput,
        )
    });
    let resp = response(1024);
    group.throughput(Throughput::Bytes(resp.len() as u64));
    group.bench_function("200 response, 1 KiB body", |b| {
        b.iter_batched_ref(
            || {
                let mut d = Decoder::new(Kind::Response, MAX_BODY);
                d.expect_response_to("GET".into());
                (d, Vec::new())
            },
            |(d, out): &mut (Decoder, Vec<Decoded>)| {
                d.feed(1, black_box(&resp), out);
                assert!(matches!(out.last(), Some(Decoded::Message(_))));
            },
            BatchSize::SmallInput,
        )
    });
    group.finish();
}

fn bench_connection(c: &mut Criterion) {
    let (req, resp) = (request(), response(1024));
    let n = 100;
    let mut group = c.benchmark_group("http connection");
    group.throughput(Throughput::Elements(n));
    group.bench_function("keep-alive series of 100 exchanges, 1 KiB bodies", |b| {
        b.iter_batched_ref(
            || {
                (
                    Connection::new(Some(Observer::Server), MAX_BODY),
                    Vec::new(),
                )
            },
            |(conn, out)| {
                for i in 0..n {
                    conn.feed(Direction::Recv, 2 * i, black_box(&req), 0, out);
                    conn.feed(Direction::Send, 2 * i + 1, black_box(&resp), 0, out);
                }
                assert_eq!(out.len() as u64, n);
            },
            BatchSize::SmallInput,
        )
    });
    group.finish();
}

fn bench_sockets(c: &mut Criterion) {
    let events = keepalive_events(11, 100);
    let mut group = c.benchmark_group("sockets");
    group.throughput(Throughput::Elements(events.len() as u64));
    group.bench_function("keep-alive connection, 100 exchanges (events)", |b| {
        b.iter_batched_ref(
            || (Sockets::new(Limits::default()), Vec::new(), events.clone()),
            |(sockets, out, events)| {
                for e in events.drain(..) {
                    sockets.handle(black_box(e), None, out);
                }
                out.clear();
            },
            BatchSize::SmallInput,
        )
    });
    // 1,000 connections open at once, each one exchange, then all closed.
    let many: Vec<Event> = {
        let conns: Vec<Vec<Event>> = (0..1000).map(|fd| keepalive_events(fd, 1)).collect();
        let mut v = Vec::new();
        for step in 0..4 {
            for c in &conns {
                v.push(c[step].clone());
            }
        }
        v
    };
    group.throughput(Throughput::Elements(many.len() as u64));
    group.bench_function("1,000 interleaved connections (events)", |b| {
        b.iter_batched_ref(
            || (Sockets::new(Limits::default()), Vec::new(), many.clone()),
            |(sockets, out, events)| {
                for e in events.drain(..) {
                    sockets.handle(black_box(e), None, out);
                }
                out.clear();
            },
            BatchSize::SmallInput,
        )
    });
    group.finish();
}

/// 5,000 connections opened at once (no getsockname, no kernel view, so held the
/// full second), each with one 4 KiB request: past the held-bytes cap and the
/// socket cap, what goes is the oldest, again and again.
fn bench_socket_bounds(c: &mut Criterion) {
    let n = 5_000;
    let req = vec![b'x'; 4096];
    let mut ts = 0;
    let mut next = || {
        ts += 1_000;
        ts
    };
    let mut events = Vec::new();
    for fd in 0..n {
        events.push(Event::Accept(Accept {
            ts: next(),
            task: task(),
            fd,
            peer: Some(common::CLIENT.parse().unwrap()),
            sock: None,
        }));
    }
    for fd in 0..n {
        events.push(Event::Data(Data {
            ts: next(),
            task: task(),
            fd,
            syscall: Syscall::Read,
            pos: 0,
            count: req.len() as u64,
            payload: req[..].into(),
            truncated: false,
        }));
    }
    let mut group = c.benchmark_group("socket bounds");
    group.throughput(Throughput::Elements(events.len() as u64));
    for (name, limits) in [
        (
            "5,000 sockets over a 1 MiB held cap (events)",
            Limits {
                max_held_bytes: 1 << 20,
                ..Limits::default()
            },
        ),
        (
            "5,000 sockets over a 1,000-socket cap (events)",
            Limits {
                max_sockets: 1_000,
                ..Limits::default()
            },
        ),
    ] {
        group.bench_function(name, |b| {
            b.iter_batched_ref(
                || (Sockets::new(limits), Vec::new(), events.clone()),
                |(sockets, out, events)| {
                    for e in events.drain(..) {
                        sockets.handle(black_box(e), None, out);
                    }
                    out.clear();
                },
                BatchSize::SmallInput,
            )
        });
    }
    group.finish();
}

fn bench_pipeline(c: &mut Criterion) {
    let events = keepalive_events(11, 100);
    let mut group = c.benchmark_group("pipeline");
    group.throughput(Throughput::Elements(events.len() as u64));
    group.bench_function("events to JSON Lines, 100 keep-alive exchanges", |b| {
        b.iter_batched(
            || events.clone(),
            |events| {
                let mut p = Pipeline::new(Config::default(), JsonLines::new(std::io::sink()));
                for e in events {
                    p.handle(e).expect("writing to io::sink");
                }
                let summary = p.finish().expect("writing to io::sink");
                assert_eq!(summary.flows_written, 100);
            },
            BatchSize::SmallInput,
        )
    });
    group.finish();
}

criterion_group!(
    benches,
    bench_decoder,
    bench_connection,
    bench_sockets,
    bench_socket_bounds,
    bench_pipeline
);
criterion_main!(benches);
