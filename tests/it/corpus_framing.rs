//! Fixture scenarios for HTTP framing anomalies (headers that two parsers may
//! read differently, responses sent early) and for the byte budgets.

use crate::corpus::{case, with_args, Case};
use crate::scenarios::task;

const API: &str = "172.18.0.2:8000";
const CLIENT: &str = "172.18.0.3:51234";
const OK: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";

pub fn cases() -> Vec<Case> {
    let server = task(200, "python3", 22);
    let s = &server;
    vec![
        case("te-several-lines", |t| {
            // Two Transfer-Encoding lines are one list, "gzip, chunked": chunked.
            t.accept(s, 5, Some(CLIENT), None)
                .getsockname(s, 5, API)
                .recv(
                    s,
                    5,
                    b"POST /a HTTP/1.1\r\nTransfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
                )
                .send(s, 5, OK)
                .recv(s, 5, b"GET /next HTTP/1.1\r\n\r\n")
                .send(s, 5, OK)
                .close(s, 5);
        }),
        case("te-with-content-length", |t| {
            // Framed as chunked (RFC 9112 6.3), flagged; the next request is
            // where chunked framing says, not where Content-Length would.
            t.accept(s, 5, Some(CLIENT), None)
                .getsockname(s, 5, API)
                .recv(
                    s,
                    5,
                    b"POST /a HTTP/1.1\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
                )
                .send(s, 5, OK)
                .recv(s, 5, b"GET /next HTTP/1.1\r\n\r\n")
                .send(s, 5, OK)
                .close(s, 5);
        }),
        case("content-length-conflicting", |t| {
            // No framing is right: the request is shown, and parsing stops.
            t.accept(s, 5, Some(CLIENT), None)
                .getsockname(s, 5, API)
                .recv(
                    s,
                    5,
                    b"POST /a HTTP/1.1\r\nContent-Length: 3\r\nContent-Length: 30\r\n\r\nabc",
                )
                .send(
                    s,
                    5,
                    b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                )
                .close(s, 5);
        }),
        case("early-response-keep-alive", |t| {
            // The server answers 413 after the head, then reads (and discards)
            // the rest of the body; the connection goes on.
            t.accept(s, 5, Some(CLIENT), None)
                .getsockname(s, 5, API)
                .recv(
                    s,
                    5,
                    b"PUT /big HTTP/1.1\r\nContent-Length: 10\r\n\r\n01234",
                )
                .send(
                    s,
                    5,
                    b"HTTP/1.1 413 Content Too Large\r\nContent-Length: 0\r\n\r\n",
                )
                .recv(s, 5, b"56789")
                .recv(s, 5, b"GET /next HTTP/1.1\r\n\r\n")
                .send(s, 5, OK)
                .close(s, 5);
        }),
        case("early-response-then-close", |t| {
            // The server answers 400 before the body and closes: the exchange has
            // its response, and says the request was cut short.
            let c = task(300, "curl", 33);
            t.connect(&c, 3, API, None)
                .getsockname(&c, 3, CLIENT)
                .send(&c, 3, b"POST /upload HTTP/1.1\r\nContent-Length: 100\r\n\r\nab")
                .recv(
                    &c,
                    3,
                    b"HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-Length: 3\r\n\r\nbad",
                )
                .close(&c, 3);
        }),
        with_args("body-budget", &["--body-budget", "8"], |t| {
            // Bodies in progress may keep 8 bytes in all: the body is cut and
            // the flow says why.
            t.accept(s, 5, Some(CLIENT), None)
                .getsockname(s, 5, API)
                .recv(
                    s,
                    5,
                    b"POST /a HTTP/1.1\r\nContent-Length: 12\r\n\r\nhello world!",
                )
                .send(s, 5, OK)
                .close(s, 5);
        }),
        case("hold-budget-overflow", |t| {
            // A live capture's gate dropped events of an undecided container;
            // the trace says so, and replay counts it in the summary.
            t.accept(s, 5, Some(CLIENT), None)
                .getsockname(s, 5, API)
                .overflow(12, 196_608)
                .recv(s, 5, b"GET /a HTTP/1.1\r\n\r\n")
                .send(s, 5, OK)
                .close(s, 5);
        }),
    ]
}
