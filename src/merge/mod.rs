//! One flow per exchange when both ends are traced: the client's and the server's
//! flows of one exchange are paired by the connection's 4-tuple and the exchange's
//! order on it (its stream for HTTP/2; never by time), and become one [`MergedFlow`].

mod merged;
mod sink;

use std::collections::VecDeque;
use std::fmt;
use std::net::SocketAddr;

use hashbrown::HashMap;

pub use merged::{merge, Disagreement, MergedFlow, ServerHalf, Timing};
pub use sink::Merging;

use crate::event::Observer;
use crate::flow::Flow;
use crate::record::Record;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MergeConfig {
    /// How long a half waits for its twin, in the caller's clock (nanoseconds);
    /// None: until the budget or the end (offline, where nothing is late).
    pub wait_ns: Option<u64>,
    /// Bytes of flows waiting at once; over it the oldest goes out alone.
    pub max_bytes: usize,
}

impl Default for MergeConfig {
    fn default() -> Self {
        MergeConfig {
            wait_ns: Some(2_000_000_000),
            max_bytes: 64 << 20,
        }
    }
}

/// What the merge did, for the exit line.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MergeStats {
    pub merged: u64,
    /// Halves written alone, by why.
    pub no_address: u64,
    pub waited_out: u64,
    pub over_budget: u64,
    pub at_end: u64,
    /// The other end's flow on the same 4-tuple came from another socket (a
    /// forked process sharing the connection): its order cannot be trusted.
    pub other_socket: u64,
    /// Same 4-tuple and order but another request line: not the same exchange.
    pub request_line_differs: u64,
}

impl MergeStats {
    pub fn alone(&self) -> u64 {
        self.no_address
            + self.waited_out
            + self.over_budget
            + self.at_end
            + self.other_socket
            + self.request_line_differs
    }
}

impl fmt::Display for MergeStats {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} exchanges merged, {} flows alone",
            self.merged,
            self.alone()
        )?;
        let why = [
            (self.waited_out, "twin not seen in time"),
            (self.at_end, "twin not seen by the end"),
            (self.over_budget, "over the merge budget"),
            (self.no_address, "addresses unknown"),
            (self.other_socket, "connection shared by another socket"),
            (self.request_line_differs, "request line differs"),
        ];
        let parts: Vec<String> = why
            .iter()
            .filter(|(n, _)| *n > 0)
            .map(|(n, w)| format!("{n} {w}"))
            .collect();
        if !parts.is_empty() {
            write!(f, " ({})", parts.join(", "))?;
        }
        Ok(())
    }
}

/// Client address, server address.
type Tuple = (SocketAddr, SocketAddr);

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct Key {
    tuple: Tuple,
    place: Place,
    observer: Observer,
}

/// Where on its connection an exchange is, the same seen from either end.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Place {
    /// HTTP/1: the exchange's order on its socket, the last part of the flow's id.
    Order(u64),
    /// HTTP/2: the stream. Streams complete in a different order on each end,
    /// so their order says nothing.
    Stream(u32),
}

struct Waiting {
    seq: u64,
    since: u64,
    cost: usize,
    flow: Flow,
}

/// Which socket on each end a 4-tuple's flows come from, once one pair matched.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Binding {
    client: String,
    server: String,
}

/// A live capture forgets a 4-tuple's binding after this long without flows
/// (its connection is long closed; the port may be reused by a new one)…
const BINDING_IDLE_NS: u64 = 300_000_000_000;
/// …looking for such bindings at most this often.
const SWEEP_EVERY_NS: u64 = 1_000_000_000;
/// A binding's share of the budget (its strings and the map's overhead).
const BINDING_COST: usize = 160;
/// A waiting flow's overhead beyond its bodies and headers.
const FLOW_COST: usize = 512;

/// Pairs flows as they come; what is decided goes to `out`.
pub struct Merger {
    config: MergeConfig,
    waiting: HashMap<Key, Waiting>,
    order: VecDeque<(u64, Key)>,
    /// Each with when it last served a flow.
    bindings: HashMap<Tuple, (Binding, u64)>,
    last_sweep: u64,
    bytes: usize,
    seq: u64,
    stats: MergeStats,
}

impl Merger {
    pub fn new(config: MergeConfig) -> Self {
        Merger {
            config,
            waiting: HashMap::new(),
            order: VecDeque::new(),
            bindings: HashMap::new(),
            last_sweep: 0,
            bytes: 0,
            seq: 0,
            stats: MergeStats::default(),
        }
    }

    pub fn stats(&self) -> MergeStats {
        self.stats
    }

    /// Bytes held right now (waiting flows and bindings).
    pub fn held_bytes(&self) -> usize {
        self.bytes
    }

    /// Takes one flow observed at `now`.
    pub fn offer(&mut self, flow: Flow, now: u64, out: &mut Vec<Record>) {
        let Some((key, socket)) = key_of(&flow) else {
            self.stats.no_address += 1;
            out.push(Record::One(flow));
            return;
        };
        if let Some((b, used)) = self.bindings.get_mut(&key.tuple) {
            *used = now;
            let bound = match key.observer {
                Observer::Client => &b.client,
                Observer::Server => &b.server,
            };
            if *bound != socket {
                self.stats.other_socket += 1;
                out.push(Record::One(flow));
                return;
            }
        }
        let twin_key = Key {
            observer: match key.observer {
                Observer::Client => Observer::Server,
                Observer::Server => Observer::Client,
            },
            ..key
        };
        if let Some(twin) = self.take(&twin_key) {
            let (client, server) = match key.observer {
                Observer::Client => (flow, twin.flow),
                Observer::Server => (twin.flow, flow),
            };
            self.pair(key.tuple, client, server, now, out);
            return;
        }
        if let Some(old) = self.take(&key) {
            // Two flows of one end at the same place: the socket was observed twice.
            self.stats.other_socket += 1;
            out.push(Record::One(old.flow));
        }
        self.seq += 1;
        let cost = cost_of(&flow);
        self.bytes += cost;
        self.waiting.insert(
            key,
            Waiting {
                seq: self.seq,
                since: now,
                cost,
                flow,
            },
        );
        self.order.push_back((self.seq, key));
        self.keep_to_budget(out);
    }

    /// Lets out alone the halves that have waited their time by `now`, and
    /// forgets idle bindings.
    pub fn expire(&mut self, now: u64, out: &mut Vec<Record>) {
        let Some(wait) = self.config.wait_ns else {
            return;
        };
        if now.saturating_sub(self.last_sweep) >= SWEEP_EVERY_NS {
            self.last_sweep = now;
            let before = self.bindings.len();
            self.bindings
                .retain(|_, (_, used)| now.saturating_sub(*used) < BINDING_IDLE_NS);
            self.bytes -= (before - self.bindings.len()) * BINDING_COST;
        }
        while let Some(&(seq, key)) = self.order.front() {
            match self.waiting.get(&key) {
                Some(w) if w.seq == seq => {
                    if now.saturating_sub(w.since) < wait {
                        break;
                    }
                    if let Some(w) = self.take(&key) {
                        self.stats.waited_out += 1;
                        out.push(Record::One(w.flow));
                    }
                }
                _ => {
                    self.order.pop_front();
                }
            }
        }
    }

    /// Everything still waiting goes out alone, oldest first.
    pub fn finish(&mut self, out: &mut Vec<Record>) {
        while let Some((seq, key)) = self.order.pop_front() {
            if self.waiting.get(&key).is_some_and(|w| w.seq == seq) {
                if let Some(w) = self.take(&key) {
                    self.stats.at_end += 1;
                    out.push(Record::One(w.flow));
                }
            }
        }
    }

    fn pair(&mut self, tuple: Tuple, client: Flow, server: Flow, now: u64, out: &mut Vec<Record>) {
        let same_line = client.request.method == server.request.method
            && client.request.target == server.request.target;
        if !same_line {
            self.stats.request_line_differs += 2;
            out.push(Record::One(client));
            out.push(Record::One(server));
            return;
        }
        let binding = Binding {
            client: socket_of(&client.id).to_string(),
            server: socket_of(&server.id).to_string(),
        };
        match self.bindings.get(&tuple) {
            Some((b, _)) if *b != binding => {
                // Bound by another pair since one of these started waiting.
                self.stats.other_socket += 2;
                out.push(Record::One(client));
                out.push(Record::One(server));
                return;
            }
            Some(_) => {}
            None => {
                self.bindings.insert(tuple, (binding, now));
                self.bytes += BINDING_COST;
            }
        }
        self.stats.merged += 1;
        out.push(Record::Both(merge(client, server)));
        self.keep_to_budget(out);
    }

    fn take(&mut self, key: &Key) -> Option<Waiting> {
        let w = self.waiting.remove(key)?;
        self.bytes -= w.cost;
        Some(w)
    }

    fn keep_to_budget(&mut self, out: &mut Vec<Record>) {
        while self.bytes > self.config.max_bytes {
            let Some((seq, key)) = self.order.pop_front() else {
                // Only bindings are left: forget them (later flows of those
                // connections then pair by order alone again).
                self.bytes -= self.bindings.len() * BINDING_COST;
                self.bindings.clear();
                return;
            };
            if self.waiting.get(&key).is_some_and(|w| w.seq == seq) {
                if let Some(w) = self.take(&key) {
                    self.stats.over_budget += 1;
                    out.push(Record::One(w.flow));
                }
            }
        }
    }
}

/// `pid-fd-generation` of `pid-fd-generation-exchange`.
fn socket_of(id: &str) -> &str {
    id.rsplit_once('-').map_or(id, |(socket, _)| socket)
}

fn key_of(flow: &Flow) -> Option<(Key, String)> {
    let addr = |e: &crate::flow::Endpoint| Some(SocketAddr::new(e.ip?, e.port?));
    let (socket, index) = flow.id.rsplit_once('-')?;
    let place = match flow.stream_id {
        Some(stream) => Place::Stream(stream),
        None => Place::Order(index.parse().ok()?),
    };
    let key = Key {
        tuple: (addr(&flow.src)?, addr(&flow.dst)?),
        place,
        // A merged flow has no twin to wait for.
        observer: flow.observer.one_end()?,
    };
    Some((key, socket.to_string()))
}

fn cost_of(flow: &Flow) -> usize {
    let headers =
        |h: &crate::http::Headers| h.iter().map(|(n, v)| n.len() + v.len() + 16).sum::<usize>();
    let req = &flow.request;
    let mut cost = FLOW_COST + req.body.bytes.len() + headers(&req.headers);
    if let Some(r) = &flow.response {
        cost += r.body.bytes.len() + headers(&r.headers);
    }
    cost
}

#[cfg(test)]
mod tests;
