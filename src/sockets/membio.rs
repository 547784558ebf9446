//! OpenSSL driven through memory BIOs (grpcio, Node): its calls make no socket
//! I/O, so their plaintext comes keyed by `SSL*`. An `SSL*` is tied to a socket
//! when the first bytes of a BIO write OpenSSL made for it are found, on one
//! socket only, at the start of a TLS record the same process sent there. An
//! ambiguous match is refused and counted, never guessed; plaintext that finds
//! no socket waits within a byte budget and a time limit, and what they drop is
//! counted.

use std::collections::{BTreeSet, HashMap, VecDeque};

use compact_str::CompactString;

use crate::event::{Nanos, SslData, SslFree, TlsHead};

use super::records::Head;

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
    /// `SSL*`s tied to their socket that had plaintext to give (a program on
    /// socket BIOs ties too, from its first handshake write, but has none).
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
    /// Plaintext went on to the tied socket (counted once, in `tied`).
    delivered: bool,
    /// The process's name, from its first plaintext.
    comm: CompactString,
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
            delivered: false,
            comm: CompactString::default(),
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
    /// Processes named in a notice already.
    named: Vec<u32>,
    notices: Vec<GivenUp>,
}

/// Processes named on stderr, at most (a notice per process, not per `SSL*`).
const MAX_NAMED: usize = 1024;

/// Why an `SSL*`'s plaintext was given up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WhyGivenUp {
    /// No record of its was found on a socket within [`MAX_WAIT`], or before
    /// it was freed or the run ended.
    NeverTied,
    OverBudget,
    Ambiguous,
    SocketGone,
    Evicted,
}

impl WhyGivenUp {
    pub fn describe(self) -> &'static str {
        match self {
            WhyGivenUp::NeverTied => {
                "its SSL calls made no socket I/O of their own (memory BIOs), and no record \
                 they wrote was found on one of its sockets in time"
            }
            WhyGivenUp::OverBudget => {
                "its SSL calls made no socket I/O of their own (memory BIOs), and their \
                 plaintext waited for its socket past the 4 MiB budget"
            }
            WhyGivenUp::Ambiguous => {
                "its SSL calls made no socket I/O of their own (memory BIOs), and the records \
                 they wrote matched more than one socket"
            }
            WhyGivenUp::SocketGone => {
                "its SSL calls made no socket I/O of their own (memory BIOs), and the socket \
                 they were tied to was gone"
            }
            WhyGivenUp::Evicted => "more SSL* than flowtap tracks at once were in use",
        }
    }
}

/// The first `SSL*` of a process given up with plaintext lost: for one line on stderr.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GivenUp {
    pub pid: u32,
    pub comm: CompactString,
    pub why: WhyGivenUp,
}

impl Membio {
    pub fn stats(&self) -> MembioStats {
        self.stats
    }

    /// Processes whose plaintext was given up since the last call, each once.
    pub fn take_notices(&mut self) -> Vec<GivenUp> {
        std::mem::take(&mut self.notices)
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
                self.give_up(oldest, WhyGivenUp::Evicted);
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
        if s.comm.is_empty() {
            s.comm.clone_from(&e.task.comm);
        }
        match s.fate {
            Fate::Tied(tie) => {
                if !s.delivered {
                    s.delivered = true;
                    self.stats.tied += 1;
                }
                return Some((tie, e));
            }
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
            self.give_up((pid, ssl), WhyGivenUp::OverBudget);
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
                    self.give_up((pid, ssl), WhyGivenUp::Ambiguous);
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
                if !s.waiting.is_empty() {
                    s.delivered = true;
                    self.stats.tied += 1;
                }
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
                self.give_up((pid, ssl), WhyGivenUp::Ambiguous);
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
                self.give_up(key, WhyGivenUp::NeverTied);
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
        self.give_up((e.task.pid, e.ssl), WhyGivenUp::SocketGone);
    }

    /// Gives up what waited longer than [`MAX_WAIT`] by `now`, and forgets
    /// heads as old.
    pub fn expire(&mut self, now: Nanos) {
        let cutoff = now.saturating_sub(MAX_WAIT);
        while let Some(&(since, pid, ssl)) = self.waiting_order.first() {
            if since > cutoff {
                break;
            }
            self.give_up((pid, ssl), WhyGivenUp::NeverTied);
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
    fn give_up(&mut self, key: StreamKey, why: WhyGivenUp) {
        let Some(s) = self.streams.get_mut(&key) else {
            return;
        };
        if s.fate != Fate::GivenUp {
            self.stats.given_up += 1;
            // Named once per process; a program on socket BIOs that tied
            // without plaintext and then lost its socket is no news.
            let worth = s.delivered || !s.waiting.is_empty();
            if worth && self.named.len() < MAX_NAMED && !self.named.contains(&key.0) {
                self.named.push(key.0);
                self.notices.push(GivenUp {
                    pid: key.0,
                    comm: s.comm.clone(),
                    why,
                });
            }
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
            self.give_up((pid, ssl), WhyGivenUp::NeverTied);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bytes::Bytes;
    use crate::event::{Accept, Data, Event, Syscall, Task};
    use crate::sockets::records::tests::{head_of, record};
    use crate::sockets::records::HEAD_LEN;
    use crate::sockets::{Limits, Released, Sockets};

    fn task(pid: u32) -> Task {
        Task {
            pid,
            tid: pid,
            comm: "python3".into(),
            cgroup: 0,
        }
    }

    fn tls_head(ts: Nanos, pid: u32, ssl: u64, bytes: &[u8]) -> TlsHead {
        TlsHead {
            ts,
            task: task(pid),
            ssl,
            len: bytes.len() as u64,
            head: Bytes(bytes[..bytes.len().min(HEAD_LEN)].to_vec()),
        }
    }

    fn plain(ts: Nanos, pid: u32, ssl: u64, syscall: Syscall, pos: u64, text: &[u8]) -> SslData {
        SslData {
            ts,
            task: task(pid),
            ssl,
            syscall,
            pos,
            count: text.len() as u64,
            payload: Bytes(text.to_vec()),
            truncated: false,
        }
    }

    const TIE: Tie = Tie {
        fd: 7,
        generation: 1,
    };

    #[test]
    fn a_unique_match_ties_and_hands_back_what_waited_in_order() {
        let mut m = Membio::default();
        let r = record(9, 40);
        m.head(&tls_head(1, 10, 0xaa, &r));
        assert!(m
            .ssl_data(plain(2, 10, 0xaa, Syscall::SslWrite, 0, b"one"))
            .is_none());
        assert!(m
            .ssl_data(plain(3, 10, 0xaa, Syscall::SslWrite, 3, b"two"))
            .is_none());
        // Another process's socket with the same bytes is not this SSL*'s.
        assert!(m.record(11, &head_of(&r), TIE).is_none());
        let back = m.record(10, &head_of(&r), TIE).expect("tied");
        let texts: Vec<&[u8]> = back.iter().map(|d| d.payload.as_slice()).collect();
        assert_eq!(texts, [b"one", b"two"]);
        // Later plaintext goes straight to the socket.
        let (tie, d) = m
            .ssl_data(plain(4, 10, 0xaa, Syscall::SslRead, 0, b"three"))
            .expect("goes on");
        assert_eq!((tie, d.payload.as_slice()), (TIE, &b"three"[..]));
        assert_eq!(m.stats().tied, 1);
        assert_eq!(m.stats().ambiguous, 0);
    }

    #[test]
    fn a_tie_counts_once_its_ssl_has_plaintext() {
        // A program on socket BIOs (curl) ties from its first handshake write,
        // and never has plaintext keyed by SSL*: it is not counted.
        let mut m = Membio::default();
        let r = record(9, 40);
        m.head(&tls_head(1, 10, 0xaa, &r));
        assert_eq!(m.record(10, &head_of(&r), TIE).map(|v| v.len()), Some(0));
        assert_eq!(m.stats().tied, 0);
        assert!(m
            .ssl_data(plain(2, 10, 0xaa, Syscall::SslRead, 0, b"x"))
            .is_some());
        assert!(m
            .ssl_data(plain(3, 10, 0xaa, Syscall::SslRead, 1, b"y"))
            .is_some());
        assert_eq!(m.stats().tied, 1);
    }

    #[test]
    fn a_head_written_by_two_ssls_is_refused_and_counted() {
        let mut m = Membio::default();
        let r = record(9, 40);
        m.head(&tls_head(1, 10, 0xaa, &r));
        m.head(&tls_head(2, 10, 0xbb, &r));
        m.ssl_data(plain(3, 10, 0xaa, Syscall::SslWrite, 0, b"x"));
        assert!(m.record(10, &head_of(&r), TIE).is_none());
        assert_eq!(m.stats().ambiguous, 1);
        assert_eq!(m.stats().tied, 0);
        // Another head of its own still ties it.
        let own = record(5, 40);
        m.head(&tls_head(4, 10, 0xaa, &own));
        assert_eq!(m.record(10, &head_of(&own), TIE).map(|v| v.len()), Some(1));
    }

    #[test]
    fn a_head_found_on_two_sockets_gives_its_ssl_up() {
        let mut m = Membio::default();
        let r = record(9, 40);
        let other = Tie {
            fd: 8,
            generation: 2,
        };
        m.head(&tls_head(1, 10, 0xaa, &r));
        assert!(m.record(10, &head_of(&r), TIE).is_some());
        assert!(m.record(10, &head_of(&r), other).is_none());
        assert_eq!(m.stats().ambiguous, 1);
        assert_eq!(m.stats().given_up, 1);
        // Nothing more goes out, to either socket: it is counted instead.
        assert!(m
            .ssl_data(plain(5, 10, 0xaa, Syscall::SslWrite, 0, b"late"))
            .is_none());
        assert_eq!(m.stats().dropped_bytes, 4);
    }

    #[test]
    fn one_ssls_heads_on_two_sockets_give_it_up() {
        let mut m = Membio::default();
        let (r1, r2) = (record(1, 40), record(2, 40));
        m.head(&tls_head(1, 10, 0xaa, &r1));
        m.head(&tls_head(2, 10, 0xaa, &r2));
        assert!(m.record(10, &head_of(&r1), TIE).is_some());
        let other = Tie {
            fd: 8,
            generation: 2,
        };
        assert!(m.record(10, &head_of(&r2), other).is_none());
        assert_eq!((m.stats().ambiguous, m.stats().given_up), (1, 1));
    }

    #[test]
    fn plaintext_waits_within_the_byte_budget_oldest_giving_up_first() {
        let mut m = Membio::default();
        let big = vec![b'a'; MAX_WAITING_BYTES / 2 + 1];
        m.ssl_data(plain(1, 10, 0xaa, Syscall::SslWrite, 0, &big));
        m.ssl_data(plain(2, 10, 0xbb, Syscall::SslWrite, 0, &big));
        let stats = m.stats();
        assert_eq!(stats.given_up, 1);
        assert_eq!(stats.dropped_bytes, big.len() as u64);
        // The one given up stays given up: its later bytes are counted too.
        m.ssl_data(plain(3, 10, 0xaa, Syscall::SslWrite, 0, b"more"));
        assert_eq!(m.stats().dropped_bytes, big.len() as u64 + 4);
        // The other still ties.
        let r = record(3, 40);
        m.head(&tls_head(4, 10, 0xbb, &r));
        assert_eq!(m.record(10, &head_of(&r), TIE).map(|v| v.len()), Some(1));
    }

    #[test]
    fn plaintext_and_heads_give_up_after_the_time_limit() {
        let mut m = Membio::default();
        let r = record(3, 40);
        m.head(&tls_head(1, 10, 0xaa, &r));
        m.ssl_data(plain(1, 10, 0xaa, Syscall::SslWrite, 0, b"hello"));
        m.expire(MAX_WAIT);
        assert_eq!(m.stats().given_up, 0);
        m.expire(MAX_WAIT + 1);
        assert_eq!((m.stats().given_up, m.stats().dropped_bytes), (1, 5));
        // Named once, for one line on stderr.
        assert_eq!(
            m.take_notices(),
            [GivenUp {
                pid: 10,
                comm: "python3".into(),
                why: WhyGivenUp::NeverTied
            }]
        );
        assert!(m.take_notices().is_empty());
        // The head was forgotten with it.
        assert!(m.record(10, &head_of(&r), TIE).is_none());
        assert_eq!(m.stats().tied, 0);
    }

    #[test]
    fn free_ends_a_stream_and_its_address_may_tie_afresh() {
        let mut m = Membio::default();
        let r1 = record(1, 40);
        m.head(&tls_head(1, 10, 0xaa, &r1));
        m.ssl_data(plain(2, 10, 0xaa, Syscall::SslWrite, 0, b"lost"));
        m.free(&SslFree {
            ts: 3,
            task: task(10),
            ssl: 0xaa,
        });
        assert_eq!((m.stats().given_up, m.stats().dropped_bytes), (1, 4));
        assert!(m.record(10, &head_of(&r1), TIE).is_none());
        // A new SSL at the same address.
        let r2 = record(2, 40);
        m.head(&tls_head(4, 10, 0xaa, &r2));
        m.ssl_data(plain(5, 10, 0xaa, Syscall::SslWrite, 0, b"new"));
        assert_eq!(m.record(10, &head_of(&r2), TIE).map(|v| v.len()), Some(1));
    }

    #[test]
    fn heads_shorter_than_a_head_are_not_indexed() {
        let mut m = Membio::default();
        let ccs = [0x14, 0x03, 0x03, 0x00, 0x01, 0x01];
        m.head(&tls_head(1, 10, 0xaa, &ccs));
        let mut padded = [0u8; HEAD_LEN];
        padded[..ccs.len()].copy_from_slice(&ccs);
        assert!(m.record(10, &padded, TIE).is_none());
        assert_eq!(m.stats(), MembioStats::default());
    }

    /// The socket layer end to end: the SSL*'s plaintext waits, the socket's
    /// first sent record ties it, and the plaintext goes on as the socket's.
    #[test]
    fn sockets_release_tied_plaintext_as_the_sockets_own() {
        let mut sockets = Sockets::new(Limits::default());
        let mut out = Vec::new();
        let hello = {
            let mut r = vec![
                0x16, 0x03, 0x01, 0x00, 0x20, 0x01, 0x00, 0x00, 0x1c, 0x03, 0x03,
            ];
            r.extend(1..=27u8);
            r
        };
        let events = vec![
            Event::Accept(Accept {
                ts: 1,
                task: task(10),
                fd: 7,
                peer: Some("127.0.0.1:5000".parse().unwrap()),
                sock: Some(crate::event::SockAddrs {
                    local: Some("127.0.0.1:443".parse().unwrap()),
                    peer: Some("127.0.0.1:5000".parse().unwrap()),
                }),
            }),
            Event::TlsHead(tls_head(2, 10, 0xaa, &hello)),
            Event::SslData(plain(3, 10, 0xaa, Syscall::SslWrite, 0, b"PRI * HTTP/2.0")),
            Event::Data(Data {
                ts: 4,
                task: task(10),
                fd: 7,
                syscall: Syscall::Sendmsg,
                pos: 0,
                count: hello.len() as u64,
                payload: Bytes(hello.clone()),
                truncated: false,
            }),
            Event::SslData(plain(5, 10, 0xaa, Syscall::SslRead, 0, b"\0\0\0\x04")),
        ];
        for e in events {
            sockets.handle(e, None, &mut out);
        }
        sockets.finish(&mut out);
        let kinds: Vec<String> = out
            .iter()
            .map(|r| match r {
                Released::Open(i) => format!("open {}", i.id.fd),
                Released::Tls { library, .. } => format!("tls {library:?}"),
                Released::Data {
                    id,
                    direction,
                    payload,
                    ..
                } => format!(
                    "{} {direction:?} {:?}",
                    id.fd,
                    String::from_utf8_lossy(payload)
                ),
                Released::End { .. } => "end".into(),
                other => format!("{other:?}"),
            })
            .collect();
        assert_eq!(
            kinds,
            [
                "open 7",
                "tls Openssl",
                "7 Send \"PRI * HTTP/2.0\"",
                "7 Recv \"\\0\\0\\0\\u{4}\"",
                "end"
            ]
        );
        assert_eq!(sockets.membio_stats().tied, 1);
    }
}
