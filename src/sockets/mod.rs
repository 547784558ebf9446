//! Per-socket state keyed by (pid, fd) and a generation. It completes each
//! socket's addresses from accept/connect/getsockname (falling back to the
//! kernel's view), holds data back until then, and releases it in order, within
//! bounds on time, bytes and socket count. Deadlines run on event time only.

mod hello;
mod membio;
mod records;
mod reorder;
mod socket;
#[cfg(test)]
mod tests;
mod tls;

use std::collections::BTreeSet;
use std::net::IpAddr;
use std::num::NonZeroUsize;

use lru::LruCache;

use crate::event::{
    Accept, Close, Connect, Data, Direction, Event, ExistingSocket, Getsockname, Nanos, Observer,
    SockAddrs, SslData, Task, TlsLibrary, Unplaced,
};

pub use membio::{GivenUp, MembioStats};
use membio::{Membio, Tie};
use reorder::Ordered;
pub use reorder::{ReorderStats, REORDER_MAX_BYTES, REORDER_MAX_WAIT};
pub use socket::{Address, AddressSource, SocketId, SocketInfo};
use socket::{HeldData, Socket, Tombstone};
pub use tls::looks_like_tls_record;

/// Limits on what is held and tracked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// How long data may wait for a socket's addresses, from the first held event.
    pub hold_for: Nanos,
    /// The same, for a socket whose other views (the kernel's, the syscall's, the
    /// container IP) already give both ends: every stack measured that calls
    /// getsockname at all does so before its first data (README, "Hold-back").
    pub hold_complete_for: Nanos,
    /// Captured bytes held back across all sockets; over it the oldest are released.
    pub max_held_bytes: usize,
    /// Bytes waiting in all sockets' reorder windows (each also bounded by
    /// [`REORDER_MAX_BYTES`]); over it the oldest waiting record goes on after
    /// its gap, and the gap is counted.
    pub max_ordering_bytes: usize,
    /// Sockets tracked at once; over it the least recently active is dropped.
    pub max_sockets: usize,
    /// A socket with no events for this long is dropped.
    pub idle_after: Nanos,
    /// Aged-out and evicted sockets whose role and addresses are kept for data that
    /// comes later on their (pid, fd); over it the oldest are forgotten, and counted.
    pub max_tombstones: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            hold_for: 1_000_000_000,
            hold_complete_for: 10_000_000,
            max_held_bytes: 8 << 20,
            max_ordering_bytes: 16 << 20,
            max_sockets: 65_536,
            idle_after: 300 * 1_000_000_000,
            // About 100 bytes each (a TLS server name adds its length).
            max_tombstones: 16_384,
        }
    }
}

/// Why a socket's story ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EndReason {
    Closed,
    /// A new accept/connect/socket event took its (pid, fd) without a close seen.
    Replaced,
    AgedOut,
    Evicted,
    CaptureEnded,
}

impl EndReason {
    /// Said of a request that never got its response.
    pub fn describe(self) -> &'static str {
        match self {
            EndReason::Closed => "connection closed before the response",
            EndReason::Replaced => "socket replaced before the response",
            EndReason::AgedOut => "socket idle too long",
            EndReason::Evicted => "too many sockets tracked",
            EndReason::CaptureEnded => "capture ended",
        }
    }
}

/// What sockets hand on, in order. `Open` comes once, before the socket's first
/// `Data` or `Gap`; `End` comes last, and only for a socket that was opened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Released {
    Open(SocketInfo),
    Data {
        id: SocketId,
        direction: Direction,
        ts: Nanos,
        payload: Vec<u8>,
        /// Bytes the syscall moved past the captured payload.
        uncaptured: u64,
    },
    /// Bytes lost before the next data in `direction` (at `ts`); `None` when the
    /// positions went back and the amount is unknown.
    Gap {
        id: SocketId,
        direction: Direction,
        ts: Nanos,
        lost: Option<u64>,
    },
    End {
        id: SocketId,
        ts: Nanos,
        reason: EndReason,
    },
    /// The socket carries TLS and what follows is the plaintext `library` saw;
    /// comes once, before the first plaintext `Data`. `sni` and `version` are
    /// what its handshake showed in the clear, when it could be read.
    Tls {
        id: SocketId,
        library: TlsLibrary,
        sni: Option<String>,
        version: Option<String>,
    },
}

/// What is held back right now.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Gauge {
    pub sockets: usize,
    pub holding_sockets: usize,
    pub held_bytes: usize,
}

type Key = (u32, i32);

/// Sockets holding data back, oldest first, and the bytes they hold.
#[derive(Debug, Default)]
struct Held {
    bytes: usize,
    /// Bytes waiting in reorder windows, after release.
    ordering: usize,
    /// (held_since, generation, key).
    by_age: BTreeSet<(Nanos, u64, Key)>,
}

#[derive(Debug)]
pub struct Sockets {
    limits: Limits,
    /// Least recently active first: eviction and idle ageing take from that end.
    sockets: LruCache<Key, Socket>,
    /// (deadline, generation, key) of sockets holding data; entries of sockets
    /// released since are skipped when they come due.
    deadlines: BTreeSet<(Nanos, u64, Key)>,
    held: Held,
    tombstones: Option<LruCache<Key, Tombstone>>,
    tombstones_dropped: u64,
    generations: u64,
    now: Nanos,
    last_sweep: Nanos,
    /// (deadline, generation, key) of sockets with records waiting for the
    /// ones before them (see `reorder.rs`); entries may be stale.
    order_deadlines: BTreeSet<(Nanos, u64, Key)>,
    /// What the reorder windows of ended sockets did.
    order_stats: ReorderStats,
    /// `SSL*`s driven through memory BIOs, and the plaintext waiting for them
    /// to be tied to a socket.
    membio: Membio,
    /// Plaintext of tied `SSL*`s, to go on to their sockets.
    tied: Vec<(Tie, SslData)>,
}

impl Sockets {
    pub fn new(limits: Limits) -> Self {
        Sockets {
            limits,
            sockets: LruCache::unbounded(),
            deadlines: BTreeSet::new(),
            held: Held::default(),
            tombstones: NonZeroUsize::new(limits.max_tombstones).map(LruCache::new),
            tombstones_dropped: 0,
            generations: 0,
            now: 0,
            last_sweep: 0,
            order_deadlines: BTreeSet::new(),
            order_stats: ReorderStats::default(),
            membio: Membio::default(),
            tied: Vec::new(),
        }
    }

    /// What tying memory-BIO `SSL*`s to their sockets did so far.
    pub fn membio_stats(&self) -> MembioStats {
        self.membio.stats()
    }

    /// Processes whose memory-BIO plaintext was given up since the last call,
    /// each named once.
    pub fn take_given_up(&mut self) -> Vec<GivenUp> {
        self.membio.take_notices()
    }

    /// What the reorder windows did so far, over every socket.
    pub fn reorder_stats(&self) -> ReorderStats {
        let mut all = self.order_stats;
        for (_, s) in self.sockets.iter() {
            all.add(&s.order_stats);
        }
        all
    }

    pub fn gauge(&self) -> Gauge {
        Gauge {
            sockets: self.sockets.len(),
            holding_sockets: self.held.by_age.len(),
            held_bytes: self.held.bytes,
        }
    }

    /// Tombstones forgotten over `max_tombstones`: data that came later on their
    /// (pid, fd) had no addresses.
    pub fn tombstones_dropped(&self) -> u64 {
        self.tombstones_dropped
    }

    /// Applies one socket event (others are ignored), after the deadlines up to its time.
    /// Takes the event by value: a data event's payload moves on into what is
    /// released, rather than being copied once more.
    ///
    /// `container_ip` matters for a [`Connect`] only: the connecting process's
    /// container IP in the destination's address family, which the caller (who
    /// knows the containers) looks up. An outgoing connection whose process never
    /// calls getsockname, and whose local end the kernel did not show, gets its
    /// source IP from it.
    pub fn handle(&mut self, event: Event, container_ip: Option<IpAddr>, out: &mut Vec<Released>) {
        // Container, clock and loss events carry userspace time, which may run
        // ahead of kernel events still in the ring buffer.
        if event.task().is_some() {
            self.advance_time(event.ts(), out);
        }
        match event {
            Event::Accept(e) => self.accept(&e, out),
            Event::Connect(e) => self.connect(&e, container_ip, out),
            Event::Getsockname(e) => self.getsockname(&e, out),
            Event::Socket(e) => self.existing(&e, out),
            Event::Data(e) => self.data(e, out),
            Event::Unplaced(e) => self.unplaced(e, out),
            Event::Close(e) => self.close(&e, out),
            Event::SslData(e) => {
                if let Some(tied) = self.membio.ssl_data(e) {
                    self.tied.push(tied);
                }
            }
            Event::TlsHead(e) => self.membio.head(&e),
            Event::SslFree(e) => self.membio.free(&e),
            Event::Clock { .. }
            | Event::Container(_)
            | Event::Loss { .. }
            | Event::Overflow { .. } => {}
        }
        self.deliver_tied(out);
        self.enforce_ordering_cap(out);
    }

    /// Plaintext of tied `SSL*`s goes on as their socket's, while it lives.
    fn deliver_tied(&mut self, out: &mut Vec<Released>) {
        for (tie, d) in std::mem::take(&mut self.tied) {
            let key = (d.task.pid, tie.fd);
            match self.sockets.peek(&key) {
                Some(s) if s.info.id.generation == tie.generation => {
                    self.data(d.on_socket(tie.fd), out)
                }
                _ => self.membio.socket_gone(&d),
            }
        }
    }

    /// Applies deadlines and idle ageing up to `now` (event time, CLOCK_MONOTONIC).
    pub fn advance_time(&mut self, now: Nanos, out: &mut Vec<Released>) {
        if now <= self.now {
            return;
        }
        self.now = now;
        self.membio.expire(now);
        while let Some(&(deadline, generation, key)) = self.deadlines.first() {
            if deadline > now {
                break;
            }
            self.deadlines.pop_first();
            if let Some(s) = self.sockets.peek_mut(&key) {
                if s.info.id.generation == generation {
                    Self::release(s, &mut self.held, out);
                }
            }
        }
        while let Some(&(deadline, generation, key)) = self.order_deadlines.first() {
            if deadline > now {
                break;
            }
            self.order_deadlines.pop_first();
            // peek: a deadline is not activity, and must not refresh the LRU.
            if let Some(s) = self.sockets.peek_mut(&key) {
                if s.info.id.generation == generation {
                    Self::expire_order(s, now, &mut self.held, out);
                }
            }
            self.watch_order(key);
        }
        if now.saturating_sub(self.last_sweep) >= 1_000_000_000 {
            self.last_sweep = now;
            while let Some((&key, s)) = self.sockets.peek_lru() {
                if now.saturating_sub(s.last_active) < self.limits.idle_after {
                    break;
                }
                self.end(key, EndReason::AgedOut, out);
            }
        }
        self.enforce_ordering_cap(out);
    }

    /// Releases and ends every socket, oldest first. Returns how many were still
    /// holding data back.
    pub fn finish(&mut self, out: &mut Vec<Released>) -> usize {
        self.membio.finish();
        let holding = self.gauge().holding_sockets;
        let mut all: Vec<(u64, Key)> = self
            .sockets
            .iter()
            .map(|(k, s)| (s.info.id.generation, *k))
            .collect();
        all.sort_unstable();
        for (_, key) in all {
            self.end(key, EndReason::CaptureEnded, out);
        }
        holding
    }

    fn accept(&mut self, e: &Accept, out: &mut Vec<Released>) {
        let peer = e
            .peer
            .map(|p| Address::from_socket_addr(p, AddressSource::Accept));
        let s = self.open(
            e.ts,
            &e.task,
            e.fd,
            Some(Observer::Server),
            e.sock.unwrap_or_default(),
            out,
        );
        s.info.peer = peer.unwrap_or_default();
    }

    fn connect(&mut self, e: &Connect, container_ip: Option<IpAddr>, out: &mut Vec<Released>) {
        if !e.is_pending_or_ok() {
            return;
        }
        let s = self.open(
            e.ts,
            &e.task,
            e.fd,
            Some(Observer::Client),
            e.sock.unwrap_or_default(),
            out,
        );
        s.info.peer = e
            .peer
            .map(|p| Address::from_socket_addr(p, AddressSource::Connect))
            .unwrap_or_default();
        s.container_ip = container_ip;
    }

    fn existing(&mut self, e: &ExistingSocket, out: &mut Vec<Released>) {
        let s = self.open(e.ts, &e.task, e.fd, None, e.sock, out);
        s.fill_fallback();
    }

    fn getsockname(&mut self, e: &Getsockname, out: &mut Vec<Released>) {
        let Some(s) = self.sockets.get_mut(&(e.task.pid, e.fd)) else {
            return;
        };
        if s.released {
            return;
        }
        s.last_active = e.ts;
        s.info.local = Address::from_socket_addr(e.local, AddressSource::Getsockname);
        if s.is_ready() {
            Self::release(s, &mut self.held, out);
        }
    }

    /// The socket data on (pid, fd) belongs to, opened if no event introduced it.
    fn find_or_open(&mut self, ts: Nanos, task: &Task, fd: i32, out: &mut Vec<Released>) {
        let key = (task.pid, fd);
        if self.sockets.contains(&key) {
            return;
        }
        match self.tombstones.as_mut().and_then(|t| t.pop(&key)) {
            // The same connection, idle past `idle_after` or evicted: it goes
            // on with what was known of it, and fresh HTTP state.
            Some(tomb) => {
                let s = self.open(ts, task, fd, None, SockAddrs::default(), out);
                tomb.restore(s);
            }
            // Its introducing event was lost: nothing will complete it.
            None => {
                self.open(ts, task, fd, None, SockAddrs::default(), out);
            }
        }
    }

    fn data(&mut self, e: Data, out: &mut Vec<Released>) {
        let key = (e.task.pid, e.fd);
        self.find_or_open(e.ts, &e.task, e.fd, out);
        let Some(s) = self.sockets.get_mut(&key) else {
            return;
        };
        s.last_active = e.ts;
        if e.syscall.tls_library().is_none() && e.direction() == Direction::Send {
            if s.tls.is_some() {
                s.records.stop();
            } else if !s.records.is_stopped() {
                let mut heads = Vec::new();
                s.records
                    .feed(e.pos, e.payload.as_slice(), e.count, &mut heads);
                let tie = Tie {
                    fd: e.fd,
                    generation: s.info.id.generation,
                };
                for head in &heads {
                    if let Some(waiting) = self.membio.record(key.0, head, tie) {
                        self.tied.extend(waiting.into_iter().map(|d| (tie, d)));
                    }
                }
            }
        }
        let Some(s) = self.sockets.get_mut(&key) else {
            return;
        };
        let tls = match tls::admit(s, &e) {
            tls::Admit::Drop => return,
            tls::Admit::Pass => None,
            tls::Admit::FirstPlaintext(library) => Some(library),
        };
        let captured = e
            .payload
            .len()
            .min(usize::try_from(e.count).unwrap_or(usize::MAX));
        let direction = e.direction();
        let mut payload = e.payload.0;
        payload.truncate(captured);
        let held = HeldData {
            ts: e.ts,
            direction,
            pos: e.pos,
            count: e.count,
            payload,
            tls,
            unplaced: false,
        };
        self.hold(key, held, out);
    }

    /// A call whose bytes could not be placed: the range they are in goes down
    /// the socket's stream as a hole to declare lost (see [`reorder`]).
    fn unplaced(&mut self, e: Unplaced, out: &mut Vec<Released>) {
        let key = (e.task.pid, e.fd);
        self.find_or_open(e.ts, &e.task, e.fd, out);
        let Some(s) = self.sockets.get_mut(&key) else {
            return;
        };
        s.last_active = e.ts;
        s.order_stats.unplaced_calls += 1;
        s.order_stats.unplaced_bytes += e.count;
        if s.tls.is_some() {
            // Ciphertext, whose plaintext comes from the library's calls.
            return;
        }
        if e.direction() == Direction::Send {
            // TLS records can no longer be followed through the sent bytes.
            s.records.stop();
        }
        let held = HeldData {
            ts: e.ts,
            direction: e.direction(),
            pos: e.pos,
            count: e.len,
            payload: Vec::new(),
            tls: None,
            unplaced: true,
        };
        self.hold(key, held, out);
    }

    /// Data for the socket on `key`: held until its addresses are final, or on
    /// through its reorder window once they are.
    fn hold(&mut self, key: Key, held: HeldData, out: &mut Vec<Released>) {
        let Some(s) = self.sockets.get_mut(&key) else {
            return;
        };
        let ts = held.ts;
        if s.released {
            Self::emit(s, held, &mut self.held, out);
            self.watch_order(key);
            return;
        }
        s.held_bytes += held.payload.len();
        self.held.bytes += held.payload.len();
        s.held.push_back(held);
        if s.held_since.is_none() {
            s.held_since = Some(ts);
            let generation = s.info.id.generation;
            self.held.by_age.insert((ts, generation, key));
            let hold = if s.others_complete() {
                self.limits.hold_complete_for
            } else {
                self.limits.hold_for
            };
            self.deadlines
                .insert((ts.saturating_add(hold), generation, key));
        }
        if s.is_ready() {
            Self::release(s, &mut self.held, out);
        }
        self.watch_order(key);
        self.enforce_held_cap(out);
    }

    /// Puts a socket whose reorder windows wait on the deadline list.
    fn watch_order(&mut self, key: Key) {
        let Some(s) = self.sockets.peek(&key) else {
            return;
        };
        if let Some(deadline) = s.order.deadline() {
            self.order_deadlines
                .insert((deadline, s.info.id.generation, key));
        }
    }

    fn close(&mut self, e: &Close, out: &mut Vec<Released>) {
        let key = (e.task.pid, e.fd);
        if let Some(t) = self.tombstones.as_mut() {
            t.pop(&key);
        }
        self.end(key, EndReason::Closed, out);
    }

    /// Starts a new generation on (pid, fd), ending whatever was there.
    fn open(
        &mut self,
        ts: Nanos,
        task: &Task,
        fd: i32,
        role: Option<Observer>,
        kernel: SockAddrs,
        out: &mut Vec<Released>,
    ) -> &mut Socket {
        let key = (task.pid, fd);
        if let Some(t) = self.tombstones.as_mut() {
            t.pop(&key);
        }
        if self.sockets.contains(&key) {
            self.end(key, EndReason::Replaced, out);
        } else if self.sockets.len() >= self.limits.max_sockets {
            if let Some((&k, _)) = self.sockets.peek_lru() {
                self.end(k, EndReason::Evicted, out);
            }
        }
        self.generations += 1;
        let info = SocketInfo {
            id: SocketId {
                pid: task.pid,
                fd,
                generation: self.generations,
            },
            task: task.clone(),
            role,
            local: Address::default(),
            peer: Address::default(),
        };
        // `end` above took whatever was on `key`, so this inserts.
        self.sockets
            .get_or_insert_mut(key, || Socket::new(info, kernel, ts))
    }

    fn end(&mut self, key: Key, reason: EndReason, out: &mut Vec<Released>) {
        let Some(mut s) = self.sockets.pop(&key) else {
            return;
        };
        if matches!(reason, EndReason::AgedOut | EndReason::Evicted) {
            self.bury(key, &mut s);
        }
        if !s.released && s.held.is_empty() {
            // Never carried data: nothing downstream knows of it.
            return;
        }
        Self::release(&mut s, &mut self.held, out);
        Self::flush_order(&mut s, &mut self.held, out);
        self.order_stats.add(&s.order_stats);
        out.push(Released::End {
            id: s.info.id,
            ts: s.last_active.max(self.now),
            reason,
        });
    }

    /// Keeps what is known of a socket whose connection may well go on.
    fn bury(&mut self, key: Key, s: &mut Socket) {
        s.fill_fallback();
        let Some(tomb) = Tombstone::of(s) else {
            return;
        };
        let Some(tombstones) = self.tombstones.as_mut() else {
            self.tombstones_dropped += 1;
            return;
        };
        if let Some((old, _)) = tombstones.push(key, tomb) {
            if old != key {
                self.tombstones_dropped += 1;
            }
        }
    }

    fn enforce_held_cap(&mut self, out: &mut Vec<Released>) {
        while self.held.bytes > self.limits.max_held_bytes {
            let Some(&(_, generation, key)) = self.held.by_age.first() else {
                return;
            };
            match self.sockets.peek_mut(&key) {
                Some(s) if s.info.id.generation == generation => {
                    Self::release(s, &mut self.held, out)
                }
                // Not expected (release and end keep the index), but never loop.
                _ => {
                    self.held.by_age.pop_first();
                }
            }
        }
    }

    /// Makes the socket's addresses final and lets its held data go, in order.
    fn release(s: &mut Socket, held: &mut Held, out: &mut Vec<Released>) {
        if s.released {
            return;
        }
        s.fill_fallback();
        s.released = true;
        out.push(Released::Open(s.info.clone()));
        held.bytes -= s.held_bytes;
        s.held_bytes = 0;
        if let Some(since) = s.held_since.take() {
            held.by_age
                .remove(&(since, s.info.id.generation, (s.info.id.pid, s.info.id.fd)));
        }
        // Taken, not drained: a released socket holds nothing again, and the
        // queue's buffer would stay with it for the connection's life.
        for d in std::mem::take(&mut s.held) {
            Self::emit(s, d, held, out);
        }
    }

    fn emit(s: &mut Socket, d: HeldData, held: &mut Held, out: &mut Vec<Released>) {
        if let Some(library) = d.tls {
            // What waits is ciphertext from before; plaintext positions are a
            // stream of their own.
            Self::flush_order(s, held, out);
            s.order = Default::default();
            out.push(Released::Tls {
                id: s.info.id,
                library,
                sni: s.tls_sni.clone(),
                version: s.tls_version.clone(),
            });
        }
        if s.order.passes(&d) {
            return Self::send_data(s.info.id, d, out);
        }
        let now = d.ts;
        Self::in_window(s, held, out, |order, stats, ordered| {
            order.push(d, now, stats, ordered)
        });
    }

    /// Event time reached `now`: records that waited too long go, after their gap.
    fn expire_order(s: &mut Socket, now: Nanos, held: &mut Held, out: &mut Vec<Released>) {
        Self::in_window(s, held, out, |order, stats, ordered| {
            order.expire(now, stats, ordered)
        });
    }

    /// Everything the window holds goes, in order, with the gaps between.
    fn flush_order(s: &mut Socket, held: &mut Held, out: &mut Vec<Released>) {
        let ts = s.last_active;
        Self::in_window(s, held, out, |order, stats, ordered| {
            order.flush(stats, ordered, ts)
        });
    }

    /// Runs `f` on the socket's window, keeps the count of all windows' bytes,
    /// and hands on what the window let go.
    fn in_window(
        s: &mut Socket,
        held: &mut Held,
        out: &mut Vec<Released>,
        f: impl FnOnce(&mut reorder::Reorder, &mut ReorderStats, &mut Vec<Ordered>),
    ) {
        let mut ordered = Vec::new();
        let before = s.order.bytes();
        f(&mut s.order, &mut s.order_stats, &mut ordered);
        held.ordering = held.ordering - before + s.order.bytes();
        Self::send_ordered(s, &mut ordered, out);
    }

    /// Over `max_ordering_bytes`: the windows waiting longest give up, oldest
    /// record first.
    fn enforce_ordering_cap(&mut self, out: &mut Vec<Released>) {
        while self.held.ordering > self.limits.max_ordering_bytes {
            let Some(&(_, generation, key)) = self.order_deadlines.first() else {
                return;
            };
            match self.sockets.peek_mut(&key) {
                Some(s) if s.info.id.generation == generation && s.order.bytes() > 0 => {
                    // Each round lets at least one record go: the loop ends.
                    Self::in_window(s, &mut self.held, out, |order, stats, ordered| {
                        order.give_up(stats, ordered)
                    });
                }
                // Stale: the socket ended, or its window emptied since.
                _ => {
                    self.order_deadlines.pop_first();
                }
            }
            self.watch_order(key);
        }
    }

    fn send_ordered(s: &Socket, ordered: &mut Vec<Ordered>, out: &mut Vec<Released>) {
        let id = s.info.id;
        for o in ordered.drain(..) {
            match o {
                Ordered::Gap {
                    direction,
                    ts,
                    lost,
                } => out.push(Released::Gap {
                    id,
                    direction,
                    ts,
                    lost,
                }),
                Ordered::Data(d) => Self::send_data(id, d, out),
            }
        }
    }

    fn send_data(id: SocketId, d: HeldData, out: &mut Vec<Released>) {
        let uncaptured = d.count.saturating_sub(d.payload.len() as u64);
        out.push(Released::Data {
            id,
            direction: d.direction,
            ts: d.ts,
            payload: d.payload,
            uncaptured,
        });
    }
}
