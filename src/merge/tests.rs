use super::*;
use crate::bytes::Bytes;
use crate::flow::{AddressSources, Body, Endpoint, Process, Request, Response};
use crate::http::Headers;
use crate::sockets::AddressSource;

const CLIENT: &str = "172.18.0.3:51234";
const SERVER: &str = "172.18.0.2:8000";

fn endpoint(addr: &str) -> Endpoint {
    let a: SocketAddr = addr.parse().unwrap();
    Endpoint {
        ip: Some(a.ip()),
        port: Some(a.port()),
        container: None,
    }
}

fn body(text: &str) -> Body {
    Body {
        size: text.len() as u64,
        bytes: Bytes(text.as_bytes().to_vec()),
        truncated: false,
    }
}

/// Exchange `index` of socket `pid-fd-0`, as `observer` saw it.
fn half(observer: Observer, pid: u32, index: u64, target: &str, start_us: u64, dur: u64) -> Flow {
    let (comm, sources) = match observer {
        Observer::Client => ("curl", (AddressSource::Getsockname, AddressSource::Connect)),
        Observer::Server => (
            "python3",
            (AddressSource::Accept, AddressSource::Getsockname),
        ),
    };
    Flow {
        anomalies: Vec::new(),
        id: format!("{pid}-3-0-{index}").into(),
        observer: observer.into(),
        src: endpoint(CLIENT),
        dst: endpoint(SERVER),
        process: Process {
            pid,
            comm: comm.into(),
            container: None,
        },
        request: Request {
            time: format!("2026-11-22T04:00:00.{start_us:06}Z"),
            method: "GET".into(),
            target: target.into(),
            version: "HTTP/1.1".into(),
            headers: Headers::from_iter([("Host", "api:8000")]),
            body: body(""),
            trailers: Headers::new(),
        },
        response: Some(Response {
            time: format!("2026-11-22T04:00:00.{:06}Z", start_us + dur / 2),
            status: 200,
            reason: "OK".into(),
            version: "HTTP/1.1".into(),
            headers: Headers::from_iter([("Content-Length", "2")]),
            body: body("ok"),
            trailers: Headers::new(),
        }),
        duration_us: Some(dur),
        address_source: AddressSources {
            src: Some(sources.0),
            dst: Some(sources.1),
        },
        tunnel: None,
        tls: None,
        incomplete: None,
        stream_id: None,
        authority: None,
        grpc: None,
    }
}

fn client(index: u64, target: &str) -> Flow {
    half(
        Observer::Client,
        300,
        index,
        target,
        1000 + index * 1000,
        800,
    )
}

fn server(index: u64, target: &str) -> Flow {
    half(
        Observer::Server,
        200,
        index,
        target,
        1100 + index * 1000,
        600,
    )
}

fn offline() -> Merger {
    Merger::new(MergeConfig {
        wait_ns: None,
        max_bytes: 1 << 20,
    })
}

fn run(merger: &mut Merger, flows: Vec<Flow>) -> Vec<Record> {
    let mut out = Vec::new();
    for f in flows {
        merger.offer(f, 0, &mut out);
    }
    merger.finish(&mut out);
    out
}

fn merged(r: &Record) -> &MergedFlow {
    match r {
        Record::Both(m) => m,
        Record::One(f) => panic!("not merged: {}", f.id),
    }
}

#[test]
fn a_matched_pair_is_one_flow_with_both_processes_and_timings() {
    let mut m = offline();
    let out = run(&mut m, vec![server(0, "/a"), client(0, "/a")]);
    assert_eq!(out.len(), 1);
    let both = merged(&out[0]);
    assert_eq!(both.flow.id, "300-3-0-0");
    assert_eq!(both.flow.process.comm, "curl");
    assert_eq!(both.server.id, "200-3-0-0");
    assert_eq!(both.server.process.comm, "python3");
    assert_eq!(
        both.timing,
        Timing {
            client_us: Some(800),
            server_us: Some(600),
            network_us: Some(200),
        }
    );
    assert_eq!(
        both.flow.address_source.src,
        Some(AddressSource::Getsockname)
    );
    assert_eq!(
        both.flow.address_source.dst,
        Some(AddressSource::Getsockname)
    );
    assert!(both.disagreements.is_empty());
    assert_eq!(m.stats().merged, 1);
    assert_eq!(m.held_bytes(), BINDING_COST);
    let json = serde_json::to_value(&out[0]).unwrap();
    assert_eq!(json["observer"], "both");
    assert_eq!(json["timing"]["network_us"], 200);
}

#[test]
fn an_unmatched_half_stays_a_single_observer_flow() {
    let mut m = offline();
    let out = run(&mut m, vec![client(0, "/a"), server(1, "/b")]);
    assert_eq!(out.len(), 2);
    assert!(out.iter().all(|r| matches!(r, Record::One(_))));
    assert_eq!(m.stats().at_end, 2);
    assert_eq!(m.held_bytes(), 0);
}

#[test]
fn disagreements_keep_both_versions() {
    let mut c = client(0, "/a");
    let mut s = server(0, "/a");
    s.request.headers.push("X-Forwarded-For", "10.0.0.1");
    c.response.as_mut().unwrap().body = Body {
        size: 2,
        bytes: Bytes(b"o".to_vec()),
        truncated: true,
    };
    c.incomplete = Some("gap".into());
    let out = run(&mut offline(), vec![c, s]);
    let both = merged(&out[0]);
    let fields: Vec<&str> = both
        .disagreements
        .iter()
        .map(|d| d.field.as_str())
        .collect();
    assert_eq!(fields, ["request.headers", "response.body", "incomplete"]);
    let body = &both.disagreements[1];
    assert_eq!(body.client["text"], "o");
    assert_eq!(body.server["text"], "ok");
    // The record itself is the client's view, but for the body the server kept whole.
    assert_eq!(both.flow.request.headers.len(), 1);
    assert_eq!(both.flow.incomplete.as_deref(), Some("gap"));
    let kept = &both.flow.response.as_ref().unwrap().body;
    assert_eq!((kept.bytes.as_slice(), kept.truncated), (&b"ok"[..], false));
}

#[test]
fn a_missing_response_on_one_side_is_a_disagreement() {
    let mut s = server(0, "/a");
    s.response = None;
    s.duration_us = None;
    let out = run(&mut offline(), vec![client(0, "/a"), s]);
    let both = merged(&out[0]);
    assert_eq!(both.disagreements[0].field, "response");
    assert!(both.disagreements[0].server.is_null());
    assert_eq!(both.timing.network_us, None);
}

#[test]
fn keep_alive_exchanges_pair_by_order_whatever_the_arrival() {
    let flows = vec![
        client(0, "/same"),
        client(1, "/same"),
        server(1, "/same"),
        client(2, "/same"),
        server(0, "/same"),
        server(2, "/same"),
    ];
    let out = run(&mut offline(), flows);
    let pairs: Vec<(String, String)> = out
        .iter()
        .map(|r| {
            let m = merged(r);
            (m.flow.id.to_string(), m.server.id.to_string())
        })
        .collect();
    assert_eq!(
        pairs,
        [
            ("300-3-0-1".into(), "200-3-0-1".into()),
            ("300-3-0-0".into(), "200-3-0-0".into()),
            ("300-3-0-2".into(), "200-3-0-2".into()),
        ]
    );
}

#[test]
fn same_order_but_another_request_line_is_not_merged() {
    let mut m = offline();
    let out = run(&mut m, vec![client(0, "/a"), server(0, "/b")]);
    assert_eq!(out.len(), 2);
    assert_eq!(m.stats().request_line_differs, 2);
}

#[test]
fn another_socket_on_a_bound_connection_goes_alone() {
    // A forked child takes over the client's socket: its exchange 1 is not the
    // server's exchange 1.
    let mut child = client(1, "/a");
    child.id = "301-3-0-1".into();
    let mut m = offline();
    let out = run(
        &mut m,
        vec![client(0, "/a"), server(0, "/a"), child, server(1, "/a")],
    );
    assert_eq!(out.len(), 3);
    assert_eq!(m.stats().other_socket, 1);
    assert_eq!(m.stats().at_end, 1);
}

#[test]
fn flows_without_addresses_go_out_at_once() {
    let mut c = client(0, "/a");
    c.src.port = None;
    let mut m = offline();
    let mut out = Vec::new();
    m.offer(c, 0, &mut out);
    assert_eq!(out.len(), 1);
    assert_eq!(m.stats().no_address, 1);
}

#[test]
fn a_half_waits_its_time_then_goes_alone() {
    let mut m = Merger::new(MergeConfig {
        wait_ns: Some(1_000),
        max_bytes: 1 << 20,
    });
    let mut out = Vec::new();
    m.offer(client(0, "/a"), 10, &mut out);
    m.offer(client(1, "/a"), 500, &mut out);
    m.expire(1_009, &mut out);
    assert!(out.is_empty());
    m.expire(1_010, &mut out);
    assert_eq!(out.len(), 1);
    m.offer(server(1, "/a"), 1_200, &mut out);
    assert!(matches!(out[1], Record::Both(_)));
    assert_eq!(m.stats().waited_out, 1);
    assert_eq!(m.held_bytes(), BINDING_COST);
}

#[test]
fn the_budget_lets_the_oldest_out_and_counts_it() {
    let one = cost_of(&client(0, "/a"));
    let mut m = Merger::new(MergeConfig {
        wait_ns: None,
        max_bytes: 2 * one,
    });
    let mut out = Vec::new();
    for i in 0..3 {
        m.offer(client(i, "/a"), 0, &mut out);
    }
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].flow().id, "300-3-0-0");
    assert_eq!(m.stats().over_budget, 1);
    assert!(m.held_bytes() <= 2 * one);
}

#[test]
fn a_merged_flow_has_every_field_of_a_flow_and_reads_back() {
    let flow = serde_json::to_value(client(0, "/a")).unwrap();
    let out = run(&mut offline(), vec![client(0, "/a"), server(0, "/a")]);
    let text = serde_json::to_string(&out[0]).unwrap();
    let json: serde_json::Value = serde_json::from_str(&text).unwrap();
    for key in flow.as_object().unwrap().keys() {
        assert!(json.get(key).is_some(), "merged flow lacks {key}");
    }
    let back: Record = serde_json::from_str(&text).unwrap();
    assert_eq!(back, out[0]);
    assert_eq!(back.observer(), "both");
}

#[test]
fn a_live_merge_forgets_idle_bindings() {
    let mut m = Merger::new(MergeConfig::default());
    let mut out = Vec::new();
    m.offer(client(0, "/a"), 0, &mut out);
    m.offer(server(0, "/a"), 0, &mut out);
    assert_eq!(m.held_bytes(), BINDING_COST);
    m.expire(BINDING_IDLE_NS - 1, &mut out);
    assert_eq!(m.held_bytes(), BINDING_COST);
    m.expire(BINDING_IDLE_NS + SWEEP_EVERY_NS, &mut out);
    assert_eq!(m.held_bytes(), 0);
    // A new connection on the same 4-tuple pairs again from its start.
    let mut c = client(0, "/b");
    c.id = "301-4-0-0".into();
    m.offer(c, BINDING_IDLE_NS * 2, &mut out);
    m.offer(server(0, "/b"), BINDING_IDLE_NS * 2, &mut out);
    assert_eq!(m.stats().merged, 2);
}

#[test]
fn a_body_truncated_on_both_ends_or_of_another_size_stays_the_clients() {
    let mut c = client(0, "/a");
    let mut s = server(0, "/a");
    c.response.as_mut().unwrap().body = Body {
        size: 3,
        bytes: Bytes(b"o".to_vec()),
        truncated: true,
    };
    s.response.as_mut().unwrap().body = body("ok");
    let out = run(&mut offline(), vec![c, s]);
    let kept = &merged(&out[0]).flow.response.as_ref().unwrap().body;
    assert_eq!(kept.bytes.as_slice(), b"o");
}

#[test]
fn http2_streams_pair_by_stream_whatever_order_they_end_in() {
    // Stream 3 ends first on the client, stream 1 first on the server.
    let stream = |mut f: Flow, id: u32| {
        f.stream_id = Some(id);
        f.request.target = "/demo.Echo/Say".into();
        f.response.as_mut().unwrap().body = body(&format!("reply {id}"));
        f
    };
    let flows = vec![
        stream(client(0, "/"), 3),
        stream(server(0, "/"), 1),
        stream(client(1, "/"), 1),
        stream(server(1, "/"), 3),
    ];
    let out = run(&mut offline(), flows);
    assert_eq!(out.len(), 2);
    for r in &out {
        let m = merged(r);
        assert!(m.disagreements.is_empty(), "{:?}", m.disagreements);
    }
    assert_eq!(merged(&out[0]).flow.stream_id, Some(1));
    assert_eq!(merged(&out[0]).server.id, "200-3-0-0");
}
