//! The records one socket sends, walked from their TLS record headers: the
//! first bytes at each record start are what `membio.rs` looks for among the
//! BIO writes of `SSL*`s with no socket of their own.

use super::tls::looks_like_tls_record;

/// Bytes compared: a record header and 11 bytes after it (ciphertext, or a
/// hello's random), what the kernel reports of each BIO write.
pub const HEAD_LEN: usize = 16;

/// The first [`HEAD_LEN`] bytes at a record start.
pub type Head = [u8; HEAD_LEN];

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
            // Each record header is checked as it completes, the first too.
            Walk::Start => self.state = Walk::Walking,
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
                // Not a record: no head of it; the ones before it stand.
                self.partial.pop();
                self.take_heads(out, false);
                return self.stop();
            }
            self.skip = u64::from(u16::from_be_bytes([self.header[3], self.header[4]]));
            self.header.clear();
        }
        let uncaptured = count.saturating_sub(captured as u64);
        if uncaptured > 0 {
            // Bytes not seen: a record may begin among them only past `skip`.
            if uncaptured > self.skip || !self.header.is_empty() {
                self.take_heads(out, false);
                return self.stop();
            }
            self.skip -= uncaptured;
        }
        self.take_heads(out, uncaptured == 0);
    }

    /// Moves the complete heads to `out`; incomplete ones stay if `keep`.
    fn take_heads(&mut self, out: &mut Vec<Head>, keep: bool) {
        self.partial
            .retain(|head| match Head::try_from(head.as_slice()) {
                Ok(h) => {
                    out.push(h);
                    false
                }
                Err(_) => keep,
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

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A TLS application-data record of `len` body bytes, each `fill`.
    pub(crate) fn record(fill: u8, len: u16) -> Vec<u8> {
        let mut r = vec![0x17, 0x03, 0x03];
        r.extend_from_slice(&len.to_be_bytes());
        r.extend(std::iter::repeat(fill).take(len.into()));
        r
    }

    pub(crate) fn head_of(bytes: &[u8]) -> Head {
        Head::try_from(&bytes[..HEAD_LEN]).unwrap()
    }

    fn walk(pieces: &[(u64, &[u8], u64)]) -> (Vec<Head>, bool) {
        let mut w = RecordWalk::default();
        let mut heads = Vec::new();
        for &(pos, bytes, count) in pieces {
            w.feed(pos, bytes, count, &mut heads);
        }
        (heads, w.is_stopped())
    }

    #[test]
    fn the_walk_finds_each_record_start_across_pieces() {
        let a = record(1, 20);
        let b = record(2, 3); // shorter than a head: it runs into the next record
        let c = record(3, 30);
        let stream: Vec<u8> = [a.clone(), b.clone(), c.clone()].concat();
        let expected = vec![head_of(&a), head_of(&stream[a.len()..]), head_of(&c)];
        // Whole, and cut at every byte.
        assert_eq!(
            walk(&[(0, &stream, stream.len() as u64)]),
            (expected.clone(), false)
        );
        for cut in 1..stream.len() {
            let (x, y) = stream.split_at(cut);
            let (heads, stopped) = walk(&[(0, x, x.len() as u64), (cut as u64, y, y.len() as u64)]);
            assert_eq!(heads, expected, "cut at {cut}");
            assert!(!stopped);
        }
    }

    proptest::proptest! {
        /// However a stream of records is cut into pieces (some captured only
        /// in part), the walk finds what it finds in the whole; and bytes from
        /// the wire never make it panic.
        #[test]
        fn the_walk_does_not_depend_on_how_the_stream_is_cut(
            lens in proptest::collection::vec(0u16..300, 1..12),
            cuts in proptest::collection::vec(1usize..200, 0..20),
            garbage in proptest::collection::vec(proptest::num::u8::ANY, 0..400),
        ) {
            let stream: Vec<u8> = lens
                .iter()
                .enumerate()
                .flat_map(|(i, &len)| record(i as u8, len))
                .collect();
            let (whole, _) = walk(&[(0, &stream, stream.len() as u64)]);
            let mut pieces = Vec::new();
            let mut at = 0usize;
            for cut in cuts.iter().chain(std::iter::once(&usize::MAX)) {
                let end = at.saturating_add(*cut).min(stream.len());
                pieces.push((at as u64, &stream[at..end], (end - at) as u64));
                at = end;
                if at == stream.len() {
                    break;
                }
            }
            let (cut_up, stopped) = walk(&pieces);
            proptest::prop_assert_eq!(&cut_up, &whole);
            proptest::prop_assert!(!stopped);
            let mut w = RecordWalk::default();
            let mut heads = Vec::new();
            let mut pos = 0;
            for piece in garbage.chunks(37) {
                // Claim more than was captured now and then.
                let count = piece.len() as u64 + u64::from(piece.first().copied().unwrap_or(0) % 3);
                w.feed(pos, piece, count, &mut heads);
                pos += count;
            }
        }
    }

    #[test]
    fn the_walk_stops_at_what_is_not_a_record_and_at_gaps() {
        assert_eq!(walk(&[(0, b"GET / HTTP/1.1\r\n\r\n", 18)]), (vec![], true));
        let a = record(1, 20);
        let b = record(2, 20);
        // A record header that makes no sense mid-stream.
        let bad = [a.clone(), b"HTTP/1.1 200 OK\r\n".to_vec()].concat();
        assert_eq!(
            walk(&[(0, &bad, bad.len() as u64)]),
            (vec![head_of(&a)], true)
        );
        // Bytes missing between two pieces.
        let (heads, stopped) = walk(&[(0, &a, a.len() as u64), (a.len() as u64 + 1, &b, 20)]);
        assert_eq!((heads, stopped), (vec![head_of(&a)], true));
    }

    #[test]
    fn uncaptured_bytes_inside_a_record_are_stepped_over() {
        let a = record(1, 100);
        let b = record(2, 20);
        // 50 of a's 105 bytes captured: the rest of the record is skipped.
        let (heads, stopped) = walk(&[
            (0, &a[..50], a.len() as u64),
            (a.len() as u64, &b, b.len() as u64),
        ]);
        assert_eq!((heads, stopped), (vec![head_of(&a), head_of(&b)], false));
        // Uncaptured bytes that would hold the next record's header: the walk stops.
        let ab = [a.clone(), b.clone()].concat();
        let (_, stopped) = walk(&[(0, &ab[..50], ab.len() as u64)]);
        assert!(stopped);
    }
}
