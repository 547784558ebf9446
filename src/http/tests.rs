//! Parser and pairing tests: framing cases one by one, then properties over
//! arbitrary splits and arbitrary bytes.

use proptest::prelude::*;

use super::*;
use crate::event::Direction::{self, Recv, Send};
use crate::event::Observer;

const MAX_BODY: usize = 1 << 20;

/// Feeds a client's view of a connection (Send = request) piece by piece, then ends it.
fn client(pieces: &[(Direction, &[u8])]) -> Vec<Exchange> {
    run(Some(Observer::Client), pieces, MAX_BODY)
}

fn run(
    observer: Option<Observer>,
    pieces: &[(Direction, &[u8])],
    max_body: usize,
) -> Vec<Exchange> {
    let mut conn = Connection::new(observer, max_body);
    let mut out = Vec::new();
    for (i, (dir, bytes)) in pieces.iter().enumerate() {
        conn.feed(*dir, i as u64 * 1000, bytes, 0, &mut out);
    }
    conn.end(pieces.len() as u64 * 1000, "capture ended", &mut out);
    out
}

fn summary(x: &Exchange) -> (String, String, Option<u16>, Vec<u8>, Option<String>) {
    let req = x.request.request().expect("request side holds requests");
    (
        req.method.to_string(),
        req.target.to_string(),
        x.response
            .as_ref()
            .and_then(|r| r.response())
            .map(|r| r.status),
        x.response
            .as_ref()
            .map(|r| r.body.kept.clone())
            .unwrap_or_default(),
        x.incomplete.clone(),
    )
}

#[test]
fn keep_alive_pairs_each_request_with_its_response() {
    let out = client(&[
        (Send, b"GET /a HTTP/1.1\r\nHost: x\r\n\r\n"),
        (Recv, b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nA"),
        (Send, b"POST /b HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc"),
        (Recv, b"HTTP/1.1 201 Created\r\nContent-Length: 1\r\n\r\nB"),
    ]);
    assert_eq!(out.len(), 2);
    assert_eq!(
        summary(&out[0]),
        ("GET".into(), "/a".into(), Some(200), b"A".to_vec(), None)
    );
    assert_eq!(
        summary(&out[1]),
        ("POST".into(), "/b".into(), Some(201), b"B".to_vec(), None)
    );
    assert_eq!(out[1].request.body.kept, b"abc");
}

#[test]
fn pipelined_requests_pair_in_order() {
    let out = client(&[
        (Send, b"GET /1 HTTP/1.1\r\n\r\nGET /2 HTTP/1.1\r\n\r\nGET /3 HTTP/1.1\r\n\r\n"),
        (
            Recv,
            b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\n1HTTP/1.1 404 Not Found\r\nContent-Length: 1\r\n\r\n2HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\n3",
        ),
    ]);
    let got: Vec<_> = out.iter().map(summary).collect();
    assert_eq!(got.len(), 3);
    assert_eq!(got[0].1, "/1");
    assert_eq!(
        got[1],
        ("GET".into(), "/2".into(), Some(404), b"2".to_vec(), None)
    );
    assert_eq!(got[2].3, b"3");
}

#[test]
fn chunked_body_is_dechunked_with_extensions_and_trailers() {
    let out = client(&[
        (Send, b"GET / HTTP/1.1\r\n\r\n"),
        (
            Recv,
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\nX-Sum: 42\r\n\r\n",
        ),
    ]);
    assert_eq!(out.len(), 1);
    let resp = out[0].response.as_ref().unwrap();
    assert_eq!(resp.body.kept, b"hello world");
    assert_eq!(resp.body.size, 11);
    assert_eq!(resp.trailers, Headers::from_iter([("X-Sum", "42")]));
    assert!(out[0].incomplete.is_none());
}

#[test]
fn close_delimited_response_ends_at_close() {
    let mut conn = Connection::new(Some(Observer::Client), MAX_BODY);
    let mut out = Vec::new();
    conn.feed(Send, 1, b"GET / HTTP/1.0\r\n\r\n", 0, &mut out);
    conn.feed(Recv, 2, b"HTTP/1.0 200 OK\r\n\r\nall of ", 0, &mut out);
    conn.feed(Recv, 3, b"this", 0, &mut out);
    assert!(out.is_empty(), "no end yet, so no response yet");
    conn.end(4, "connection closed before the response", &mut out);
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].response.as_ref().unwrap().body.kept, b"all of this");
    assert_eq!(out[0].incomplete, None);
}

#[test]
fn head_204_and_304_responses_have_no_body() {
    let out = client(&[
        (Send, b"HEAD / HTTP/1.1\r\n\r\nDELETE /x HTTP/1.1\r\n\r\nGET /c HTTP/1.1\r\n\r\nGET /d HTTP/1.1\r\n\r\n"),
        (Recv, b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n"),
        (Recv, b"HTTP/1.1 204 No Content\r\n\r\n"),
        (Recv, b"HTTP/1.1 304 Not Modified\r\nContent-Length: 5\r\n\r\n"),
        (Recv, b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"),
    ]);
    let statuses: Vec<_> = out.iter().map(|x| summary(x).2).collect();
    assert_eq!(statuses, vec![Some(200), Some(204), Some(304), Some(200)]);
    assert_eq!(out[0].response.as_ref().unwrap().body.size, 0);
    assert_eq!(out[3].response.as_ref().unwrap().body.kept, b"ok");
    assert!(out.iter().all(|x| x.incomplete.is_none()));
}

#[test]
fn expect_100_continue_skips_the_interim_response() {
    let out = client(&[
        (
            Send,
            b"PUT /up HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 4\r\n\r\n",
        ),
        (Recv, b"HTTP/1.1 100 Continue\r\n\r\n"),
        (Send, b"data"),
        (Recv, b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"),
    ]);
    assert_eq!(out.len(), 1);
    assert_eq!(summary(&out[0]).2, Some(200));
    assert_eq!(out[0].request.body.kept, b"data");
}

#[test]
fn switching_protocols_stops_parsing_and_says_so() {
    let out = client(&[
        (
            Send,
            b"GET /ws HTTP/1.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n",
        ),
        (
            Recv,
            b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n\x81\x05hello",
        ),
        (Send, b"\x81\x85garbage that is not http"),
    ]);
    assert_eq!(out.len(), 1);
    assert_eq!(
        out[0].response.as_ref().unwrap().tunnel.as_deref(),
        Some("websocket")
    );
    assert_eq!(out[0].incomplete, None);
}

#[test]
fn connect_tunnel_stops_parsing() {
    let out = client(&[
        (
            Send,
            b"CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n",
        ),
        (Recv, b"HTTP/1.1 200 Connection established\r\n\r\n"),
        (Send, b"\x16\x03\x01\x00\xa5"),
        (Recv, b"\x16\x03\x03\x00\x7a"),
    ]);
    assert_eq!(out.len(), 1);
    assert_eq!(
        out[0].response.as_ref().unwrap().tunnel.as_deref(),
        Some("connect")
    );
}

#[test]
fn body_over_the_cap_keeps_size_and_says_truncated() {
    let body = vec![b'x'; 100];
    let mut resp = b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n".to_vec();
    resp.extend_from_slice(&body);
    let out = run(
        Some(Observer::Client),
        &[(Send, b"GET / HTTP/1.1\r\n\r\n"), (Recv, &resp)],
        10,
    );
    let b = &out[0].response.as_ref().unwrap().body;
    assert_eq!((b.size, b.kept.len(), b.truncated), (100, 10, true));
    assert!(out[0].incomplete.is_none());
}

#[test]
fn uncaptured_body_bytes_are_counted_but_uncaptured_head_bytes_stop() {
    let mut conn = Connection::new(Some(Observer::Client), MAX_BODY);
    let mut out = Vec::new();
    conn.feed(Send, 1, b"GET / HTTP/1.1\r\n\r\n", 0, &mut out);
    conn.feed(
        Recv,
        2,
        b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nab",
        8,
        &mut out,
    );
    assert_eq!(out.len(), 1);
    let b = &out[0].response.as_ref().unwrap().body;
    assert_eq!(
        (b.size, b.kept.as_slice(), b.truncated),
        (10, &b"ab"[..], true)
    );

    conn.feed(Send, 3, b"GET /next HT", 50, &mut out);
    conn.feed(Recv, 4, b"HTTP/1.1 200 OK\r\n\r\n", 0, &mut out);
    assert_eq!(out.len(), 1, "a head with uncaptured bytes gives no flow");
}

#[test]
fn a_gap_ends_parsing_without_mispairing() {
    let mut conn = Connection::new(Some(Observer::Client), MAX_BODY);
    let mut out = Vec::new();
    conn.feed(
        Send,
        1,
        b"GET /1 HTTP/1.1\r\n\r\nGET /2 HTTP/1.1\r\n\r\n",
        0,
        &mut out,
    );
    conn.feed(
        Recv,
        2,
        b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nfir",
        0,
        &mut out,
    );
    // 30 bytes lost: more than the 2 left of the body, so framing is lost.
    conn.gap(Recv, 3, Some(30), &mut out);
    conn.feed(
        Recv,
        3,
        b"HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nsecond",
        0,
        &mut out,
    );
    conn.end(4, "capture ended", &mut out);
    assert_eq!(out.len(), 2);
    assert!(out.iter().all(|x| x
        .incomplete
        .as_deref()
        .is_some_and(|r| r.starts_with("gap"))));
    // The first request keeps the part of its response that was seen; the second gets nothing.
    assert!(!out[0].response.as_ref().unwrap().complete);
    assert!(out[1].response.is_none());
}

#[test]
fn a_gap_inside_a_body_is_skipped_and_parsing_goes_on() {
    let mut conn = Connection::new(Some(Observer::Client), MAX_BODY);
    let mut out = Vec::new();
    conn.feed(
        Send,
        1,
        b"GET /1 HTTP/1.1\r\n\r\nGET /2 HTTP/1.1\r\n\r\n",
        0,
        &mut out,
    );
    conn.feed(
        Recv,
        2,
        b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nfir",
        0,
        &mut out,
    );
    // 5 of the 7 body bytes still to come are lost; the last 2 arrive.
    conn.gap(Recv, 3, Some(5), &mut out);
    conn.feed(
        Recv,
        4,
        b"stHTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nsecond",
        0,
        &mut out,
    );
    assert_eq!(out.len(), 2, "{out:#?}");
    assert!(out.iter().all(|x| x.incomplete.is_none()));
    let first = out[0].response.as_ref().unwrap();
    assert_eq!((first.body.size, first.body.truncated), (10, true));
    assert_eq!(summary(&out[1]).1, "/2");
    assert_eq!(summary(&out[1]).3, b"second".to_vec());

    // A gap of unknown size can never be skipped.
    conn.feed(Send, 5, b"GET /3 HTTP/1.1\r\n\r\n", 0, &mut out);
    conn.feed(
        Recv,
        6,
        b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nab",
        0,
        &mut out,
    );
    conn.gap(Recv, 7, None, &mut out);
    conn.end(8, "capture ended", &mut out);
    assert!(
        out[2]
            .incomplete
            .as_deref()
            .is_some_and(|r| r.starts_with("gap")),
        "{:?}",
        out[2].incomplete
    );
}

#[test]
fn non_http_traffic_gives_nothing() {
    for (req, resp) in [
        (&b"*1\r\n$4\r\nPING\r\n"[..], &b"+PONG\r\n"[..]),
        (b"\x00\x00\x00\x08\x04\xd2\x16\x2f", b"N"),
        (
            b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03",
            b"\x16\x03\x03\x00\x7a\x02",
        ),
    ] {
        assert!(client(&[(Send, req), (Recv, resp)]).is_empty());
        assert!(run(None, &[(Send, req), (Recv, resp)], MAX_BODY).is_empty());
    }
}

#[test]
fn unknown_role_is_decided_by_the_request_line() {
    let pieces: &[(Direction, &[u8])] = &[
        (Recv, b"GET /x HTTP/1.1\r\n\r\n"),
        (Send, b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"),
    ];
    let out = run(None, pieces, MAX_BODY);
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].observer, Observer::Server);
    assert_eq!(summary(&out[0]).2, Some(200));
}

#[test]
fn waiting_requests_are_written_at_the_end() {
    let out = client(&[(Send, b"GET /slow HTTP/1.1\r\n\r\n")]);
    assert_eq!(out.len(), 1);
    assert!(out[0].response.is_none());
    assert_eq!(out[0].incomplete.as_deref(), Some("capture ended"));
}

/// A keep-alive conversation touching every framing, as (direction, bytes).
fn conversation() -> Vec<(Direction, Vec<u8>)> {
    vec![
        (Send, b"POST /a?x=1 HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nhello".to_vec()),
        (Recv, b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3;q=1\r\nabc\r\n2\r\nde\r\n0\r\nT: 1\r\n\r\n".to_vec()),
        (Send, b"HEAD /h HTTP/1.1\r\n\r\nGET /n HTTP/1.1\r\n\r\n".to_vec()),
        (Recv, b"HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\nHTTP/1.1 304 Not Modified\r\n\r\n".to_vec()),
        (Send, b"PUT /p HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\n".to_vec()),
        (Recv, b"HTTP/1.1 100 Continue\r\n\r\n".to_vec()),
        (Send, vec![0, 255, 1]),
        (Recv, b"HTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\n\xff\xfe".to_vec()),
        (Send, b"GET /last HTTP/1.1\r\n\r\n".to_vec()),
        (Recv, b"HTTP/1.1 200 OK\r\n\r\nuntil close".to_vec()),
    ]
}

/// Splits each piece at the given fractions, keeping the order.
fn split(pieces: &[(Direction, Vec<u8>)], cuts: &[u16]) -> Vec<(Direction, Vec<u8>)> {
    let mut out = Vec::new();
    let mut cuts = cuts.iter().cycle();
    for (dir, bytes) in pieces {
        let mut rest = bytes.as_slice();
        while !rest.is_empty() {
            let n = 1 + usize::from(*cuts.next().unwrap_or(&0)) % rest.len();
            out.push((*dir, rest[..n].to_vec()));
            rest = &rest[n..];
        }
    }
    out
}

fn run_owned(pieces: &[(Direction, Vec<u8>)]) -> Vec<Exchange> {
    let borrowed: Vec<(Direction, &[u8])> =
        pieces.iter().map(|(d, b)| (*d, b.as_slice())).collect();
    // Times differ between splits; compare what was said, not when.
    run(Some(Observer::Client), &borrowed, MAX_BODY)
        .into_iter()
        .map(|mut x| {
            x.request.start = 0;
            x.request.end = 0;
            if let Some(r) = x.response.as_mut() {
                r.start = 0;
                r.end = 0;
            }
            x
        })
        .collect()
}

#[test]
fn the_conversation_parses_whole() {
    let out = run_owned(&conversation());
    let got: Vec<_> = out.iter().map(summary).collect();
    assert_eq!(got.len(), 5);
    assert_eq!(got[0].3, b"abcde");
    assert_eq!(got[1].2, Some(200));
    assert_eq!(got[2].2, Some(304));
    assert_eq!(got[3].3, b"\xff\xfe");
    assert_eq!(got[4].3, b"until close");
    assert!(out.iter().all(|x| x.incomplete.is_none()));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn any_split_gives_the_same_exchanges(cuts in proptest::collection::vec(any::<u16>(), 1..40)) {
        let whole = run_owned(&conversation());
        let pieces = split(&conversation(), &cuts);
        prop_assert_eq!(run_owned(&pieces), whole);
    }

    #[test]
    fn byte_by_byte_and_random_bytes_never_panic(
        bytes in proptest::collection::vec(any::<u8>(), 0..600),
        prefix in 0usize..3,
        skip in 0u64..50,
    ) {
        let heads: [&[u8]; 3] = [b"", b"GET / HTTP/1.1\r\n", b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"];
        let mut input = heads[prefix].to_vec();
        input.extend_from_slice(&bytes);
        for observer in [None, Some(Observer::Client), Some(Observer::Server)] {
            let mut conn = Connection::new(observer, 64);
            let mut out = Vec::new();
            for (i, chunk) in input.chunks(7).enumerate() {
                let dir = if i % 3 == 0 { Recv } else { Send };
                conn.feed(dir, i as u64, chunk, if i % 5 == 4 { skip } else { 0 }, &mut out);
            }
            conn.gap(Recv, 9, Some(1), &mut out);
            conn.gap(Send, 9, None, &mut out);
            conn.end(9, "capture ended", &mut out);
        }
    }
}

// ---- Resynchronising after a gap (connection/resync.rs) ----

fn get(n: u32) -> Vec<u8> {
    format!("GET /{n} HTTP/1.1\r\nHost: x\r\n\r\n").into_bytes()
}

fn ok(body: &str) -> Vec<u8> {
    format!(
        "HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

/// One step of a client's view: bytes in a direction, or bytes lost in it.
enum Step {
    Bytes(Direction, Vec<u8>),
    Lost(Direction, u64),
}

fn steps(steps: &[Step]) -> Vec<Exchange> {
    let mut conn = Connection::new(Some(Observer::Client), MAX_BODY);
    let mut out = Vec::new();
    for (i, s) in steps.iter().enumerate() {
        let ts = i as u64 * 1000;
        match s {
            Step::Bytes(dir, bytes) => conn.feed(*dir, ts, bytes, 0, &mut out),
            Step::Lost(dir, n) => conn.gap(*dir, ts, Some(*n), &mut out),
        }
    }
    conn.end(steps.len() as u64 * 1000, "capture ended", &mut out);
    out
}

/// (target, status, response body, incomplete) of each exchange.
fn brief(out: &[Exchange]) -> Vec<(String, Option<u16>, String, Option<String>)> {
    out.iter()
        .map(|x| {
            let (_, target, status, body, incomplete) = summary(x);
            (
                target,
                status,
                String::from_utf8_lossy(&body).into_owned(),
                incomplete,
            )
        })
        .collect()
}

fn gap(n: u64) -> Option<String> {
    Some(format!("gap in captured bytes ({n} bytes lost)"))
}

use Step::{Bytes, Lost};

#[test]
fn resync_a_gap_that_swallowed_a_request_and_its_response() {
    let out = steps(&[
        Bytes(Send, get(1)),
        Bytes(Recv, ok("one")),
        Lost(Send, 30),
        Lost(Recv, 40),
        Bytes(Send, get(3)),
        Bytes(Recv, ok("three")),
        Bytes(Send, get(4)),
        Bytes(Recv, ok("four")),
    ]);
    // The request side's gap shows first; the response side's gap then comes
    // with /3 waiting, so /3's pairing waits for the request side (/4) to confirm.
    assert_eq!(
        brief(&out),
        vec![
            ("/1".into(), Some(200), "one".into(), None),
            ("/3".into(), Some(200), "three".into(), None),
            ("/4".into(), Some(200), "four".into(), None),
        ]
    );
}

#[test]
fn resync_a_gap_that_swallowed_a_response_while_a_request_waited() {
    let out = steps(&[
        Bytes(Send, get(1)),
        Bytes(Recv, ok("one")),
        Bytes(Send, get(2)),
        Bytes(Send, get(3)),
        Lost(Recv, 40),
        Bytes(Recv, ok("three")),
        Bytes(Send, get(4)),
        Bytes(Recv, ok("four")),
    ]);
    assert_eq!(
        brief(&out),
        vec![
            ("/1".into(), Some(200), "one".into(), None),
            ("/2".into(), None, String::new(), gap(40)),
            ("/3".into(), Some(200), "three".into(), None),
            ("/4".into(), Some(200), "four".into(), None),
        ]
    );
}

#[test]
fn resync_a_gap_inside_a_response_past_its_end() {
    let out = steps(&[
        Bytes(Send, get(1)),
        Bytes(
            Recv,
            b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nfir".to_vec(),
        ),
        Lost(Recv, 7 + 40),
        Bytes(Recv, ok("two")),
    ]);
    // The lost bytes ran past /1's body: the rest can only be a response to a
    // request never seen. Nothing waits, so the head is dropped, not paired.
    assert_eq!(brief(&out).len(), 1);
    let first = &out[0];
    assert_eq!(first.incomplete, gap(47));
    let r = first.response.as_ref().expect("the part seen is kept");
    assert!(!r.complete);
    assert_eq!(r.body.kept, b"fir");
}

#[test]
fn resync_never_gives_a_later_response_to_a_request_whose_response_was_lost() {
    // /2's response head is lost; its body's tail arrives, then /3 is sent.
    let out = steps(&[
        Bytes(Send, get(2)),
        Lost(Recv, 30),
        Bytes(Recv, b"tail of the second body".to_vec()),
        Bytes(Send, get(3)),
        Bytes(Recv, ok("three")),
        Bytes(Send, get(4)),
        Bytes(Recv, ok("four")),
    ]);
    assert_eq!(
        brief(&out),
        vec![
            ("/2".into(), None, String::new(), gap(30)),
            ("/3".into(), Some(200), "three".into(), None),
            ("/4".into(), Some(200), "four".into(), None),
        ]
    );
}

#[test]
fn resync_pairing_is_withdrawn_when_the_request_side_shows_a_lost_request() {
    // /3 waits; its response and a request /4 are lost; /4's response resyncs.
    // Only /5's gap shows that /4 existed: the held pairing must not stand.
    let out = steps(&[
        Bytes(Send, get(3)),
        Lost(Recv, 40),
        Bytes(Recv, ok("four")),
        Lost(Send, 30),
        Bytes(Send, get(5)),
        Bytes(Recv, ok("five")),
        Bytes(Send, get(6)),
        Bytes(Recv, ok("six")),
    ]);
    let b = brief(&out);
    assert_eq!(b[0].0, "/3");
    assert_eq!(b[0].1, None, "{b:?}");
    assert!(b[0]
        .3
        .as_deref()
        .is_some_and(|r| r.contains("could not be confirmed")));
    assert!(b.iter().all(|x| x.2 != "four" || x.0 == "/4"), "{b:?}");
    assert_eq!(
        &b[1..],
        &[
            ("/5".into(), Some(200), "five".into(), None),
            ("/6".into(), Some(200), "six".into(), None),
        ]
    );
}

#[test]
fn resync_pairing_unconfirmed_at_the_end_keeps_no_response() {
    let out = steps(&[
        Bytes(Send, get(2)),
        Lost(Recv, 40),
        Bytes(Recv, ok("three")),
    ]);
    assert_eq!(out.len(), 1);
    assert!(out[0].response.is_none());
    assert!(out[0]
        .incomplete
        .as_deref()
        .is_some_and(|r| r.starts_with("gap in captured bytes (40")));
}

#[test]
fn resync_refuses_three_requests_waiting() {
    let out = steps(&[
        Bytes(Send, get(1)),
        Bytes(Send, get(2)),
        Bytes(Send, get(3)),
        Lost(Recv, 40),
        Bytes(Recv, ok("x")),
        Bytes(Send, get(4)),
        Bytes(Recv, ok("four")),
    ]);
    assert_eq!(out.len(), 3, "{:?}", brief(&out));
    assert!(out
        .iter()
        .all(|x| x.response.is_none() && x.incomplete == gap(40)));
}

#[test]
fn resync_a_request_gap_while_a_request_waits_needs_a_response_gap_too() {
    // With no gap on the response side, the lost request was sent while /1 was
    // unanswered: pipelining, so parsing stops and "x" is given to nobody.
    let out = steps(&[
        Bytes(Send, get(1)),
        Lost(Send, 30),
        Bytes(Send, get(3)),
        Bytes(Recv, ok("x")),
        Bytes(Send, get(4)),
        Bytes(Recv, ok("four")),
    ]);
    assert_eq!(
        brief(&out),
        vec![
            ("/1".into(), None, String::new(), gap(30)),
            ("/3".into(), None, String::new(), gap(30)),
        ]
    );
}

#[test]
fn resync_a_loss_burst_across_both_directions_while_a_response_was_in_progress() {
    let out = steps(&[
        Bytes(Send, get(1)),
        Bytes(
            Recv,
            b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nfir".to_vec(),
        ),
        // The rest of /1's response, /2 and its response are lost.
        Lost(Send, 30),
        Bytes(Send, get(3)),
        Lost(Recv, 7 + 40),
        Bytes(Recv, ok("three")),
        Bytes(Send, get(4)),
        Bytes(Recv, ok("four")),
    ]);
    assert_eq!(
        brief(&out),
        vec![
            ("/1".into(), Some(200), "fir".into(), gap(30)),
            ("/3".into(), Some(200), "three".into(), None),
            ("/4".into(), Some(200), "four".into(), None),
        ]
    );
}

#[test]
fn resync_never_happens_once_pipelining_was_seen() {
    let out = steps(&[
        Bytes(Send, get(1)),
        Bytes(Send, get(2)),
        Bytes(Recv, ok("one")),
        Bytes(Recv, ok("two")),
        Bytes(Send, get(3)),
        Lost(Recv, 40),
        Bytes(Recv, ok("x")),
        Bytes(Send, get(4)),
        Bytes(Recv, ok("four")),
    ]);
    assert_eq!(
        brief(&out),
        vec![
            ("/1".into(), Some(200), "one".into(), None),
            ("/2".into(), Some(200), "two".into(), None),
            ("/3".into(), None, String::new(), gap(40)),
        ]
    );
}

#[test]
fn resync_requests_start_only_at_a_syscall_that_starts_a_head() {
    let out = steps(&[
        Bytes(Send, get(1)),
        Bytes(Recv, ok("one")),
        Lost(Send, 10),
        // The rest of a request whose start was lost, and its answer.
        Bytes(Send, b"t: x\r\n\r\n".to_vec()),
        Bytes(Recv, ok("lost")),
        Bytes(Send, get(3)),
        Bytes(Recv, ok("three")),
    ]);
    assert_eq!(
        brief(&out),
        vec![
            ("/1".into(), Some(200), "one".into(), None),
            ("/3".into(), Some(200), "three".into(), None),
        ]
    );
}

/// Connections that share one decode buffer, fed in turns, give what each gives
/// alone: a burst past what the buffer keeps (pipelined requests) included.
#[test]
fn connections_sharing_a_decode_buffer_decode_as_alone() {
    let burst = b"GET /p HTTP/1.1\r\n\r\n".repeat(100);
    let a: Vec<(Direction, &[u8])> = vec![
        (Send, b"GET /a HTTP/1.1\r\nHost: x\r\n\r\n"),
        (Recv, b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nA"),
        (Send, &burst),
        (Recv, b"HTTP/1.1 204 No Content\r\n\r\n"),
    ];
    let b: Vec<(Direction, &[u8])> = vec![
        (Send, b"POST /b HTTP/1.1\r\nContent-Length: 3\r\n\r\nab"),
        (Send, b"c"),
        (Recv, b"HTTP/1.1 201 Created\r\nContent-Length: 1\r\n\r\nB"),
        (Recv, b"HTTP/1.1 200 OK\r\n\r\n"),
    ];
    let scratch = DecodeScratch::default();
    let mut conns =
        [&a, &b].map(|_| Connection::new(Some(Observer::Client), MAX_BODY).sharing(&scratch));
    let mut outs = [Vec::new(), Vec::new()];
    for i in 0..a.len() {
        for (k, pieces) in [&a, &b].into_iter().enumerate() {
            let (dir, bytes) = pieces[i];
            conns[k].feed(dir, i as u64 * 1000, bytes, 0, &mut outs[k]);
        }
    }
    for (k, conn) in conns.iter_mut().enumerate() {
        conn.end(a.len() as u64 * 1000, "capture ended", &mut outs[k]);
    }
    assert_eq!(outs[0].len(), 101);
    assert_eq!(outs[0], client(&a));
    assert_eq!(outs[1], client(&b));
}
