//! Finding the way back after a gap on an HTTP/1 connection whose role is known,
//! instead of giving up on every later exchange. Each direction drops bytes until
//! a syscall starts with a message head; requests and responses then pair by
//! time order. Where that order could be ambiguous the connection stops as before.
//!
//! # Why an accepted case cannot mispair
//!
//! Assumptions, each checked where it can be:
//! - **No pipelining.** Requests and responses alternate in time: a client sends
//!   its next request only after the whole previous response. A connection that
//!   showed otherwise while both directions were whole (two request heads in one
//!   syscall, or response bytes arriving while two requests wait) is `pipelined`
//!   and never resynchronises.
//! - **Order.** HTTP/1 answers requests in the order they came, and a response
//!   never comes before its request: in time order, what the response side shows
//!   after request Q began belongs to Q or to a later request.
//! - **A head at a syscall's start is a head.** The bytes after a gap are taken
//!   as a message head only when a syscall's bytes start with one; a body that
//!   holds a whole valid head exactly at a syscall boundary would fool this (see
//!   README, Known limits).
//!
//! The cases:
//! - **Gap in the requests** (lost bytes hold whole requests, perhaps the start of
//!   one). Requests restart at the first syscall that starts a request head, Q.
//!   Responses to the lost requests were sent before Q (no pipelining), so every
//!   response byte before Q is dropped. The response side is whole (a gap there
//!   takes the next case), so the first response bytes after Q are Q's response:
//!   if they start a head they pair with Q; if not, Q's answer is unknowable and
//!   Q is written incomplete. When a request was unanswered at the gap (a loss
//!   burst across both directions), it and what was seen of its response are
//!   written incomplete: with no pipelining the lost requests were sent after
//!   its whole response, so the rest of that response was lost too, and the
//!   response side's next bytes must come after a gap of their own (the next
//!   case, which holds the pairing for confirmation). If they come without one,
//!   requests were sent while one was unanswered: pipelining, and the
//!   connection stops.
//! - **Gap in the responses.** Let C be the response in progress at the gap (its
//!   head seen) and W the requests whose response head has not been seen. Lost
//!   bytes finish C, then answer W in order. C is written with what was seen of
//!   it. Pairing is accepted only when C and W together are at most two: then the
//!   next response head answers the newest request of W. With no pipelining
//!   every request of W but the newest was answered before the newest was sent.
//!   Even with pipelining it holds: with C present and one request waiting, the
//!   next head is that request's; with no C and two waiting, the lost bytes
//!   started the older one's response, so the next head is the newer one's.
//!   Three or more could answer either, so the connection stops. The older
//!   requests of W are written incomplete, without a response.
//!
//!   One thing the response side cannot see: a request lost on the request side
//!   after the newest one of W, whose gap shows only at the next request bytes.
//!   Its response could be the head that resynchronised. So that pairing is held
//!   until the request side moves on with no gap; a request-side gap instead, or
//!   the connection's end first, writes the request without the response. Once
//!   response bytes after the gap were seen with no request waiting, the
//!   response side is whole again (a later loss shows as a gap of its own), and
//!   the first response after a later request is that request's: no hold.
//! - **Seeking responses and the head does not come.** Response bytes that do not
//!   start a head while a request waits: that request's head fell in the gap, so
//!   it is written incomplete. A response head while no request waits answers a
//!   request that was never seen: dropped. A second request beginning while the
//!   responses still seek is ambiguous: the connection stops.

use super::super::decoder::Kind;
use super::super::message::Message;
use super::super::sniff::{sniff, Sniff};
use super::{Connection, Exchange};

/// What a connection finding its way back after a gap remembers.
#[derive(Debug)]
pub(super) struct Resync {
    /// Names the gap, for the exchanges it touched.
    reason: String,
    /// Request bytes are dropped until a syscall starts a request head.
    seek_requests: bool,
    /// Response bytes are dropped until a syscall starts a response head while
    /// exactly one request waits.
    seek_responses: bool,
    /// The response side had a gap of its own: the pairing it resumes with must
    /// be confirmed by the request side.
    confirm: bool,
    /// The next exchange paired is held (it is the one to confirm).
    hold_next: bool,
    /// A request-side gap came while a request was unanswered: its response's
    /// rest was lost too, so the response side must show a gap of its own.
    expect_gap: bool,
    held: Option<Exchange>,
}

impl Resync {
    fn is_done(&self) -> bool {
        !self.seek_requests && !self.seek_responses && !self.hold_next && self.held.is_none()
    }
}

impl Connection {
    /// A gap that could not be skipped: true when parsing goes on past it.
    pub(super) fn resync_after_gap(
        &mut self,
        kind: Kind,
        reason: &str,
        out: &mut Vec<Exchange>,
    ) -> bool {
        if self.pipelined || !self.done_responses.is_empty() {
            return false;
        }
        let ok = match kind {
            Kind::Request => self.resync_requests(reason, out),
            Kind::Response => self.resync_responses(reason, out),
        };
        self.resync_tidy();
        ok
    }

    fn resync_requests(&mut self, reason: &str, out: &mut Vec<Exchange>) -> bool {
        let unanswered = !self.done_requests.is_empty()
            || self.requests.in_message()
            || self.responses.waiting_requests() > 0
            || !self.responses.is_idle();
        // A pairing waiting for this side to show it lost nothing: it did.
        self.resync_void_held(out);
        if unanswered {
            self.resync_write_off_all(reason, out);
        }
        self.requests.restart();
        let r = self.resync_state(reason);
        r.seek_requests = true;
        r.seek_responses = true;
        r.confirm = false;
        r.hold_next = false;
        r.expect_gap = unanswered;
        true
    }

    /// Every request not answered whole is written incomplete, with what was
    /// seen of its response; both decoders start afresh.
    fn resync_write_off_all(&mut self, reason: &str, out: &mut Vec<Exchange>) {
        let Some(observer) = self.observer else {
            return;
        };
        let mut requests: Vec<Box<Message>> = self.done_requests.drain(..).collect();
        requests.extend(self.requests.take_partial());
        for r in &requests {
            self.waiting_bytes = self.waiting_bytes.saturating_sub(r.held_bytes());
        }
        let mut response = self.responses.take_partial();
        for request in requests {
            out.push(Self::cut(
                observer,
                *request,
                response.take().map(|r| *r),
                reason,
            ));
        }
        while self.responses.waiting_requests() > 0 {
            self.responses.forget_oldest_request();
        }
        self.responses.restart();
    }

    fn resync_responses(&mut self, reason: &str, out: &mut Vec<Exchange>) -> bool {
        let waiting = self.responses.waiting_requests();
        let in_progress = self.responses.in_message();
        if usize::from(in_progress) + waiting > 2 {
            return false;
        }
        let Some(observer) = self.observer else {
            return false;
        };
        if in_progress {
            // The response the gap cut belongs to the oldest request it answers.
            let response = self.responses.take_partial();
            let request = match self.done_requests.pop_front() {
                Some(r) => {
                    self.waiting_bytes = self.waiting_bytes.saturating_sub(r.held_bytes());
                    Some(r)
                }
                None => self.requests.take_partial(),
            };
            if let Some(request) = request {
                out.push(Self::cut(observer, *request, response.map(|r| *r), reason));
            }
        }
        // Of the requests still waiting only the newest can be answered next.
        while self.responses.waiting_requests() > 1 {
            self.responses.forget_oldest_request();
            if let Some(request) = self.done_requests.pop_front() {
                self.waiting_bytes = self.waiting_bytes.saturating_sub(request.held_bytes());
                out.push(Self::cut(observer, *request, None, reason));
            }
        }
        self.responses.restart();
        let r = self.resync_state(reason);
        r.seek_responses = true;
        r.confirm = true;
        r.hold_next = false;
        r.expect_gap = false;
        true
    }

    /// Whether a data event of `kind` goes on to its decoder; while seeking,
    /// what it means for the waiting requests.
    pub(super) fn resync_admits(
        &mut self,
        kind: Kind,
        payload: &[u8],
        out: &mut Vec<Exchange>,
    ) -> bool {
        let Some(r) = self.resync.as_mut() else {
            return true;
        };
        let admit = match kind {
            Kind::Request => {
                if r.seek_requests && sniff(payload) != Sniff::Request {
                    false
                } else {
                    r.seek_requests = false;
                    // The request side moved on with no gap: no request was
                    // lost after the held one, so its response is its own.
                    if let Some(x) = r.held.take() {
                        out.push(x);
                    }
                    true
                }
            }
            Kind::Response if !r.seek_responses => true,
            Kind::Response => self.resync_seek_response(payload, out),
        };
        self.resync_tidy();
        admit
    }

    fn resync_seek_response(&mut self, payload: &[u8], out: &mut Vec<Exchange>) -> bool {
        if self.resync.as_ref().is_some_and(|r| r.expect_gap) {
            // Response bytes went on with no gap: the requests lost were sent
            // while one was unanswered (pipelining), so nothing pairs safely.
            let reason = self
                .resync
                .as_ref()
                .map(|r| r.reason.clone())
                .unwrap_or_default();
            self.stop_with(&reason, out);
            return false;
        }
        let waiting = self.responses.waiting_requests();
        if waiting == 0 {
            // Answers a request that was never seen (or is the rest of one).
            self.resync_response_side_whole();
            return false;
        }
        let reason = self
            .resync
            .as_ref()
            .map(|r| r.reason.clone())
            .unwrap_or_default();
        if waiting > 1 {
            self.stop_with(&reason, out);
            return false;
        }
        if sniff(payload) != Sniff::Response {
            // The waiting request's response head fell in the gap.
            self.resync_write_off_waiting(&reason, out);
            self.resync_response_side_whole();
            return false;
        }
        if let Some(r) = self.resync.as_mut() {
            r.seek_responses = false;
            r.hold_next = r.confirm;
        }
        true
    }

    /// Response bytes were seen after the gap and nothing waits now: a request
    /// sent later finds the response side whole (a later loss shows as a gap of
    /// its own), so the first response after it is its own, with nothing to confirm.
    fn resync_response_side_whole(&mut self) {
        if let Some(r) = self.resync.as_mut() {
            r.confirm = false;
        }
    }

    /// The one waiting request will never be answered here.
    fn resync_write_off_waiting(&mut self, reason: &str, out: &mut Vec<Exchange>) {
        let Some(observer) = self.observer else {
            return;
        };
        self.responses.forget_oldest_request();
        let request = match self.done_requests.pop_front() {
            Some(r) => {
                self.waiting_bytes = self.waiting_bytes.saturating_sub(r.held_bytes());
                Some(r)
            }
            None => self.requests.take_partial(),
        };
        if let Some(request) = request {
            out.push(Self::cut(observer, *request, None, reason));
        }
    }

    /// Where a paired exchange goes: out, or held for confirmation.
    pub(super) fn write_paired(&mut self, x: Exchange, out: &mut Vec<Exchange>) {
        if !self.resync.as_ref().is_some_and(|r| r.hold_next) {
            out.push(x);
            return;
        }
        // Only one pairing waits for confirmation; an older one never got it.
        self.resync_void_held(out);
        if let Some(r) = self.resync.as_mut() {
            r.hold_next = false;
            r.held = Some(x);
        }
        self.resync_tidy();
    }

    /// Parsing stops: a held pairing was never confirmed.
    pub(super) fn resync_give_up(&mut self, out: &mut Vec<Exchange>) {
        self.resync_void_held(out);
        self.resync = None;
    }

    fn resync_void_held(&mut self, out: &mut Vec<Exchange>) {
        let Some(r) = self.resync.as_mut() else {
            return;
        };
        if let Some(mut x) = r.held.take() {
            x.response = None;
            x.incomplete = Some(format!(
                "{}; the response after it could not be confirmed as its own",
                r.reason
            ));
            out.push(x);
        }
    }

    fn resync_state(&mut self, reason: &str) -> &mut Resync {
        let r = self.resync.get_or_insert_with(|| {
            Box::new(Resync {
                reason: String::new(),
                seek_requests: false,
                seek_responses: false,
                confirm: false,
                hold_next: false,
                expect_gap: false,
                held: None,
            })
        });
        r.reason = reason.to_string();
        r
    }

    fn resync_tidy(&mut self) {
        if self.resync.as_ref().is_some_and(|r| r.is_done()) {
            self.resync = None;
        }
    }

    fn cut(
        observer: crate::event::Observer,
        request: Message,
        response: Option<Message>,
        reason: &str,
    ) -> Exchange {
        Exchange {
            observer,
            request,
            response,
            incomplete: Some(reason.to_string()),
            http2: None,
        }
    }
}
