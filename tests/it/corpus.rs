//! The hand-built fixture corpus: one scenario per case that real programs make
//! hard to provoke. Each builds the events the kernel side would emit.

use flowtap::event::{Direction, Syscall};

use crate::scenarios::{task, Trace};

const API: &str = "172.18.0.2:8000";
const CLIENT: &str = "172.18.0.3:51234";
const GET: &[u8] = b"GET /items?x=1 HTTP/1.1\r\nHost: api:8000\r\nUser-Agent: curl/8.5.0\r\n\r\n";
const OK: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\nok";

/// A fixture: its name, extra `flowtap replay` flags, and its events.
pub struct Case {
    pub name: &'static str,
    pub args: &'static [&'static str],
    pub trace: Trace,
}

pub(crate) fn case(name: &'static str, build: impl FnOnce(&mut Trace)) -> Case {
    with_args(name, &[], build)
}

pub(crate) fn with_args(
    name: &'static str,
    args: &'static [&'static str],
    build: impl FnOnce(&mut Trace),
) -> Case {
    let mut trace = Trace::new();
    build(&mut trace);
    Case { name, args, trace }
}

/// The api server (in container "api") and curl (in container "client").
fn demo(t: &mut Trace) {
    t.container("api", 22, "172.18.0.2")
        .container("client", 33, "172.18.0.3");
}

pub fn all() -> Vec<Case> {
    let mut all = http1();
    all.extend(crate::corpus_h2::all());
    all
}

fn http1() -> Vec<Case> {
    let server = task(200, "python3", 22);
    let curl = task(300, "curl", 33);
    let s = &server;
    let c = &curl;
    let mut cases = vec![
        case("getsockname-after-first-read", |t| {
            demo(t);
            t.accept(s, 5, Some(CLIENT), Some((API, CLIENT)))
                .recv(s, 5, GET)
                .getsockname(s, 5, API)
                .send(s, 5, OK)
                .close(s, 5);
        }),
        case("no-getsockname-either-side", |t| {
            // Both ends on one host (both observed); neither calls getsockname, so
            // the local sides come from the kernel's view once the socket closes.
            demo(t);
            t.connect(c, 3, API, Some((CLIENT, API)))
                .accept(s, 5, Some(CLIENT), Some((API, CLIENT)))
                .send(c, 3, GET)
                .recv(s, 5, GET)
                .send(s, 5, OK)
                .recv(c, 3, OK)
                .close(c, 3)
                .close(s, 5);
        }),
        case("container-ip-fallback", |t| {
            // No kernel view and no getsockname: the client's IP comes from its
            // container, its port stays unknown.
            demo(t);
            t.connect(c, 3, API, None)
                .send(c, 3, GET)
                .recv(c, 3, OK)
                .close(c, 3);
        }),
        case("keepalive-idle-past-ageing", |t| {
            // A pooled keep-alive connection idle longer than sockets are kept
            // (5 minutes): its next exchange still has both addresses and its role.
            demo(t);
            t.connect(c, 3, API, Some((CLIENT, API)))
                .getsockname(c, 3, CLIENT)
                .send(c, 3, GET)
                .recv(c, 3, OK)
                .wait_ms(301_000)
                .send(c, 3, GET)
                .recv(c, 3, OK)
                .close(c, 3);
        }),
        case("fd-reuse-after-close", |t| {
            t.accept(s, 5, Some("10.0.0.7:40000"), None)
                .getsockname(s, 5, API)
                .recv(s, 5, b"GET /first HTTP/1.1\r\nHost: a\r\n\r\n")
                .close(s, 5)
                .accept(s, 5, Some("10.0.0.8:40001"), None)
                .getsockname(s, 5, API)
                .recv(s, 5, b"GET /second HTTP/1.1\r\nHost: a\r\n\r\n")
                .send(s, 5, OK)
                .close(s, 5);
        }),
        case("fork-inherited-fd", |t| {
            let child = task(201, "python3", 22);
            t.accept(s, 4, Some(CLIENT), Some((API, CLIENT)))
                .getsockname(s, 4, API)
                .close(s, 4)
                .socket(&child, 4, API, CLIENT)
                .recv(&child, 4, GET)
                .send(&child, 4, OK)
                .close(&child, 4);
        }),
        case("pipelining", |t| {
            t.connect(c, 3, API, None).getsockname(c, 3, CLIENT).send(
                c,
                3,
                b"GET /1 HTTP/1.1\r\nHost: api\r\n\r\nGET /2 HTTP/1.1\r\nHost: api\r\n\r\nGET /3 HTTP/1.1\r\nHost: api\r\n\r\n",
            );
            t.recv(c, 3, b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\none")
                .recv(c, 3, b"HTTP/1.1 404 Not Found\r\nContent-Length: 3\r\n\r\ntwoHTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nthree")
                .close(c, 3);
        }),
        case("chunked-with-trailers", |t| {
            t.connect(c, 3, API, None)
                .getsockname(c, 3, CLIENT)
                .send(c, 3, b"POST /upload HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nabcd\r\n0\r\n\r\n")
                .recv(c, 3, b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTrailer: X-Checksum\r\n\r\n7;note=x\r\nchunked\r\n")
                .recv(c, 3, b"6\r\n body!\r\n0\r\nX-Checksum: abc123\r\n\r\n")
                .close(c, 3);
        }),
        case("close-delimited", |t| {
            t.connect(c, 3, API, None)
                .getsockname(c, 3, CLIENT)
                .send(c, 3, b"GET /stream HTTP/1.0\r\n\r\n")
                .recv(
                    c,
                    3,
                    b"HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\nread until ",
                )
                .recv(c, 3, b"the server closes")
                .close(c, 3);
        }),
        case("head-204-304", |t| {
            t.connect(c, 3, API, None)
                .getsockname(c, 3, CLIENT)
                .send(c, 3, b"HEAD /big HTTP/1.1\r\n\r\n")
                .recv(c, 3, b"HTTP/1.1 200 OK\r\nContent-Length: 5000\r\n\r\n")
                .send(c, 3, b"DELETE /items/1 HTTP/1.1\r\n\r\n")
                .recv(c, 3, b"HTTP/1.1 204 No Content\r\n\r\n")
                .send(
                    c,
                    3,
                    b"GET /cached HTTP/1.1\r\nIf-None-Match: \"v1\"\r\n\r\n",
                )
                .recv(
                    c,
                    3,
                    b"HTTP/1.1 304 Not Modified\r\nETag: \"v1\"\r\nContent-Length: 10\r\n\r\n",
                )
                .close(c, 3);
        }),
        case("expect-100-continue", |t| {
            t.accept(s, 5, Some(CLIENT), None)
                .getsockname(s, 5, API)
                .recv(
                    s,
                    5,
                    b"PUT /files/a HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 11\r\n\r\n",
                )
                .send(s, 5, b"HTTP/1.1 100 Continue\r\n\r\n")
                .recv(s, 5, b"hello world")
                .send(s, 5, b"HTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n")
                .close(s, 5);
        }),
        case("upgrade-websocket", |t| {
            t.accept(s, 5, Some(CLIENT), None)
                .getsockname(s, 5, API)
                .recv(s, 5, b"GET /ws HTTP/1.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n")
                .send(s, 5, b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n")
                .recv(s, 5, b"\x81\x85\x37\xfa\x21\x3d\x7f\x9f\x4d\x51\x58")
                .send(s, 5, b"\x81\x05Hello")
                .close(s, 5);
        }),
        case("binary-body", |t| {
            t.connect(c, 3, API, None)
                .getsockname(c, 3, CLIENT)
                .send(c, 3, b"GET /logo.png HTTP/1.1\r\n\r\n")
                .recv(c, 3, b"HTTP/1.1 200 OK\r\nContent-Type: image/png\r\nContent-Length: 8\r\n\r\n\x89PNG\r\n\x1a\n")
                .close(c, 3);
        }),
        case("head-split-byte-by-byte", |t| {
            t.accept(s, 5, Some(CLIENT), None).getsockname(s, 5, API);
            for b in GET {
                t.recv(s, 5, &[*b]);
            }
            t.send(s, 5, OK).close(s, 5);
        }),
        with_args("body-over-cap", &["--max-body", "16"], |t| {
            t.connect(c, 3, API, None)
                .getsockname(c, 3, CLIENT)
                .send(c, 3, b"POST /big HTTP/1.1\r\nContent-Length: 40\r\n\r\n0123456789012345678901234567890123456789")
                .recv(c, 3, b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
                .close(c, 3);
        }),
        case("body-beyond-capture", |t| {
            // The kernel copied only the first 64 bytes of a 70000-byte write.
            let head_len = "HTTP/1.1 200 OK\r\nContent-Length: 69958\r\n\r\n".len();
            let mut resp = format!(
                "HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n",
                70_000 - head_len
            )
            .into_bytes();
            assert_eq!(resp.len(), head_len);
            resp.resize(64, b'z');
            t.connect(c, 3, API, None)
                .getsockname(c, 3, CLIENT)
                .send(c, 3, b"GET /large HTTP/1.1\r\n\r\n")
                .data(c, 3, Syscall::Read, &resp, 70_000)
                .send(c, 3, b"GET /after HTTP/1.1\r\n\r\n")
                .recv(c, 3, OK)
                .close(c, 3);
        }),
        case("position-gap", |t| {
            t.connect(c, 3, API, None)
                .getsockname(c, 3, CLIENT)
                .send(c, 3, b"GET /1 HTTP/1.1\r\n\r\n")
                .recv(c, 3, OK)
                .send(c, 3, b"GET /2 HTTP/1.1\r\n\r\nGET /3 HTTP/1.1\r\n\r\n")
                .lose(c, 3, Direction::Recv, 1000)
                .recv(c, 3, b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nthree")
                .close(c, 3);
        }),
        case("unplaced-inside-a-content-length-body", |t| {
            // Two threads read the response at once, and one read could not be
            // placed: its bytes are lost inside a body of known length, which
            // is then truncated, and the next exchange still pairs.
            t.connect(c, 3, API, None)
                .getsockname(c, 3, CLIENT)
                .send(c, 3, b"GET /1 HTTP/1.1\r\n\r\n")
                .recv(c, 3, b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc")
                .unplaced(c, 3, Syscall::Read, 4)
                .recv(c, 3, b"hij")
                .send(c, 3, b"GET /2 HTTP/1.1\r\n\r\n")
                .recv(c, 3, OK)
                .close(c, 3);
        }),
        case("unplaced-inside-a-close-delimited-body", |t| {
            // The body's end is the connection's: with bytes of it unplaced,
            // the response cannot be called whole.
            t.connect(c, 3, API, None)
                .getsockname(c, 3, CLIENT)
                .send(c, 3, b"GET /stream HTTP/1.1\r\n\r\n")
                .recv(
                    c,
                    3,
                    b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nfirst part ",
                )
                .unplaced(c, 3, Syscall::Read, 12)
                .recv(c, 3, b"last part")
                .close(c, 3);
        }),
        case("non-http", |t| {
            let redis = task(400, "redis-cli", 0);
            t.connect(
                &redis,
                6,
                "172.18.0.9:6379",
                Some(("172.18.0.3:40000", "172.18.0.9:6379")),
            )
            .send(&redis, 6, b"*1\r\n$4\r\nPING\r\n")
            .recv(&redis, 6, b"+PONG\r\n")
            .send(&redis, 6, b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03")
            .close(&redis, 6);
        }),
        case("open-before-capture", |t| {
            // A keep-alive client connected before capture started: the kernel
            // introduces the socket at its first data syscall.
            t.socket(c, 7, CLIENT, API)
                .send(c, 7, GET)
                .recv(c, 7, OK)
                .close(c, 7);
        }),
        case("ipv6", |t| {
            t.accept(s, 5, Some("[2001:db8::3]:51234"), None)
                .getsockname(s, 5, "[2001:db8::2]:8000")
                .recv(s, 5, GET)
                .send(s, 5, OK)
                .close(s, 5);
        }),
        case("keep-alive", |t| {
            t.connect(c, 3, API, None).getsockname(c, 3, CLIENT);
            for i in 0..3 {
                let req = format!("GET /items/{i} HTTP/1.1\r\nHost: api:8000\r\n\r\n");
                let body = format!("{{\"id\":{i}}}");
                let resp = format!("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}", body.len());
                t.send(c, 3, req.as_bytes())
                    .wait_ms(20)
                    .recv(c, 3, resp.as_bytes());
            }
            t.send(c, 3, b"GET /never-answered HTTP/1.1\r\n\r\n");
        }),
        with_args("merge-matched-pair", &["--merge"], |t| {
            demo(t);
            t.connect(c, 3, API, None)
                .getsockname(c, 3, CLIENT)
                .accept(s, 5, Some(CLIENT), None)
                .getsockname(s, 5, API)
                .send(c, 3, GET)
                .recv(s, 5, GET)
                .wait_ms(3)
                .send(s, 5, OK)
                .recv(c, 3, OK)
                .close(c, 3)
                .close(s, 5);
        }),
        with_args("merge-unmatched-half", &["--merge"], |t| {
            // The server is outside what was traced: the client's flow stays alone.
            demo(t);
            t.connect(c, 3, "93.184.216.34:80", None)
                .getsockname(c, 3, CLIENT)
                .send(c, 3, b"GET / HTTP/1.1\r\nHost: example.com\r\n\r\n")
                .recv(c, 3, OK)
                .close(c, 3);
        }),
        with_args("merge-disagreement", &["--merge"], |t| {
            // The ring lost part of the response on the client's side only: both
            // bodies are kept and the difference flagged.
            demo(t);
            let resp = b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n0123456789";
            let head = resp.len() - 10;
            t.connect(c, 3, API, None)
                .getsockname(c, 3, CLIENT)
                .accept(s, 5, Some(CLIENT), None)
                .getsockname(s, 5, API)
                .send(c, 3, GET)
                .recv(s, 5, GET)
                .send(s, 5, resp)
                .recv(c, 3, &resp[..head + 4])
                .lose(c, 3, Direction::Recv, 3)
                .recv(c, 3, &resp[head + 7..])
                .close(c, 3)
                .close(s, 5);
        }),
        with_args("merge-keep-alive-order", &["--merge"], |t| {
            // The same request three times on one connection: only the order on
            // the connection tells which response belongs to which.
            demo(t);
            t.connect(c, 3, API, None)
                .getsockname(c, 3, CLIENT)
                .accept(s, 5, Some(CLIENT), None)
                .getsockname(s, 5, API);
            for i in 0..3 {
                let body = format!("{{\"n\":{i}}}");
                let resp = format!(
                    "HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n{body}",
                    body.len()
                );
                t.send(c, 3, GET)
                    .recv(s, 5, GET)
                    .send(s, 5, resp.as_bytes())
                    .recv(c, 3, resp.as_bytes());
            }
            t.close(c, 3).close(s, 5);
        }),
        case("node-server-deadline", |t| {
            // Node never calls getsockname: the socket is released one second
            // after its first held event, with its local side from the kernel.
            t.accept(&task(500, "node", 0), 21, Some(CLIENT), Some((API, CLIENT)))
                .recv(&task(500, "node", 0), 21, GET)
                .send(&task(500, "node", 0), 21, OK)
                .wait_ms(1500)
                .recv(&task(500, "node", 0), 21, b"GET /two HTTP/1.1\r\n\r\n")
                .send(&task(500, "node", 0), 21, OK);
        }),
    ];
    cases.extend(crate::corpus_framing::cases());
    cases.extend(crate::corpus_resync::cases());
    cases
}
