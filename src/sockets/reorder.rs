//! Puts a socket's records back in byte-position order. BPF reserves `pos`
//! before the ring-buffer write, so two threads writing one socket can deliver
//! their records swapped. A record ahead of its direction's expected position
//! waits in a window bounded by bytes and by event time, and so does everything
//! that arrives after it, in either direction: HTTP pairs requests and responses
//! by time order, which holding one direction alone would scramble. Only when
//! the window overflows, or its oldest record has waited too long, are the
//! missing bytes declared a gap.
//!
//! An unplaced call ([`crate::event::Unplaced`]) comes as the range its bytes
//! are somewhere in. Other calls' records in that range are exact and go on as
//! usual; what no record fills there is the unplaced bytes, and is declared lost
//! at once, without waiting.

use std::collections::VecDeque;

use crate::event::{Direction, Nanos};

use super::socket::HeldData;

/// Bytes a socket's window holds before its oldest record goes on after a gap.
/// The bytes missing are almost always on their way: the thread that took their
/// positions was stopped between that and its ring-buffer write (preempted, or its
/// vCPU descheduled), while another thread wrote on at loopback speed. A CI run
/// saw 256 KiB overrun that way with nothing lost; the windows of all sockets
/// together are bounded by [`Limits::max_ordering_bytes`](super::Limits).
pub const REORDER_MAX_BYTES: usize = 4 << 20;
/// Event time a record may wait for the ones before it: long enough for a stopped
/// thread to run again, and below the hold-back's 1 s.
pub const REORDER_MAX_WAIT: Nanos = 500_000_000;
/// What one waiting record costs beyond its payload.
const RECORD_OVERHEAD: usize = 64;
/// Gaps remembered, so that a record arriving after its gap was declared is
/// known as late (and dropped) rather than taken for positions going back.
const GAPS_KEPT: usize = 8;

/// What comes out, in position order per direction.
#[derive(Debug)]
pub(super) enum Ordered {
    /// Bytes lost before the next record in `direction` (`None`: positions went back).
    Gap {
        direction: Direction,
        ts: Nanos,
        lost: Option<u64>,
    },
    Data(HeldData),
}

/// What the windows did, over all sockets.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReorderStats {
    /// Records that arrived after one ahead of them and were put before it.
    pub reordered: u64,
    /// Times the window gave up waiting and declared a gap.
    pub gaps: u64,
    /// Records that arrived after the bytes they carry were declared lost: dropped.
    pub late_records: u64,
    pub late_bytes: u64,
    /// Calls on a socket two threads moved bytes on at once, whose bytes' place
    /// in the stream is not known: their range was declared lost.
    pub unplaced_calls: u64,
    pub unplaced_bytes: u64,
}

impl ReorderStats {
    pub fn add(&mut self, other: &ReorderStats) {
        self.reordered += other.reordered;
        self.gaps += other.gaps;
        self.late_records += other.late_records;
        self.late_bytes += other.late_bytes;
        self.unplaced_calls += other.unplaced_calls;
        self.unplaced_bytes += other.unplaced_bytes;
    }
}

/// One socket's window.
#[derive(Debug, Default)]
pub(super) struct Reorder {
    /// Next expected position per direction.
    next: [Option<u64>; 2],
    /// Records not yet let go, in arrival order; the first one is ahead of its
    /// direction's position.
    waiting: VecDeque<HeldData>,
    bytes: usize,
    /// Byte ranges declared lost per direction, newest last.
    gaps: [Vec<(u64, u64)>; 2],
    /// Per direction, where the latest unplaced range ends: holes before it
    /// are declared lost as soon as a record waits behind them.
    unplaced_end: [u64; 2],
}

impl Reorder {
    /// `from_start`: the socket was seen to open (accept, connect), so each
    /// direction's positions start at 0 and a first record past 0 waits too.
    /// Otherwise the first record of a direction sets where it starts.
    pub fn new(from_start: bool) -> Self {
        Reorder {
            next: if from_start { [Some(0); 2] } else { [None; 2] },
            ..Default::default()
        }
    }

    /// When the window must give up on the bytes it waits for, if it waits.
    pub fn deadline(&self) -> Option<Nanos> {
        self.waiting
            .front()
            .map(|d| d.ts.saturating_add(REORDER_MAX_WAIT))
    }

    /// The common case, with nothing to allocate: true (and the position moves
    /// on) when `d` can go straight on, in position and with nothing waiting.
    pub fn passes(&mut self, d: &HeldData) -> bool {
        let next = &mut self.next[d.direction.index()];
        if d.unplaced || !self.waiting.is_empty() || next.is_some_and(|n| n != d.pos) {
            return false;
        }
        *next = Some(d.pos.saturating_add(d.count));
        true
    }

    /// A record arrives; `now` is event time.
    pub fn push(
        &mut self,
        d: HeldData,
        now: Nanos,
        stats: &mut ReorderStats,
        out: &mut Vec<Ordered>,
    ) {
        if self.waiting.is_empty() {
            if let Some(d) = self.settle(d, stats, out) {
                self.wait(d);
            }
        } else {
            self.wait(d);
            self.drain(stats, out);
        }
        self.lose_unplaced_holes(stats, out);
        while self.bytes > REORDER_MAX_BYTES {
            self.give_up_once(stats, out);
        }
        self.expire(now, stats, out);
    }

    /// The first waiting record waits on a hole inside an unplaced range: that
    /// much of the hole is the unplaced bytes, and is declared lost now.
    fn lose_unplaced_holes(&mut self, stats: &mut ReorderStats, out: &mut Vec<Ordered>) {
        while let Some(d) = self.waiting.front() {
            let dir = d.direction.index();
            let end = self.unplaced_end[dir];
            let Some(next) = self.next[dir].filter(|&n| n < end && n < d.pos) else {
                return;
            };
            let (direction, ts, to) = (d.direction, d.ts, d.pos.min(end));
            self.declare_lost(direction, next, to, ts, stats, out);
            self.drain(stats, out);
        }
    }

    /// Event time moved on: records that waited too long go, with the gap before them.
    pub fn expire(&mut self, now: Nanos, stats: &mut ReorderStats, out: &mut Vec<Ordered>) {
        while self.deadline().is_some_and(|d| d <= now) {
            self.give_up_once(stats, out);
        }
    }

    /// Bytes waiting, with what each record costs beyond its payload.
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// Over the budget of all windows: the oldest waiting record goes, after
    /// the gap before it, and what can follow it.
    pub fn give_up(&mut self, stats: &mut ReorderStats, out: &mut Vec<Ordered>) {
        self.give_up_once(stats, out);
    }

    /// Everything waiting goes, in order, with the gaps between, and what no
    /// record filled of an unplaced range at the end.
    pub fn flush(&mut self, stats: &mut ReorderStats, out: &mut Vec<Ordered>, ts: Nanos) {
        while !self.waiting.is_empty() {
            self.give_up_once(stats, out);
        }
        for direction in [Direction::Send, Direction::Recv] {
            let dir = direction.index();
            if let Some(next) = self.next[dir].filter(|&n| n < self.unplaced_end[dir]) {
                let end = self.unplaced_end[dir];
                self.declare_lost(direction, next, end, ts, stats, out);
            }
        }
    }

    fn wait(&mut self, d: HeldData) {
        self.bytes += d.payload.len() + RECORD_OVERHEAD;
        self.waiting.push_back(d);
    }

    fn unwait(&mut self, i: usize) -> Option<HeldData> {
        let d = self.waiting.remove(i)?;
        self.bytes -= d.payload.len() + RECORD_OVERHEAD;
        Some(d)
    }

    /// Lets go what can go: the first waiting record once it is in position (or
    /// late), or a later record of the same direction that fills the hole before it.
    fn drain(&mut self, stats: &mut ReorderStats, out: &mut Vec<Ordered>) {
        while let Some(first) = self.waiting.front() {
            let dir = first.direction.index();
            if !self.is_ahead(first) {
                if let Some(d) = self.unwait(0) {
                    self.settle(d, stats, out);
                }
                continue;
            }
            let filler = self
                .waiting
                .iter()
                .position(|d| d.direction.index() == dir && !self.is_ahead(d));
            let Some(d) = filler.and_then(|i| self.unwait(i)) else {
                return;
            };
            // It arrived after a record ahead of it, and goes before it.
            stats.reordered += 1;
            self.settle(d, stats, out);
        }
    }

    fn is_ahead(&self, d: &HeldData) -> bool {
        self.next[d.direction.index()].is_some_and(|next| d.pos > next)
    }

    /// Lets `d` go if it is in position; drops it when late; gives it back when
    /// it is ahead.
    fn settle(
        &mut self,
        d: HeldData,
        stats: &mut ReorderStats,
        out: &mut Vec<Ordered>,
    ) -> Option<HeldData> {
        let dir = d.direction.index();
        if d.unplaced {
            return self.settle_unplaced(d);
        }
        match self.next[dir] {
            Some(next) if d.pos > next => return Some(d),
            Some(next) if d.pos < next => {
                if self.was_declared_lost(dir, d.pos, d.count) {
                    stats.late_records += 1;
                    stats.late_bytes += d.count;
                    return None;
                }
                // Positions went back (the kernel's state for the fd was
                // recreated): missed bytes, but not how many.
                out.push(Ordered::Gap {
                    direction: d.direction,
                    ts: d.ts,
                    lost: None,
                });
            }
            _ => {}
        }
        self.next[dir] = Some(d.pos.saturating_add(d.count));
        out.push(Ordered::Data(d));
        None
    }

    /// An unplaced range in position (or ahead, given back to wait): what of
    /// it no record has filled yet is a hole that will not be filled.
    fn settle_unplaced(&mut self, d: HeldData) -> Option<HeldData> {
        let dir = d.direction.index();
        match self.next[dir] {
            Some(next) if d.pos > next => return Some(d),
            Some(_) => {}
            // The direction's first: its bytes start at the range.
            None => self.next[dir] = Some(d.pos),
        }
        let end = d.pos.saturating_add(d.count);
        self.unplaced_end[dir] = self.unplaced_end[dir].max(end);
        None
    }

    /// Declares [`from`, `to`) of `direction` lost and moves its position past it.
    fn declare_lost(
        &mut self,
        direction: Direction,
        from: u64,
        to: u64,
        ts: Nanos,
        stats: &mut ReorderStats,
        out: &mut Vec<Ordered>,
    ) {
        let dir = direction.index();
        stats.gaps += 1;
        let gaps = &mut self.gaps[dir];
        if gaps.len() == GAPS_KEPT {
            gaps.remove(0);
        }
        gaps.push((from, to));
        out.push(Ordered::Gap {
            direction,
            ts,
            lost: Some(to - from),
        });
        self.next[dir] = Some(to);
    }

    /// Declares the bytes before the first waiting record lost and lets it go,
    /// and what can follow it.
    fn give_up_once(&mut self, stats: &mut ReorderStats, out: &mut Vec<Ordered>) {
        let Some(d) = self.unwait(0) else {
            return;
        };
        let dir = d.direction.index();
        if let Some(next) = self.next[dir].filter(|next| d.pos > *next) {
            self.declare_lost(d.direction, next, d.pos, d.ts, stats, out);
        }
        self.settle(d, stats, out);
        self.drain(stats, out);
    }

    fn was_declared_lost(&self, dir: usize, pos: u64, count: u64) -> bool {
        let end = pos.saturating_add(count);
        self.gaps[dir]
            .iter()
            .any(|&(from, to)| pos >= from && end <= to)
    }
}
