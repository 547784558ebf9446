//! The merged flow: one exchange as both ends saw it. Its fields are the client's
//! view (what was sent and what came back), its `dst` side is the server's own;
//! the server's process and timing sit beside, and every field the two disagree on
//! is kept in both versions.

use compact_str::CompactString;
use serde::{Deserialize, Serialize};

use crate::flow::{Body, Flow, FlowObserver, Process};

/// One exchange observed by both its client and its server. On the wire it is a
/// Flow's fields, then `server`, `timing` and `disagreements`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MergedFlow {
    /// The exchange as the client saw it, except `observer` ("both"), `dst` and
    /// `address_source.dst` (the server's own knowledge of itself), and a body
    /// the server kept whole where the client kept it in part.
    #[serde(flatten)]
    pub flow: Flow,
    pub server: ServerHalf,
    pub timing: Timing,
    /// Fields the two observations disagree on (empty when they agree).
    #[serde(default)]
    pub disagreements: Vec<Disagreement>,
}

/// What only the server's observation knows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ServerHalf {
    /// The server-side flow's own id.
    pub id: CompactString,
    pub process: Process,
}

/// Where the time went.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Timing {
    /// From the client's first request byte written to its last response byte read.
    pub client_us: Option<u64>,
    /// From the server's first request byte read to its last response byte written.
    pub server_us: Option<u64>,
    /// `client_us - server_us`: the network and the queueing on both sides
    /// (kernel buffers, accept backlog, scheduling). Null when either is unknown or
    /// the difference would be negative (syscall timestamps are taken at exit).
    pub network_us: Option<u64>,
}

/// One field the two sides saw differently, with both versions.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Disagreement {
    /// A path into the flow: `request.headers`, `response.body`, `incomplete`, …
    pub field: String,
    pub client: serde_json::Value,
    pub server: serde_json::Value,
}

/// Builds the merged flow; the caller has checked that both halves are the same
/// exchange (same 4-tuple, same order on it, same request line).
pub fn merge(client: Flow, mut server: Flow) -> MergedFlow {
    let disagreements = compare(&client, &server);
    let timing = Timing {
        client_us: client.duration_us,
        server_us: server.duration_us,
        network_us: match (client.duration_us, server.duration_us) {
            (Some(c), Some(s)) => c.checked_sub(s),
            _ => None,
        },
    };
    let mut flow = client;
    flow.observer = FlowObserver::Both;
    flow.dst = server.dst;
    flow.address_source.dst = server.address_source.dst;
    // A body one end kept whole and the other only in part (past --max-payload
    // in one syscall, or bytes lost) is the same body: the record carries the
    // whole one, and `disagreements` still has both.
    take_whole(&mut flow.request.body, &mut server.request.body);
    if let (Some(c), Some(s)) = (flow.response.as_mut(), server.response.as_mut()) {
        take_whole(&mut c.body, &mut s.body);
    }
    MergedFlow {
        flow,
        server: ServerHalf {
            id: server.id,
            process: server.process,
        },
        timing,
        disagreements,
    }
}

fn take_whole(client: &mut Body, server: &mut Body) {
    if client.truncated && !server.truncated && client.size == server.size {
        std::mem::swap(client, server);
    }
}

fn compare(client: &Flow, server: &Flow) -> Vec<Disagreement> {
    let mut out = Vec::new();
    let mut field = |name: &str, c: serde_json::Value, s: serde_json::Value| {
        if c != s {
            out.push(Disagreement {
                field: name.to_string(),
                client: c,
                server: s,
            });
        }
    };
    let (cq, sq) = (&client.request, &server.request);
    field("request.method", json(&cq.method), json(&sq.method));
    field("request.target", json(&cq.target), json(&sq.target));
    field("request.version", json(&cq.version), json(&sq.version));
    field("request.headers", json(&cq.headers), json(&sq.headers));
    field("request.body", json(&cq.body), json(&sq.body));
    field("request.trailers", json(&cq.trailers), json(&sq.trailers));
    match (&client.response, &server.response) {
        (Some(cr), Some(sr)) => {
            field("response.status", json(&cr.status), json(&sr.status));
            field("response.reason", json(&cr.reason), json(&sr.reason));
            field("response.version", json(&cr.version), json(&sr.version));
            field("response.headers", json(&cr.headers), json(&sr.headers));
            field("response.body", json(&cr.body), json(&sr.body));
            field("response.trailers", json(&cr.trailers), json(&sr.trailers));
        }
        (c, s) => field("response", json(c), json(s)),
    }
    field("tunnel", json(&client.tunnel), json(&server.tunnel));
    field("tls", json(&client.tls), json(&server.tls));
    field(
        "stream_id",
        json(&client.stream_id),
        json(&server.stream_id),
    );
    field(
        "authority",
        json(&client.authority),
        json(&server.authority),
    );
    field("grpc", json(&client.grpc), json(&server.grpc));
    field(
        "incomplete",
        json(&client.incomplete),
        json(&server.incomplete),
    );
    out
}

/// A field as JSON, to compare and to keep.
fn json<T: Serialize>(v: &T) -> serde_json::Value {
    serde_json::to_value(v).unwrap_or(serde_json::Value::Null)
}
