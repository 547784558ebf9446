//! Deciding from a connection's first bytes whether it speaks HTTP/2: the
//! client preface, or (for a connection joined mid-way) a run of well-formed
//! frames with a header block among them. Bytes are held until one side decides.

use crate::event::{Direction, Nanos};

use super::frame::{FrameHeader, HEADERS, PREFACE};

/// Most bytes held, both directions together, before calling it HTTP/1.
const HOLD_BUDGET: usize = 64 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Looks {
    Preface,
    Frames,
    Maybe,
    No,
}

fn looks(buf: &[u8]) -> Looks {
    let n = buf.len().min(PREFACE.len());
    if buf[..n] == PREFACE[..n] {
        return if n == PREFACE.len() {
            Looks::Preface
        } else {
            Looks::Maybe
        };
    }
    let mut at = 0;
    let mut headers = false;
    loop {
        let Some(h) = FrameHeader::parse(&buf[at..]) else {
            return Looks::Maybe;
        };
        if !h.is_plausible() {
            return Looks::No;
        }
        let end = at + 9 + h.len as usize;
        if end > buf.len() {
            return Looks::Maybe;
        }
        headers |= h.kind == HEADERS;
        if headers {
            return Looks::Frames;
        }
        at = end;
    }
}

/// Bytes that came in before the decision, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Piece {
    pub direction: Direction,
    pub ts: Nanos,
    pub payload: Vec<u8>,
    pub uncaptured: u64,
}

#[derive(Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Keep feeding the probe.
    Hold,
    /// Not HTTP/2, and nothing was held: feed these bytes on as usual.
    Pass,
    /// Not HTTP/2: these bytes (this feed's included) go to HTTP/1.
    Http1(Vec<Piece>),
    /// HTTP/2 from the start; `client` sent the preface.
    Preface { client: Direction, held: Vec<Piece> },
    /// HTTP/2 joined mid-way.
    Joined(Vec<Piece>),
}

#[derive(Debug, Default)]
pub struct Probe {
    held: Vec<Piece>,
    /// Per direction: captured bytes up to the first hole.
    prefix: [Vec<u8>; 2],
    hole: [bool; 2],
}

impl Probe {
    pub fn feed(
        &mut self,
        direction: Direction,
        ts: Nanos,
        payload: &[u8],
        uncaptured: u64,
    ) -> Verdict {
        let d = direction.index();
        if self.held.is_empty() && !payload.is_empty() && looks(payload) == Looks::No {
            return Verdict::Pass;
        }
        if !self.hole[d] {
            self.prefix[d].extend_from_slice(payload);
        }
        self.hole[d] |= uncaptured > 0;
        self.held.push(Piece {
            direction,
            ts,
            payload: payload.to_vec(),
            uncaptured,
        });
        let verdicts = [0, 1].map(|i| match looks(&self.prefix[i]) {
            Looks::Maybe if self.hole[i] => Looks::No,
            v => v,
        });
        for dir in [Direction::Send, Direction::Recv] {
            if verdicts[dir.index()] == Looks::Preface {
                return Verdict::Preface {
                    client: dir,
                    held: std::mem::take(&mut self.held),
                };
            }
        }
        if verdicts.contains(&Looks::Frames) {
            return Verdict::Joined(std::mem::take(&mut self.held));
        }
        let total: usize = self.prefix.iter().map(Vec::len).sum();
        if verdicts.contains(&Looks::No) || total > HOLD_BUDGET {
            return Verdict::Http1(std::mem::take(&mut self.held));
        }
        Verdict::Hold
    }

    /// Whatever is held, for HTTP/1 (a gap or the end came first).
    pub fn release(&mut self) -> Vec<Piece> {
        std::mem::take(&mut self.held)
    }
}

#[cfg(test)]
mod tests {
    use super::super::frame::{END_HEADERS, SETTINGS};
    use super::*;

    fn frame(kind: u8, flags: u8, stream: u32, payload: &[u8]) -> Vec<u8> {
        let mut f = (payload.len() as u32).to_be_bytes()[1..].to_vec();
        f.extend([kind, flags]);
        f.extend(stream.to_be_bytes());
        f.extend_from_slice(payload);
        f
    }

    #[test]
    fn http1_passes_at_once() {
        let mut p = Probe::default();
        assert_eq!(
            p.feed(Direction::Send, 1, b"GET / HTTP/1.1\r\n", 0),
            Verdict::Pass
        );
        assert_eq!(
            p.feed(Direction::Recv, 1, b"POST / HTTP/1.1\r\n", 0),
            Verdict::Pass
        );
        assert_eq!(
            p.feed(
                Direction::Recv,
                1,
                b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03",
                0
            ),
            Verdict::Pass
        );
    }

    #[test]
    fn a_split_preface_after_server_settings_is_http2() {
        let mut p = Probe::default();
        let settings = frame(SETTINGS, 0, 0, &[]);
        assert_eq!(p.feed(Direction::Send, 1, &settings, 0), Verdict::Hold);
        assert_eq!(p.feed(Direction::Recv, 2, &PREFACE[..10], 0), Verdict::Hold);
        match p.feed(Direction::Recv, 3, &PREFACE[10..], 0) {
            Verdict::Preface { client, held } => {
                assert_eq!(client, Direction::Recv);
                assert_eq!(held.len(), 3);
            }
            v => panic!("{v:?}"),
        }
    }

    #[test]
    fn pri_that_is_not_the_preface_goes_to_http1() {
        let mut p = Probe::default();
        assert_eq!(p.feed(Direction::Send, 1, b"PRI", 0), Verdict::Hold);
        assert!(
            matches!(p.feed(Direction::Send, 1, b"NT / HTTP/1.1\r\n", 0), Verdict::Http1(v) if v.len() == 2)
        );
    }

    #[test]
    fn frames_with_a_header_block_are_a_joined_connection() {
        let mut p = Probe::default();
        let mut w = frame(0x8, 0, 0, &[0, 0, 1, 0]);
        w.extend(frame(HEADERS, END_HEADERS, 7, &[0x82]));
        assert_eq!(p.feed(Direction::Send, 1, &w[..20], 0), Verdict::Hold);
        assert!(matches!(
            p.feed(Direction::Send, 1, &w[20..], 0),
            Verdict::Joined(_)
        ));
    }
}
