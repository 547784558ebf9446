//! Hand-built HTTP/2 and gRPC fixtures: frame sequences real programs rarely
//! produce on demand (CONTINUATION, table eviction and size updates, resets,
//! GOAWAY, a gap inside DATA, a connection joined mid-way).

use flowtap::event::Direction;
use flowtap::http::h2::wire::*;

use crate::corpus::Case;
use crate::scenarios::{task, Trace};

const API: &str = "172.18.0.2:8000";
const CLIENT: &str = "172.18.0.3:51234";

fn case(name: &'static str, build: impl FnOnce(&mut Trace)) -> Case {
    let mut trace = Trace::new();
    trace
        .container("api", 22, "172.18.0.2")
        .container("client", 33, "172.18.0.3");
    build(&mut trace);
    Case {
        name,
        args: &[],
        trace,
    }
}

fn preface() -> Vec<u8> {
    let mut w = PREFACE.to_vec();
    w.extend(settings(&[(3, 100), (4, 65535)]));
    w
}

/// :method, :scheme http, :path, and :authority inserted into the table.
fn request(method_index: u64, path: &str) -> Vec<u8> {
    let mut b = Vec::new();
    indexed(&mut b, method_index);
    indexed(&mut b, 6);
    literal(&mut b, 4, "", path);
    inserted(&mut b, 1, "", "api:8000");
    b
}

fn response(status: &str, content_type: &str) -> Vec<u8> {
    let mut b = Vec::new();
    literal(&mut b, 8, "", status);
    literal(&mut b, 31, "", content_type);
    b
}

fn server_settings() -> Vec<u8> {
    let mut s = settings(&[(3, 128)]);
    s.extend(frame(SETTINGS, 1, 0, &[]));
    s
}

pub fn all() -> Vec<Case> {
    let server = task(200, "nghttpd", 22);
    let client = task(300, "nghttp", 33);
    let (s, c) = (&server, &client);
    vec![
        case("h2-prior-knowledge-both-observers", |t| {
            // GET, POST with a body and a 404 on one connection, interleaved,
            // seen from both ends.
            let mut req = preface();
            req.extend(headers(1, END_HEADERS | END_STREAM, &request(2, "/items")));
            req.extend(headers(3, END_HEADERS, &request(3, "/items")));
            req.extend(data(3, END_STREAM, b"{\"name\":\"a\"}"));
            req.extend(headers(
                5,
                END_HEADERS | END_STREAM,
                &request(2, "/missing"),
            ));
            let mut resp = server_settings();
            resp.extend(headers(
                3,
                END_HEADERS,
                &response("201", "application/json"),
            ));
            resp.extend(headers(
                1,
                END_HEADERS,
                &response("200", "application/json"),
            ));
            resp.extend(data(1, 0, b"[1,"));
            resp.extend(data(3, END_STREAM, b"{\"id\":3}"));
            resp.extend(data(1, END_STREAM, b"2]"));
            resp.extend(headers(
                5,
                END_HEADERS | END_STREAM,
                &response("404", "text/plain"),
            ));
            t.connect(c, 3, API, Some((CLIENT, API)))
                .accept(s, 5, Some(CLIENT), Some((API, CLIENT)))
                .send(c, 3, &req)
                .recv(s, 5, &req)
                .send(s, 5, &resp)
                .recv(c, 3, &resp[..40])
                .recv(c, 3, &resp[40..])
                .close(c, 3)
                .close(s, 5);
        }),
        case("h2-continuation", |t| {
            let mut block = request(2, "/long-headers");
            literal(&mut block, 0, "x-trace", &"t".repeat(300));
            let mut req = preface();
            req.extend(frame(HEADERS, END_STREAM, 1, &block[..10]));
            req.extend(frame(CONTINUATION, 0, 1, &block[10..200]));
            req.extend(frame(CONTINUATION, END_HEADERS, 1, &block[200..]));
            let mut resp = headers(1, END_HEADERS, &response("200", "text/plain"));
            // Padded DATA.
            let mut padded = vec![5u8];
            padded.extend(b"ok");
            padded.extend([0; 5]);
            resp.extend(frame(DATA, PADDED | END_STREAM, 1, &padded));
            t.connect(c, 3, API, Some((CLIENT, API)))
                .send(c, 3, &req)
                .recv(c, 3, &server_settings())
                .recv(c, 3, &resp)
                .close(c, 3);
        }),
        case("h2-table-eviction", |t| {
            // A 100-byte table (set by a size update): each 60-byte insertion
            // evicts the one before, and references resolve to what remains.
            let mut req = preface();
            let mut b = Vec::new();
            size_update(&mut b, 100);
            indexed(&mut b, 2);
            literal(&mut b, 4, "", "/a");
            inserted(&mut b, 0, "x-one", &"1".repeat(23)); // 5 + 23 + 32 = 60
            req.extend(headers(1, END_HEADERS | END_STREAM, &b));
            let mut b = Vec::new();
            indexed(&mut b, 2);
            literal(&mut b, 4, "", "/b");
            inserted(&mut b, 0, "x-two", &"2".repeat(23)); // evicts x-one
            indexed(&mut b, 62); // x-two
            req.extend(headers(3, END_HEADERS | END_STREAM, &b));
            // 63 would be x-one, evicted: the block can't be decoded, and the
            // flow says so instead of guessing.
            let mut b = Vec::new();
            indexed(&mut b, 2);
            literal(&mut b, 4, "", "/c");
            indexed(&mut b, 63);
            req.extend(headers(5, END_HEADERS | END_STREAM, &b));
            let mut resp = Vec::new();
            for id in [1, 3, 5] {
                resp.extend(headers(
                    id,
                    END_HEADERS | END_STREAM,
                    &response("200", "text/plain"),
                ));
            }
            t.connect(c, 3, API, Some((CLIENT, API)))
                .send(c, 3, &req)
                .recv(c, 3, &resp)
                .close(c, 3);
        }),
        case("h2-table-size-update", |t| {
            // The server's encoder shrinks its table to 0 (emptying it) and
            // grows it again between responses.
            let req = {
                let mut r = preface();
                r.extend(headers(1, END_HEADERS | END_STREAM, &request(2, "/1")));
                r.extend(headers(3, END_HEADERS | END_STREAM, &request(2, "/2")));
                r
            };
            let mut b = Vec::new();
            indexed(&mut b, 8);
            inserted(&mut b, 54, "", "nghttpd");
            let mut resp = headers(1, END_HEADERS | END_STREAM, &b);
            let mut b = Vec::new();
            size_update(&mut b, 0);
            size_update(&mut b, 4096);
            indexed(&mut b, 13);
            inserted(&mut b, 54, "", "nghttpd/2");
            indexed(&mut b, 62);
            resp.extend(headers(3, END_HEADERS | END_STREAM, &b));
            t.connect(c, 3, API, Some((CLIENT, API)))
                .send(c, 3, &req)
                .recv(c, 3, &resp)
                .close(c, 3);
        }),
        case("h2-rst-stream", |t| {
            let mut req = preface();
            req.extend(headers(1, END_HEADERS | END_STREAM, &request(2, "/slow")));
            req.extend(headers(3, END_HEADERS | END_STREAM, &request(2, "/fast")));
            let mut resp = headers(3, END_HEADERS, &response("200", "text/plain"));
            resp.extend(data(3, END_STREAM, b"fast"));
            resp.extend(headers(1, END_HEADERS, &response("200", "text/plain")));
            resp.extend(data(1, 0, b"sl"));
            t.accept(s, 5, Some(CLIENT), Some((API, CLIENT)))
                .recv(s, 5, &req)
                .send(s, 5, &resp)
                .recv(s, 5, &rst_stream(1, 8))
                .close(s, 5);
        }),
        case("h2-goaway-mid-stream", |t| {
            let mut req = preface();
            req.extend(headers(1, END_HEADERS | END_STREAM, &request(2, "/one")));
            req.extend(headers(3, END_HEADERS | END_STREAM, &request(2, "/two")));
            req.extend(headers(5, END_HEADERS | END_STREAM, &request(2, "/three")));
            let mut resp = headers(1, END_HEADERS, &response("200", "text/plain"));
            resp.extend(data(1, END_STREAM, b"1"));
            resp.extend(headers(3, END_HEADERS, &response("200", "text/plain")));
            resp.extend(data(3, 0, b"half"));
            resp.extend(goaway(3, 0));
            t.accept(s, 5, Some(CLIENT), Some((API, CLIENT)))
                .recv(s, 5, &req)
                .send(s, 5, &resp)
                .close(s, 5);
        }),
        case("h2-gap-in-data", |t| {
            let mut req = preface();
            req.extend(headers(1, END_HEADERS | END_STREAM, &request(2, "/big")));
            req.extend(headers(3, END_HEADERS | END_STREAM, &request(2, "/small")));
            let big = data(1, END_STREAM, &[b'z'; 1000]);
            let mut after = big[600..].to_vec();
            after.extend(headers(3, END_HEADERS, &response("200", "text/plain")));
            after.extend(data(3, END_STREAM, b"small"));
            t.connect(c, 3, API, Some((CLIENT, API)))
                .send(c, 3, &req)
                .recv(
                    c,
                    3,
                    &headers(1, END_HEADERS, &response("200", "text/plain")),
                )
                .recv(c, 3, &big[..100])
                .lose(c, 3, Direction::Recv, 500)
                .recv(c, 3, &after)
                .close(c, 3);
        }),
        case("h2-joined-mid-connection", |t| {
            // Capture starts on an open, idle h2c connection. Its tables hold
            // entries from before; the new request inserts x-request-id (62
            // after insertion) and refers to 63, an entry from before capture.
            let mut b = Vec::new();
            indexed(&mut b, 2);
            indexed(&mut b, 6);
            literal(&mut b, 4, "", "/after-attach");
            inserted(&mut b, 0, "x-request-id", "r-7");
            indexed(&mut b, 63);
            let mut req = headers(15, END_HEADERS | END_STREAM, &b);
            let mut b2 = Vec::new();
            indexed(&mut b2, 2);
            indexed(&mut b2, 6);
            literal(&mut b2, 4, "", "/again");
            indexed(&mut b2, 62);
            req.extend(headers(17, END_HEADERS | END_STREAM, &b2));
            let mut resp = headers(15, END_HEADERS, &response("200", "text/plain"));
            resp.extend(data(15, END_STREAM, b"one"));
            resp.extend(headers(17, END_HEADERS, &response("200", "text/plain")));
            resp.extend(data(17, END_STREAM, b"two"));
            t.socket(c, 7, CLIENT, API)
                .send(c, 7, &frame(PING, 0, 0, &[1; 8]))
                .recv(c, 7, &frame(PING, 1, 0, &[1; 8]))
                .send(c, 7, &req)
                .recv(c, 7, &resp)
                .close(c, 7);
        }),
        case("h2c-upgrade", |t| {
            let mut resp =
                b"HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: h2c\r\n\r\n"
                    .to_vec();
            resp.extend(server_settings());
            resp.extend(headers(1, END_HEADERS, &response("200", "text/plain")));
            resp.extend(data(1, END_STREAM, b"via upgrade"));
            let mut req2 = preface();
            req2.extend(headers(3, END_HEADERS | END_STREAM, &request(2, "/second")));
            let mut resp2 = headers(3, END_HEADERS, &response("204", "text/plain"));
            resp2.extend(data(3, END_STREAM, b""));
            t.accept(s, 5, Some(CLIENT), Some((API, CLIENT)))
                .recv(s, 5, b"GET /first HTTP/1.1\r\nHost: api:8000\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQAAP__\r\n\r\n")
                .send(s, 5, &resp)
                .recv(s, 5, &req2)
                .send(s, 5, &resp2)
                .close(s, 5);
        }),
        case("grpc-unary-and-not-found", |t| {
            let call = |path: &str| {
                let mut b = Vec::new();
                indexed(&mut b, 3);
                indexed(&mut b, 6);
                literal(&mut b, 4, "", path);
                literal(&mut b, 31, "", "application/grpc");
                literal(&mut b, 0, "te", "trailers");
                b
            };
            let mut req = preface();
            req.extend(headers(
                1,
                END_HEADERS,
                &call("/helloworld.Greeter/SayHello"),
            ));
            req.extend(data(1, END_STREAM, &grpc_message(b"\x0a\x05world")));
            req.extend(headers(3, END_HEADERS, &call("/kv.Store/Get")));
            req.extend(data(3, END_STREAM, &grpc_message(b"\x0a\x04nope")));
            let mut resp = headers(1, END_HEADERS, &response("200", "application/grpc"));
            resp.extend(data(1, 0, &grpc_message(b"\x0a\x0bhello world")));
            let mut tr = Vec::new();
            literal(&mut tr, 0, "grpc-status", "0");
            resp.extend(headers(1, END_HEADERS | END_STREAM, &tr));
            let mut only = response("200", "application/grpc");
            literal(&mut only, 0, "grpc-status", "5");
            literal(&mut only, 0, "grpc-message", "key%20not%20found");
            resp.extend(headers(3, END_HEADERS | END_STREAM, &only));
            t.connect(c, 3, API, Some((CLIENT, API)))
                .send(c, 3, &req)
                .recv(c, 3, &resp)
                .close(c, 3);
        }),
    ]
}
