//! OpenSSL driven through memory BIOs (grpcio, Node): its calls make no socket
//! I/O, so their plaintext comes keyed by `SSL*`. An `SSL*` is tied to a socket
//! when the first bytes of a BIO write OpenSSL made for it are found, on one
//! socket only, at the start of a TLS record the same process sent there. An
//! ambiguous match is refused and counted, never guessed; plaintext that finds
//! no socket waits within a byte budget and a time limit, and what they drop is
//! counted.

use std::collections::{BTreeSet, HashMap, VecDeque};

use crate::event::{Nanos, SslData, SslFree, TlsHead};

use super::tls::looks_like_tls_record;

/// Bytes compared: a record header and 11 bytes after it (ciphertext, or a
/// hello's random), what the kernel reports of each BIO write.
pub const HEAD_LEN: usize = 16;

/// Plaintext of `SSL*`s not tied yet, over all of them; past it the stream
/// waiting longest gives up.
pub const MAX_WAITING_BYTES: usize = 4 << 20;

/// How long plaintext waits for its `SSL*` to be tied, and a head to be found.
pub const MAX_WAIT: Nanos = 5_000_000_000;

/// Heads indexed at once (about 80 bytes each); past it the oldest is forgotten.
const MAX_HEADS: usize = 16 * 1024;

/// Heads indexed per `SSL*`: a handshake's few writes, and then some.
const HEADS_PER_STREAM: usize = 64;

/// `SSL*`s remembered at once (one that is never freed, in a process that
/// exits, would stay otherwise); past it the least recently used goes.
const MAX_STREAMS: usize = 64 * 1024;

type Head = [u8; HEAD_LEN];
type StreamKey = (u32, u64);

/// The socket an `SSL*` is tied to: its fd in the `SSL*`'s process, and the
/// generation, so that a later socket on the same fd is never taken for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tie {
    pub fd: i32,
    pub generation: u64,
}

/// What tying did, for the summary.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MembioStats {
    /// `SSL*`s tied to their socket.
    pub tied: u64,
    /// Matches refused: one head written by several `SSL*`s, or found on several
    /// sockets, or one `SSL*`'s heads found on two sockets.
    pub ambiguous: u64,
    /// `SSL*`s whose plaintext was given up: never tied in time or within the
    /// budget, refused, or their socket was gone.
    pub given_up: u64,
    /// Plaintext bytes dropped with them.
    pub dropped_bytes: u64,
    /// Heads forgotten over the index's cap before they could be matched.
    pub heads_forgotten: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fate {
    Untied,
    Tied(Tie),
    GivenUp,
}

#[derive(Debug)]
struct Stream {
    fate: Fate,
    waiting: VecDeque<SslData>,
    waiting_bytes: usize,
    waiting_since: Option<Nanos>,
    heads: Vec<Head>,
    last_used: u64,
}

impl Stream {
    fn new(last_used: u64) -> Self {
        Stream {
            fate: Fate::Untied,
            waiting: VecDeque::new(),
            waiting_bytes: 0,
            waiting_since: None,
            heads: Vec::new(),
            last_used,
        }
    }
}

#[derive(Debug)]
struct HeadEntry {
    ssls: Vec<u64>,
    at: Nanos,
    /// The socket whose record it was found at first.
    found_at: Option<Tie>,
}

/// The `SSL*`s reported by themselves, and the heads they wrote.
#[derive(Debug, Default)]
pub struct Membio {
    streams: HashMap<StreamKey, Stream>,
    heads: HashMap<(u32, Head), HeadEntry>,
    /// Heads in the order they came, for the time limit and the cap.
    head_order: VecDeque<(Nanos, u32, Head)>,
    /// Untied streams with plaintext waiting: (since, pid, ssl).
    waiting_order: BTreeSet<(Nanos, u32, u64)>,
    waiting_bytes: usize,
    uses: u64,
    stats: MembioStats,
}

impl Membio {
    pub fn stats(&self) -> MembioStats {
        self.stats
    }

    /// Makes sure `key` has a stream (within [`MAX_STREAMS`]) and marks it used.
    fn touch(&mut self, key: StreamKey) {
        self.uses += 1;
        let uses = self.uses;
        if !self.streams.contains_key(&key) && self.streams.len() >= MAX_STREAMS {
            let oldest = self
                .streams
                .iter()
                .min_by_key(|(_, s)| s.last_used)
                .map(|(k, _)| *k);
            if let Some(oldest) = oldest {
                self.give_up(oldest);
                self.streams.remove(&oldest);
            }
        }
        let s = self.streams.entry(key).or_insert_with(|| Stream::new(uses));
        s.last_used = uses;
    }

    /// A BIO write of `e.ssl`: indexed while the `SSL*` is not tied.
    pub fn head(&mut self, e: &TlsHead) {
        let Ok(head) = Head::try_from(e.head.as_slice()) else {
            return; // a write shorter than a head tells too little
        };
        let key = (e.task.pid, e.ssl);
        self.touch(key);
        let Some(s) = self.streams.get_mut(&key) else {
            return;
        };
        if s.fate != Fate::Untied || s.heads.len() >= HEADS_PER_STREAM || s.heads.contains(&head) {
            return;
        }
        s.heads.push(head);
        let entry = self
            .heads
            .entry((e.task.pid, head))
            .or_insert_with(|| HeadEntry {
                ssls: Vec::new(),
                at: e.ts,
                found_at: None,
            });
        if !entry.ssls.contains(&e.ssl) {
            entry.ssls.push(e.ssl);
        }
        self.head_order.push_back((e.ts, e.task.pid, head));
        while self.head_order.len() > MAX_HEADS {
            if let Some((at, pid, head)) = self.head_order.pop_front() {
                if self.forget_head(at, pid, head) {
                    self.stats.heads_forgotten += 1;
                }
            }
        }
    }

    /// Removes the head entry made at `at`; whether there was one.
    fn forget_head(&mut self, at: Nanos, pid: u32, head: Head) -> bool {
        match self.heads.get(&(pid, head)) {
            Some(entry) if entry.at == at => {
                self.heads.remove(&(pid, head));
                true
            }
            _ => false,
        }
    }

    /// Plaintext of `e.ssl`: back with its socket when the `SSL*` is tied;
    /// otherwise it waits (or is dropped, and counted).
    pub fn ssl_data(&mut self, e: SslData) -> Option<(Tie, SslData)> {
        let key = (e.task.pid, e.ssl);
        self.touch(key);
        let s = self.streams.get_mut(&key)?;
        match s.fate {
            Fate::Tied(tie) => return Some((tie, e)),
            Fate::GivenUp => {
                self.stats.dropped_bytes += e.count;
                return None;
            }
            Fate::Untied => {}
        }
        let bytes = e.payload.len();
        if s.waiting_since.is_none() {
            s.waiting_since = Some(e.ts);
            self.waiting_order.insert((e.ts, key.0, key.1));
        }
        s.waiting_bytes += bytes;
        s.waiting.push_back(e);
        self.waiting_bytes += bytes;
        while self.waiting_bytes > MAX_WAITING_BYTES {
            let Some(&(_, pid, ssl)) = self.waiting_order.first() else {
                break;
            };
            self.give_up((pid, ssl));
        }
        None
    }

    /// A record that `pid` sent on the socket `tie` begins with `head`: when
    /// that ties an `SSL*`, its waiting plaintext comes back, in order.
    pub fn record(&mut self, pid: u32, head: &Head, tie: Tie) -> Option<Vec<SslData>> {
        let entry = self.heads.get_mut(&(pid, *head))?;
        if let Some(first) = entry.found_at {
            if first != tie {
                // The same bytes on two sockets: neither can be told.
                let ssls = std::mem::take(&mut entry.ssls);
                self.stats.ambiguous += 1;
                for ssl in ssls {
                    self.give_up((pid, ssl));
                }
            }
            return None;
        }
        entry.found_at = Some(tie);
        let [ssl] = entry.ssls[..] else {
            // Written by several SSL*s: refused (each may still tie by another head).
            self.stats.ambiguous += 1;
            return None;
        };
        let s = self.streams.get_mut(&(pid, ssl))?;
        match s.fate {
            Fate::Untied => {
                s.fate = Fate::Tied(tie);
                self.stats.tied += 1;
                let waiting = std::mem::take(&mut s.waiting);
                self.waiting_bytes -= s.waiting_bytes;
                s.waiting_bytes = 0;
                if let Some(since) = s.waiting_since.take() {
                    self.waiting_order.remove(&(since, pid, ssl));
                }
                Some(waiting.into())
            }
            Fate::Tied(t) if t == tie => None,
            Fate::Tied(_) => {
                // One SSL*'s records on two sockets: what was tied may be wrong
                // from here on, so nothing more goes out.
                self.stats.ambiguous += 1;
                self.give_up((pid, ssl));
                None
            }
            Fate::GivenUp => None,
        }
    }

    /// The `SSL*` was freed: its stream ends, and its address may come back.
    pub fn free(&mut self, e: &SslFree) {
        let key = (e.task.pid, e.ssl);
        if let Some(Fate::Untied) = self.streams.get(&key).map(|s| s.fate) {
            if self
                .streams
                .get(&key)
                .is_some_and(|s| !s.waiting.is_empty())
            {
                self.give_up(key);
            }
        }
        if let Some(s) = self.streams.remove(&key) {
            for head in s.heads {
                if let Some(entry) = self.heads.get_mut(&(key.0, head)) {
                    entry.ssls.retain(|&ssl| ssl != key.1);
                }
            }
        }
    }

    /// Plaintext of a tied `SSL*` whose socket is gone: dropped, and the rest
    /// of the stream with it.
    pub fn socket_gone(&mut self, e: &SslData) {
        self.stats.dropped_bytes += e.count;
        self.give_up((e.task.pid, e.ssl));
    }

    /// Gives up what waited longer than [`MAX_WAIT`] by `now`, and forgets
    /// heads as old.
    pub fn expire(&mut self, now: Nanos) {
        let cutoff = now.saturating_sub(MAX_WAIT);
        while let Some(&(since, pid, ssl)) = self.waiting_order.first() {
            if since > cutoff {
                break;
            }
            self.give_up((pid, ssl));
        }
        while let Some(&(at, pid, head)) = self.head_order.front() {
            if at > cutoff {
                break;
            }
            self.head_order.pop_front();
            self.forget_head(at, pid, head);
        }
    }

    /// The `SSL*`'s plaintext, waiting and to come, is dropped and counted.
    fn give_up(&mut self, key: StreamKey) {
        let Some(s) = self.streams.get_mut(&key) else {
            return;
        };
        if s.fate != Fate::GivenUp {
            self.stats.given_up += 1;
        }
        s.fate = Fate::GivenUp;
        self.stats.dropped_bytes += s.waiting.iter().map(|d| d.count).sum::<u64>();
        s.waiting.clear();
        self.waiting_bytes -= s.waiting_bytes;
        s.waiting_bytes = 0;
        if let Some(since) = s.waiting_since.take() {
            self.waiting_order.remove(&(since, key.0, key.1));
        }
    }

    /// At the end of the run: what still waits is given up.
    pub fn finish(&mut self) {
        while let Some(&(_, pid, ssl)) = self.waiting_order.first() {
            self.give_up((pid, ssl));
        }
    }
}

/// The send direction of one socket's ciphertext, walked record by record to
/// take the first [`HEAD_LEN`] bytes at each record start. It stops for good
/// at anything that is not a TLS record, and at a gap it cannot step over.
#[derive(Debug, Default)]
pub struct RecordWalk {
    state: Walk,
    next_pos: u64,
    /// Bytes of the current record still to pass.
    skip: u64,
    /// A record header being gathered across pieces.
    header: Vec<u8>,
    /// Heads being gathered across pieces.
    partial: Vec<Vec<u8>>,
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
enum Walk {
    #[default]
    Start,
    Walking,
    Stopped,
}

impl RecordWalk {
    /// Walks one piece of the direction (`count` bytes at `pos`, of which
    /// `payload` were captured) and adds the heads completed in it to `out`.
    pub fn feed(&mut self, pos: u64, payload: &[u8], count: u64, out: &mut Vec<Head>) {
        match self.state {
            Walk::Stopped => return,
            Walk::Start if looks_like_tls_record(payload) => self.state = Walk::Walking,
            Walk::Start => return self.stop(),
            Walk::Walking if pos != self.next_pos => return self.stop(),
            Walk::Walking => {}
        }
        let captured = payload
            .len()
            .min(usize::try_from(count).unwrap_or(usize::MAX));
        let bytes = &payload[..captured];
        self.next_pos = pos.saturating_add(count);
        for head in &mut self.partial {
            let need = HEAD_LEN - head.len();
            head.extend_from_slice(&bytes[..need.min(bytes.len())]);
        }
        let mut i = 0;
        loop {
            let step = usize::try_from(self.skip)
                .unwrap_or(usize::MAX)
                .min(bytes.len() - i);
            i += step;
            self.skip -= step as u64;
            if i == bytes.len() {
                break;
            }
            if self.header.is_empty() {
                self.partial
                    .push(bytes[i..(i + HEAD_LEN).min(bytes.len())].to_vec());
            }
            let need = 5 - self.header.len();
            let take = need.min(bytes.len() - i);
            self.header.extend_from_slice(&bytes[i..i + take]);
            i += take;
            if self.header.len() < 5 {
                break;
            }
            if !looks_like_tls_record(&self.header) {
                return self.stop();
            }
            self.skip = u64::from(u16::from_be_bytes([self.header[3], self.header[4]]));
            self.header.clear();
        }
        let uncaptured = count.saturating_sub(captured as u64);
        if uncaptured > 0 {
            // Bytes not seen: a record may begin among them only past `skip`.
            if uncaptured > self.skip || !self.header.is_empty() {
                return self.stop();
            }
            self.skip -= uncaptured;
        }
        self.partial.retain(|head| {
            if head.len() < HEAD_LEN {
                return uncaptured == 0;
            }
            if let Ok(h) = Head::try_from(head.as_slice()) {
                out.push(h);
            }
            false
        });
    }

    /// No more walking: the socket is tied, its plaintext comes by other means,
    /// or its bytes are not (or no longer) followed.
    pub fn stop(&mut self) {
        self.state = Walk::Stopped;
        self.header = Vec::new();
        self.partial = Vec::new();
    }

    pub fn is_stopped(&self) -> bool {
        self.state == Walk::Stopped
    }
}
