//! Fixture scenarios for resynchronising after a gap on a keep-alive HTTP/1
//! connection (src/http/connection/resync.rs): later exchanges are captured, the
//! ones a gap touched say so, and nothing is ever paired with the wrong response.

use flowtap::event::Direction::{Recv, Send};

use crate::corpus::{case, Case};
use crate::scenarios::task;

const API: &str = "172.18.0.2:8000";
const CLIENT: &str = "172.18.0.3:51234";

fn get(path: &str) -> Vec<u8> {
    format!("GET {path} HTTP/1.1\r\nHost: api\r\n\r\n").into_bytes()
}

fn ok(body: &str) -> Vec<u8> {
    format!(
        "HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

pub fn cases() -> Vec<Case> {
    let curl = task(300, "curl", 33);
    let server = task(200, "python3", 22);
    let c = &curl;
    let s = &server;
    vec![
        case("resync-gap-across-a-response-end", |t| {
            // The lost bytes start inside /1's body and run past its end into
            // /2's head: /1 keeps what was seen, /2 has no response (its head
            // was lost, and the tail that follows is not one), /3 pairs.
            let two = ok("second");
            t.connect(c, 3, API, None)
                .getsockname(c, 3, CLIENT)
                .send(c, 3, &get("/1"))
                .recv(c, 3, b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nfir")
                .send(c, 3, &get("/2"))
                .lose(c, 3, Recv, 7 + (two.len() as u64 - 6))
                .recv(c, 3, b"second")
                .send(c, 3, &get("/3"))
                .recv(c, 3, &ok("third"))
                .close(c, 3);
        }),
        case("resync-lost-response", |t| {
            // /2's whole response is lost while it waits; /3 is sent and its
            // response comes after the gap. /2 says why it has none; /3 pairs
            // once /4 shows the request side lost nothing.
            t.connect(c, 3, API, None)
                .getsockname(c, 3, CLIENT)
                .send(c, 3, &get("/1"))
                .recv(c, 3, &ok("first"))
                .send(c, 3, &get("/2"))
                .lose(c, 3, Recv, 40)
                .send(c, 3, &get("/3"))
                .recv(c, 3, &ok("third"))
                .send(c, 3, &get("/4"))
                .recv(c, 3, &ok("fourth"))
                .close(c, 3);
        }),
        case("resync-lost-response-unconfirmed", |t| {
            // As above, but the connection closes before the request side moves
            // on: a request lost after /3 cannot be ruled out, so /3 is written
            // without the response that followed the gap.
            t.connect(c, 3, API, None)
                .getsockname(c, 3, CLIENT)
                .send(c, 3, &get("/1"))
                .recv(c, 3, &ok("first"))
                .send(c, 3, &get("/2"))
                .lose(c, 3, Recv, 40)
                .send(c, 3, &get("/3"))
                .recv(c, 3, &ok("third"))
                .close(c, 3);
        }),
        case("resync-lost-exchange", |t| {
            // The server side: request /2 and its response are both lost. /2
            // has no flow, and /3 and /4 pair with their own responses.
            t.accept(s, 5, Some(CLIENT), None)
                .getsockname(s, 5, API)
                .recv(s, 5, &get("/1"))
                .send(s, 5, &ok("first"))
                .lose(s, 5, Recv, 30)
                .lose(s, 5, Send, 45)
                .recv(s, 5, &get("/3"))
                .send(s, 5, &ok("third"))
                .recv(s, 5, &get("/4"))
                .send(s, 5, &ok("fourth"))
                .close(s, 5);
        }),
        case("resync-pipelined", |t| {
            // Pipelining was seen (/2 sent before /1's answer): after the gap
            // nothing can be paired safely, so parsing ends there; the response
            // that follows the gap goes to no request.
            t.connect(c, 3, API, None)
                .getsockname(c, 3, CLIENT)
                .send(c, 3, &get("/1"))
                .send(c, 3, &get("/2"))
                .recv(c, 3, &ok("first"))
                .recv(c, 3, &ok("second"))
                .send(c, 3, &get("/3"))
                .send(c, 3, &get("/4"))
                .lose(c, 3, Recv, 40)
                .recv(c, 3, &ok("fourth"))
                .send(c, 3, &get("/5"))
                .recv(c, 3, &ok("fifth"))
                .close(c, 3);
        }),
    ]
}
