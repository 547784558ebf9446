//! Frame sequences in, exchanges out, through the same `http::Connection` the
//! pipeline uses: the protocol switch, stream stitching, resets, gaps, joining.

use crate::event::Direction::{self, Recv, Send};
use crate::event::Observer;
use crate::http::{header, Connection, Exchange, Headers};

use super::wire::*;

struct Run {
    conn: Connection,
    out: Vec<Exchange>,
    ts: u64,
}

impl Run {
    fn new(observer: Option<Observer>) -> Run {
        Run {
            conn: Connection::new(observer, 1 << 20),
            out: Vec::new(),
            ts: 0,
        }
    }

    fn go(&mut self, d: Direction, bytes: &[u8]) -> &mut Self {
        self.ts += 1000;
        self.conn.feed(d, self.ts, bytes, 0, &mut self.out);
        self
    }

    fn lose(&mut self, d: Direction, n: u64) -> &mut Self {
        self.conn.gap(d, self.ts, Some(n), &mut self.out);
        self
    }

    fn end(&mut self) -> Vec<Exchange> {
        self.conn.end(self.ts, "connection closed", &mut self.out);
        std::mem::take(&mut self.out)
    }
}

fn get(path: &str) -> Vec<u8> {
    let mut b = Vec::new();
    indexed(&mut b, 2); // :method GET
    indexed(&mut b, 6); // :scheme http
    literal(&mut b, 4, "", path);
    inserted(&mut b, 1, "", "api:8000"); // :authority, into the table
    b
}

fn status(code: &str) -> Vec<u8> {
    let mut b = Vec::new();
    literal(&mut b, 8, "", code);
    literal(&mut b, 31, "", "text/plain");
    b
}

fn client_start() -> Vec<u8> {
    let mut w = PREFACE.to_vec();
    w.extend(settings(&[(3, 100), (4, 65535)]));
    w
}

fn target(e: &Exchange) -> &str {
    &e.request.request().unwrap().target
}

fn status_of(e: &Exchange) -> u16 {
    e.response.as_ref().unwrap().response().unwrap().status
}

fn body(m: &crate::http::Message) -> &str {
    std::str::from_utf8(&m.body.kept).unwrap()
}

/// Two streams interleaved; the second finishes first.
fn interleaved() -> (Vec<u8>, Vec<u8>) {
    let mut c = client_start();
    c.extend(headers(1, END_HEADERS | END_STREAM, &get("/a")));
    let mut post = Vec::new();
    indexed(&mut post, 3); // POST
    indexed(&mut post, 6);
    literal(&mut post, 4, "", "/b");
    indexed(&mut post, 62); // :authority from the table
    c.extend(headers(3, END_HEADERS, &post));
    c.extend(data(3, 0, b"ab"));
    c.extend(data(3, END_STREAM, b"c"));
    let mut s = settings(&[]);
    s.extend(frame(SETTINGS, 1, 0, &[]));
    s.extend(headers(3, END_HEADERS, &status("201")));
    s.extend(headers(1, END_HEADERS, &status("200")));
    s.extend(data(1, 0, b"one"));
    s.extend(data(3, END_STREAM, b"created"));
    s.extend(frame(PING, 0, 0, &[0; 8]));
    s.extend(data(1, END_STREAM, b"!"));
    (c, s)
}

fn check_interleaved(got: &[Exchange]) {
    assert_eq!(got.len(), 2, "{got:#?}");
    assert_eq!(target(&got[0]), "/b");
    assert_eq!(body(&got[0].request), "abc");
    assert_eq!(status_of(&got[0]), 201);
    assert_eq!(body(got[0].response.as_ref().unwrap()), "created");
    let h2 = got[0].http2.as_ref().unwrap();
    assert_eq!(
        (h2.stream_id, h2.authority.as_deref()),
        (3, Some("api:8000"))
    );
    assert_eq!(target(&got[1]), "/a");
    assert_eq!(body(got[1].response.as_ref().unwrap()), "one!");
    assert!(got.iter().all(|e| e.incomplete.is_none()));
    assert_eq!(
        header(
            &got[1].response.as_ref().unwrap().head.headers().clone(),
            "content-type"
        ),
        Some("text/plain")
    );
}

#[test]
fn prior_knowledge_streams_interleave_and_each_is_an_exchange() {
    let (c, s) = interleaved();
    let mut r = Run::new(Some(Observer::Client));
    r.go(Send, &c).go(Recv, &s);
    check_interleaved(&r.end());
}

#[test]
fn split_anywhere_and_either_observer_give_the_same_exchanges() {
    let (c, s) = interleaved();
    for cut in (1..c.len()).step_by(7) {
        let mut r = Run::new(Some(Observer::Server));
        r.go(Recv, &c[..cut]).go(Recv, &c[cut..]);
        for piece in s.chunks(5) {
            r.go(Send, piece);
        }
        let got = r.end();
        check_interleaved(&got);
        assert_eq!(got[0].observer, Observer::Server);
    }
    // Role unknown: the preface names the client.
    let mut r = Run::new(None);
    r.go(Send, &c).go(Recv, &s);
    let got = r.end();
    check_interleaved(&got);
    assert_eq!(got[0].observer, Observer::Client);
}

#[test]
fn continuation_padding_priority_and_trailers() {
    let mut c = client_start();
    let block = get("/cont");
    // HEADERS, padded, with priority, holding the first 3 bytes of the block.
    let mut p = vec![4u8];
    p.extend([0, 0, 0, 0, 16]);
    p.extend(&block[..3]);
    p.extend([0; 4]);
    c.extend(frame(HEADERS, PADDED | PRIORITY_FLAG, 1, &p));
    c.extend(frame(CONTINUATION, 0, 1, &block[3..6]));
    c.extend(frame(CONTINUATION, END_HEADERS, 1, &block[6..]));
    c.extend(data(1, 0, b"x"));
    let mut t = Vec::new();
    literal(&mut t, 0, "x-checksum", "abc");
    c.extend(headers(1, END_HEADERS | END_STREAM, &t));
    let mut s = headers(1, END_HEADERS, &status("200"));
    let mut tr = Vec::new();
    literal(&mut tr, 0, "grpc-status", "0");
    s.extend(headers(1, END_HEADERS | END_STREAM, &tr));
    let mut r = Run::new(Some(Observer::Client));
    r.go(Send, &c).go(Recv, &s);
    let got = r.end();
    assert_eq!(got.len(), 1);
    assert_eq!(target(&got[0]), "/cont");
    assert_eq!(
        got[0].request.trailers,
        Headers::from_iter([("x-checksum", "abc")])
    );
    assert_eq!(
        got[0].response.as_ref().unwrap().trailers,
        Headers::from_iter([("grpc-status", "0")])
    );
    assert_eq!(got[0].incomplete, None);
}

#[test]
fn a_reset_stream_and_a_connection_ending_mid_stream_say_so() {
    let mut c = client_start();
    c.extend(headers(1, END_HEADERS | END_STREAM, &get("/slow")));
    c.extend(headers(3, END_HEADERS | END_STREAM, &get("/never")));
    c.extend(rst_stream(1, 8));
    let mut r = Run::new(Some(Observer::Client));
    r.go(Send, &c)
        .go(Recv, &headers(3, END_HEADERS, &status("200")));
    r.go(Recv, &data(3, 0, b"part"));
    let got = r.end();
    assert_eq!(got.len(), 2);
    assert_eq!(
        got[0].incomplete.as_deref(),
        Some("stream reset by the client (CANCEL)")
    );
    assert!(got[0].response.is_none());
    assert_eq!(
        got[1].incomplete.as_deref(),
        Some("stream not finished: connection closed")
    );
    assert!(got[1].response.as_ref().unwrap().body.truncated);
}

#[test]
fn goaway_refuses_later_streams_and_marks_the_rest() {
    let mut c = client_start();
    c.extend(headers(1, END_HEADERS | END_STREAM, &get("/1")));
    c.extend(headers(3, END_HEADERS | END_STREAM, &get("/3")));
    let mut s = headers(1, END_HEADERS, &status("200"));
    s.extend(goaway(1, 2));
    let mut r = Run::new(Some(Observer::Client));
    r.go(Send, &c).go(Recv, &s);
    let got = r.end();
    assert_eq!(got.len(), 2);
    assert_eq!(
        got[0].incomplete.as_deref(),
        Some("not processed: GOAWAY from the server (INTERNAL_ERROR, last stream 1)")
    );
    assert_eq!(
        got[1].incomplete.as_deref(),
        Some("stream not finished: connection closed (after GOAWAY from the server (INTERNAL_ERROR, last stream 1))")
    );
}

#[test]
fn a_gap_inside_data_only_truncates_that_body() {
    let mut c = client_start();
    c.extend(headers(1, END_HEADERS | END_STREAM, &get("/big")));
    c.extend(headers(3, END_HEADERS | END_STREAM, &get("/small")));
    let mut r = Run::new(Some(Observer::Client));
    r.go(Send, &c);
    let big = data(1, END_STREAM, &[b'z'; 100]);
    r.go(Recv, &headers(1, END_HEADERS, &status("200")));
    r.go(Recv, &big[..30]).lose(Recv, 50).go(Recv, &big[80..]);
    let mut s = headers(3, END_HEADERS, &status("404"));
    s.extend(data(3, END_STREAM, b"no"));
    r.go(Recv, &s);
    let got = r.end();
    assert_eq!(got.len(), 2);
    let b = &got[0].response.as_ref().unwrap().body;
    assert_eq!((b.size, b.kept.len(), b.truncated), (100, 50, true));
    assert_eq!(got[0].incomplete, None);
    assert_eq!(status_of(&got[1]), 404);
}

#[test]
fn a_gap_across_frames_ends_the_streams_it_touches_and_framing_resumes() {
    let mut c = client_start();
    c.extend(headers(1, END_HEADERS | END_STREAM, &get("/a")));
    let mut r = Run::new(Some(Observer::Client));
    r.go(Send, &c)
        .go(Recv, &headers(1, END_HEADERS, &status("200")));
    r.lose(Recv, 500);
    let got = std::mem::take(&mut r.out);
    assert_eq!(got.len(), 1);
    assert_eq!(
        got[0].incomplete.as_deref(),
        Some("gap in captured bytes (500 bytes lost)")
    );
    // A new request after the gap: its request block is fine (the other
    // direction), the response side's table was forgotten but uses no entries.
    let mut b = Vec::new();
    indexed(&mut b, 2);
    literal(&mut b, 4, "", "/after");
    r.go(Send, &headers(5, END_HEADERS | END_STREAM, &b));
    let mut s = headers(5, END_HEADERS, &status("200"));
    s.extend(data(5, END_STREAM, b"ok"));
    r.go(Recv, &s);
    let got = r.end();
    assert_eq!(got.len(), 1, "{got:#?}");
    assert_eq!(target(&got[0]), "/after");
    assert_eq!(got[0].incomplete, None);
}

#[test]
fn joined_mid_connection_resolves_new_entries_and_reports_old_ones() {
    // Entries 62.. were inserted before capture. After attach the client inserts
    // x-new (62 from then on) and refers to 62 (x-new) and 63 (old).
    let mut b = Vec::new();
    indexed(&mut b, 2);
    literal(&mut b, 4, "", "/late");
    inserted(&mut b, 0, "x-new", "1");
    indexed(&mut b, 62);
    indexed(&mut b, 63);
    let mut c = headers(41, END_HEADERS | END_STREAM, &b);
    c.extend(frame(WINDOW_UPDATE, 0, 0, &[0, 0, 1, 0]));
    let mut s = headers(41, END_HEADERS, &status("200"));
    s.extend(data(41, END_STREAM, b"fine"));
    let mut r = Run::new(None);
    r.go(Send, &c).go(Recv, &s);
    let got = r.end();
    assert_eq!(got.len(), 1);
    let e = &got[0];
    assert_eq!(e.observer, Observer::Client);
    let h: Vec<_> = e.request.head.headers().iter().collect();
    assert_eq!(h[0], ("x-new", "1"));
    assert_eq!(h[1], ("x-new", "1"));
    assert_eq!(h[2], ("(unknown)", "(unknown)"));
    assert_eq!(
        e.incomplete.as_deref(),
        Some("headers incomplete: 1 field(s) refer to HPACK entries from before capture")
    );
    assert_eq!(body(e.response.as_ref().unwrap()), "fine");
}

#[test]
fn upgrade_h2c_makes_the_request_stream_1() {
    let mut r = Run::new(Some(Observer::Server));
    r.go(
        Recv,
        b"GET /up HTTP/1.1\r\nHost: api\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQAAP__\r\n\r\n",
    );
    let mut s =
        b"HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: h2c\r\n\r\n".to_vec();
    s.extend(settings(&[]));
    s.extend(headers(1, END_HEADERS, &status("200")));
    r.go(Send, &s);
    r.go(Recv, &client_start());
    r.go(Send, &data(1, END_STREAM, b"upgraded"));
    let got = r.end();
    assert_eq!(got.len(), 1, "{got:#?}");
    assert_eq!(target(&got[0]), "/up");
    assert_eq!(status_of(&got[0]), 200);
    assert_eq!(body(got[0].response.as_ref().unwrap()), "upgraded");
    assert_eq!(got[0].response.as_ref().unwrap().tunnel, None);
    assert_eq!(
        got[0].http2.as_ref().unwrap().authority.as_deref(),
        Some("api")
    );
    assert_eq!(got[0].incomplete, None);
}

#[test]
fn grpc_not_found_from_a_trailers_only_response() {
    let mut b = Vec::new();
    indexed(&mut b, 3);
    literal(&mut b, 4, "", "/kv.Store/Get");
    literal(&mut b, 31, "", "application/grpc");
    let mut c = client_start();
    c.extend(headers(1, END_HEADERS, &b));
    c.extend(data(1, END_STREAM, &grpc_message(b"\x0a\x01k")));
    let mut t = Vec::new();
    literal(&mut t, 8, "", "200");
    literal(&mut t, 31, "", "application/grpc");
    literal(&mut t, 0, "grpc-status", "5");
    literal(&mut t, 0, "grpc-message", "no key");
    let mut r = Run::new(Some(Observer::Client));
    r.go(Send, &c)
        .go(Recv, &headers(1, END_HEADERS | END_STREAM, &t));
    let got = r.end();
    let g = got[0].http2.as_ref().unwrap().grpc.as_ref().unwrap();
    assert_eq!((g.service.as_str(), g.method.as_str()), ("kv.Store", "Get"));
    assert_eq!(g.status, Some(5));
    assert_eq!(g.message.as_deref(), Some("no key"));
    assert_eq!((g.request.count, g.response.count), (1, 0));
}

#[test]
fn http1_is_untouched_by_the_switch() {
    let mut r = Run::new(Some(Observer::Client));
    r.go(Send, b"PRI");
    r.go(Send, b"NT /x HTTP/1.1\r\n\r\n");
    r.go(Recv, b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
    let got = r.end();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].request.request().unwrap().method, "PRINT");
    assert!(got[0].http2.is_none());
}

#[test]
fn a_reference_to_an_evicted_entry_makes_the_headers_incomplete() {
    let mut c = client_start();
    let mut b = Vec::new();
    size_update(&mut b, 100);
    indexed(&mut b, 2);
    literal(&mut b, 4, "", "/a");
    inserted(&mut b, 0, "x-one", &"1".repeat(23));
    c.extend(headers(1, END_HEADERS | END_STREAM, &b));
    let mut b = Vec::new();
    indexed(&mut b, 2);
    literal(&mut b, 4, "", "/b");
    inserted(&mut b, 0, "x-two", &"2".repeat(23));
    indexed(&mut b, 63);
    c.extend(headers(3, END_HEADERS | END_STREAM, &b));
    let mut s = headers(1, END_HEADERS | END_STREAM, &status("200"));
    s.extend(headers(3, END_HEADERS | END_STREAM, &status("200")));
    let mut r = Run::new(Some(Observer::Client));
    r.go(Send, &c).go(Recv, &s);
    let got = r.end();
    assert_eq!(got.len(), 2, "{got:#?}");
    assert_eq!(
        got[1].incomplete.as_deref(),
        Some("headers incomplete: a header block was lost or could not be decoded")
    );
}

/// The interleaved conversation fed in pieces cut at `cuts`.
fn fed_in_pieces(cuts: &[usize]) -> Vec<Exchange> {
    let (c, s) = interleaved();
    let mut r = Run::new(Some(Observer::Client));
    let mut cuts = cuts.iter().cycle();
    for (d, bytes) in [(Send, &c), (Recv, &s)] {
        let mut at = 0;
        while at < bytes.len() {
            let n = 1 + cuts.next().copied().unwrap_or(0) % (bytes.len() - at);
            r.go(d, &bytes[at..at + n]);
            at += n;
        }
    }
    let mut got = r.end();
    for e in &mut got {
        // Times follow the pieces; everything else must not.
        e.request.start = 0;
        e.request.end = 0;
        if let Some(m) = e.response.as_mut() {
            m.start = 0;
            m.end = 0;
        }
    }
    got
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(200))]

    #[test]
    fn any_split_of_either_direction_gives_the_same_exchanges(
        cuts in proptest::collection::vec(0usize..64, 1..24)
    ) {
        proptest::prop_assert_eq!(fed_in_pieces(&cuts), fed_in_pieces(&[usize::MAX]));
    }
}

#[test]
fn a_server_push_is_a_flow_of_its_own() {
    let mut c = client_start();
    c.extend(headers(1, END_HEADERS | END_STREAM, &get("/page")));
    let mut promise = 2u32.to_be_bytes().to_vec();
    let mut b = Vec::new();
    indexed(&mut b, 2);
    literal(&mut b, 4, "", "/style.css");
    promise.extend(b);
    let mut s = frame(PUSH_PROMISE, END_HEADERS, 1, &promise);
    s.extend(headers(1, END_HEADERS, &status("200")));
    s.extend(data(1, END_STREAM, b"<html>"));
    s.extend(headers(2, END_HEADERS, &status("200")));
    s.extend(data(2, END_STREAM, b"body{}"));
    let mut r = Run::new(Some(Observer::Client));
    r.go(Send, &c).go(Recv, &s);
    let got = r.end();
    assert_eq!(got.len(), 2, "{got:#?}");
    assert_eq!(target(&got[1]), "/style.css");
    assert_eq!(got[1].http2.as_ref().unwrap().stream_id, 2);
    assert_eq!(body(got[1].response.as_ref().unwrap()), "body{}");
    assert_eq!(got[1].incomplete, None);
}

#[test]
fn streams_past_the_limit_are_written_at_once_as_not_followed() {
    let mut c = client_start();
    for i in 0..=super::connection::MAX_STREAMS as u32 {
        let mut b = Vec::new();
        indexed(&mut b, 2);
        literal(&mut b, 4, "", "/x");
        c.extend(headers(2 * i + 1, END_HEADERS | END_STREAM, &b));
    }
    let mut r = Run::new(Some(Observer::Client));
    r.go(Send, &c);
    let early = std::mem::take(&mut r.out);
    assert_eq!(early.len(), 1);
    assert!(early[0]
        .incomplete
        .as_deref()
        .unwrap_or_default()
        .starts_with("not followed: more than 1024 streams open"));
    assert_eq!(r.end().len(), super::connection::MAX_STREAMS);
}

#[test]
fn a_header_block_over_budget_is_lost_and_said() {
    let mut c = client_start();
    let mut b = Vec::new();
    indexed(&mut b, 2);
    literal(&mut b, 4, "", "/huge");
    literal(&mut b, 0, "x-big", &"b".repeat(16_000));
    let mut first = true;
    // 20 CONTINUATIONs of 16 KB: past the 256 KiB block budget.
    for i in 0..20 {
        let flags = if i == 19 { END_HEADERS } else { 0 };
        if first {
            c.extend(frame(HEADERS, END_STREAM, 1, &b));
            first = false;
        } else {
            c.extend(frame(CONTINUATION, flags, 1, &[0u8; 16_000]));
        }
    }
    let mut r = Run::new(Some(Observer::Client));
    r.go(Send, &c)
        .go(Recv, &headers(1, END_HEADERS | END_STREAM, &status("200")));
    let got = r.end();
    assert_eq!(got.len(), 1);
    assert_eq!(
        got[0].incomplete.as_deref(),
        Some("headers incomplete: a header block was lost or could not be decoded")
    );
}
