//! A connection joined mid-way (open before capture, role unknown): "not HTTP"
//! is never final, and what answered unseen requests is never paired.

use super::*;
use crate::event::Direction::{self, Recv, Send};
use crate::event::Observer;

fn joined(pieces: &[(Direction, &[u8])]) -> Vec<Exchange> {
    let mut conn = Connection::new(None, 1 << 20);
    let mut out = Vec::new();
    for (i, (dir, bytes)) in pieces.iter().enumerate() {
        conn.feed(*dir, i as u64 * 1000, bytes, 0, &mut out);
    }
    conn.end(pieces.len() as u64 * 1000, "capture ended", &mut out);
    out
}

fn targets(out: &[Exchange]) -> Vec<(String, Option<u16>, Vec<u8>)> {
    out.iter()
        .map(|x| {
            let r = x.response.as_ref();
            (
                x.request
                    .request()
                    .map(|h| h.target.to_string())
                    .unwrap_or_default(),
                r.and_then(|r| r.response()).map(|h| h.status),
                r.map(|r| r.body.kept.clone()).unwrap_or_default(),
            )
        })
        .collect()
}

/// http.client writes a POST's head and its body separately: capture that starts
/// between them sees a body first.
#[test]
fn a_client_joined_between_head_and_body_picks_up_at_the_next_request() {
    let out = joined(&[
        (Send, b"{\"n\": 1}"),
        (Recv, b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nold"),
        (Send, b"GET /next HTTP/1.1\r\nHost: x\r\n\r\n"),
        (Recv, b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nnew"),
        (Send, b"POST /again HTTP/1.1\r\nContent-Length: 2\r\n\r\n"),
        (Send, b"{}"),
        (Recv, b"HTTP/1.1 201 Created\r\nContent-Length: 1\r\n\r\nc"),
    ]);
    assert_eq!(
        targets(&out),
        vec![
            ("/next".into(), Some(200), b"new".to_vec()),
            ("/again".into(), Some(201), b"c".to_vec()),
        ],
        "the old response answered a request not seen: never paired"
    );
    assert!(out.iter().all(|x| x.observer == Observer::Client));
    assert!(out.iter().all(|x| x.incomplete.is_none()));
}

#[test]
fn a_server_joined_mid_body_picks_up_at_the_next_request() {
    let out = joined(&[
        (Recv, b"rest of an upload"),
        (Send, b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nold"),
        (Recv, b"GET /next HTTP/1.1\r\nHost: x\r\n\r\n"),
        (Send, b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nnew"),
    ]);
    assert_eq!(
        targets(&out),
        vec![("/next".into(), Some(200), b"new".to_vec())]
    );
    assert_eq!(out[0].observer, Observer::Server);
}

#[test]
fn a_response_tail_seen_first_is_not_a_response() {
    let out = joined(&[
        (Recv, b"tail of a body"),
        (Send, b"GET /a HTTP/1.1\r\n\r\n"),
        (Recv, b"HTTP/1.1 204 No Content\r\n\r\n"),
    ]);
    assert_eq!(targets(&out), vec![("/a".into(), Some(204), vec![])]);
}

#[test]
fn never_http_stays_silent() {
    let out = joined(&[
        (Send, b"*1\r\n$4\r\nPING\r\n"),
        (Recv, b"+PONG\r\n"),
        (Send, b"*1\r\n$4\r\nPING\r\n"),
        (Recv, b"+PONG\r\n"),
    ]);
    assert!(out.is_empty());
}
