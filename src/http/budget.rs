//! Byte budgets for what HTTP decoding keeps from outside data: bodies in
//! progress across all connections share one budget; what it refuses is counted,
//! and the message says its body was cut by it.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

/// A shared byte budget for bodies in progress; clones share the count.
#[derive(Debug, Clone)]
pub struct BodyBudget {
    used: Arc<AtomicUsize>,
    limit: usize,
}

impl BodyBudget {
    pub fn new(limit: usize) -> Self {
        Self {
            used: Arc::new(AtomicUsize::new(0)),
            limit,
        }
    }

    pub fn unlimited() -> Self {
        Self::new(usize::MAX)
    }

    /// Bytes held against the budget right now.
    pub fn used(&self) -> usize {
        self.used.load(Ordering::Relaxed)
    }

    /// Reserves up to `want` bytes; returns how many were granted.
    pub(super) fn take(&self, want: usize) -> usize {
        let mut granted = 0;
        let _ = self
            .used
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |used| {
                granted = want.min(self.limit.saturating_sub(used));
                Some(used + granted)
            });
        granted
    }

    pub(super) fn give_back(&self, n: usize) {
        let _ = self
            .used
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |used| {
                Some(used.saturating_sub(n))
            });
    }
}

/// What one connection's budgets dropped.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Drops {
    /// Body bytes not kept because bodies in progress were over their budget.
    pub body_bytes: u64,
    /// Bytes buffered while the connection's direction was undecided, dropped
    /// when they passed the sniffing budget.
    pub undecided_bytes: u64,
    /// Connections whose parsing stopped because requests waiting for their
    /// responses passed the per-connection budget.
    pub waiting_overflows: u64,
}

impl Drops {
    pub fn add(&mut self, other: Drops) {
        self.body_bytes += other.body_bytes;
        self.undecided_bytes += other.undecided_bytes;
        self.waiting_overflows += other.waiting_overflows;
    }

    pub fn is_empty(&self) -> bool {
        *self == Drops::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{Direction, Observer};
    use crate::http::{Connection, Exchange, MAX_WAITING};

    #[test]
    fn grants_up_to_the_limit_and_takes_back() {
        let budget = BodyBudget::new(10);
        let other = budget.clone();
        assert_eq!(budget.take(6), 6);
        assert_eq!(other.take(6), 4, "shared");
        assert_eq!(budget.take(1), 0);
        other.give_back(5);
        assert_eq!(budget.used(), 5);
        assert_eq!(budget.take(7), 5);
    }

    #[test]
    fn a_response_whose_request_is_never_seen_is_dropped_past_the_sniff_budget() {
        let mut c = Connection::new(None, 1 << 20);
        let mut out = Vec::new();
        c.feed(
            Direction::Recv,
            1,
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
            0,
            &mut out,
        );
        let mut fed = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n".len();
        let piece = vec![b'x'; 4096];
        while c.drops().undecided_bytes == 0 {
            c.feed(Direction::Recv, 2, &piece, 0, &mut out);
            fed += piece.len();
            assert!(fed < 100_000, "never dropped");
        }
        assert_eq!(
            c.drops().undecided_bytes,
            fed as u64,
            "every held byte counted"
        );
        assert!(fed > 64 * 1024);
        // The connection is done for: later bytes neither grow nor decode.
        c.feed(Direction::Send, 3, b"GET / HTTP/1.1\r\n\r\n", 0, &mut out);
        c.end(4, "capture ended", &mut out);
        assert!(out.is_empty());
    }

    #[test]
    fn requests_never_answered_stop_the_connection_past_the_waiting_budget() {
        let mut c = Connection::new(Some(Observer::Client), 1 << 20);
        let mut out: Vec<Exchange> = Vec::new();
        let body = vec![b'b'; 64 * 1024];
        let head = format!("POST /x HTTP/1.1\r\nContent-Length: {}\r\n\r\n", body.len());
        let mut sent = 0;
        while out.is_empty() {
            c.feed(Direction::Send, 1, head.as_bytes(), 0, &mut out);
            c.feed(Direction::Send, 1, &body, 0, &mut out);
            sent += 1;
            assert!(sent * body.len() < 2 * MAX_WAITING, "never stopped");
        }
        assert!(sent * body.len() > MAX_WAITING - body.len());
        assert_eq!(out.len(), sent, "every waiting request is written");
        assert!(out.iter().all(|e| e.response.is_none()
            && e.incomplete
                .as_deref()
                .is_some_and(|r| r.contains("budget"))));
        assert_eq!(c.drops().waiting_overflows, 1);
    }

    #[test]
    fn bodies_in_progress_share_one_budget_and_say_when_they_were_cut() {
        let budget = BodyBudget::new(100_000);
        let mut out = Vec::new();
        let head = b"POST /up HTTP/1.1\r\nContent-Length: 80000\r\n\r\n";
        let body = vec![b'b'; 80_000];
        let mut a = Connection::with_budget(Some(Observer::Client), 1 << 20, budget.clone());
        let mut b = Connection::with_budget(Some(Observer::Client), 1 << 20, budget.clone());
        a.feed(Direction::Send, 1, head, 0, &mut out);
        b.feed(Direction::Send, 1, head, 0, &mut out);
        a.feed(Direction::Send, 2, &body[..70_000], 0, &mut out);
        b.feed(Direction::Send, 2, &body[..70_000], 0, &mut out);
        assert_eq!(budget.used(), 100_000);
        a.feed(Direction::Send, 3, &body[70_000..], 0, &mut out);
        b.feed(Direction::Send, 3, &body[70_000..], 0, &mut out);
        assert_eq!(budget.used(), 0, "given back when the bodies are whole");
        let ok = b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";
        a.feed(Direction::Recv, 4, ok, 0, &mut out);
        b.feed(Direction::Recv, 4, ok, 0, &mut out);
        assert_eq!(out.len(), 2);
        // a kept 70,000 and b the 30,000 left; a's last 10,000 found it full,
        // and b's last 10,000 found what a gave back when it was whole.
        assert_eq!(out[0].request.body.kept.len(), 70_000);
        assert_eq!(out[1].request.body.kept.len(), 40_000);
        for e in &out {
            assert_eq!(e.request.body.size, 80_000);
            assert!(e.request.body.truncated && e.request.body.over_budget);
            assert!(e
                .incomplete
                .as_deref()
                .is_some_and(|r| r.contains("--body-budget")));
        }
        assert_eq!(a.drops().body_bytes, 10_000);
        assert_eq!(b.drops().body_bytes, 40_000);
        // Freed, a new body gets the whole budget again.
        let mut c = Connection::with_budget(Some(Observer::Client), 1 << 20, budget.clone());
        c.feed(Direction::Send, 5, head, 0, &mut out);
        c.feed(Direction::Send, 5, &body, 0, &mut out);
        assert_eq!(c.drops().body_bytes, 0);
    }
}
