//! The HTTP/1 connection decoder fed both directions of arbitrary bytes, split
//! anywhere: the first byte of each piece says its direction and length.
#![no_main]

use flowtap::event::{Direction, Observer};
use flowtap::http::Connection;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&mode, mut rest)) = data.split_first() else {
        return;
    };
    let observer = match mode % 3 {
        0 => None,
        1 => Some(Observer::Client),
        _ => Some(Observer::Server),
    };
    let mut c = Connection::new(observer, 64);
    let mut out = Vec::new();
    let mut ts = 0;
    while let Some((&ctl, tail)) = rest.split_first() {
        let n = usize::from(ctl & 0x3f).min(tail.len());
        let (piece, tail) = tail.split_at(n);
        let direction = if ctl & 0x80 != 0 {
            Direction::Send
        } else {
            Direction::Recv
        };
        ts += 1;
        if ctl & 0x40 != 0 && n == 0 {
            c.gap(direction, ts, Some(u64::from(ctl & 0x7)), &mut out);
        } else {
            let uncaptured = if ctl & 0x40 != 0 {
                u64::from(ctl & 0x7)
            } else {
                0
            };
            c.feed(direction, ts, piece, uncaptured, &mut out);
        }
        rest = tail;
    }
    c.end(ts + 1, "fuzz ended", &mut out);
});
