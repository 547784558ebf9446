//! Writing HTTP/2 the way a peer would, for tests and hand-built fixtures:
//! frames, and header blocks from HPACK's representations (no Huffman).

pub use super::frame::PREFACE;
pub use super::frame::{
    CONTINUATION, DATA, END_HEADERS, END_STREAM, GOAWAY, HEADERS, PADDED, PING, PRIORITY,
    PRIORITY_FLAG, PUSH_PROMISE, RST_STREAM, SETTINGS, WINDOW_UPDATE,
};

pub fn frame(kind: u8, flags: u8, stream: u32, payload: &[u8]) -> Vec<u8> {
    let mut f = (payload.len() as u32).to_be_bytes()[1..].to_vec();
    f.extend([kind, flags]);
    f.extend(stream.to_be_bytes());
    f.extend_from_slice(payload);
    f
}

pub fn settings(pairs: &[(u16, u32)]) -> Vec<u8> {
    let mut p = Vec::new();
    for (id, v) in pairs {
        p.extend(id.to_be_bytes());
        p.extend(v.to_be_bytes());
    }
    frame(SETTINGS, 0, 0, &p)
}

pub fn headers(stream: u32, flags: u8, block: &[u8]) -> Vec<u8> {
    frame(HEADERS, flags, stream, block)
}

pub fn data(stream: u32, flags: u8, bytes: &[u8]) -> Vec<u8> {
    frame(DATA, flags, stream, bytes)
}

pub fn rst_stream(stream: u32, code: u32) -> Vec<u8> {
    frame(RST_STREAM, 0, stream, &code.to_be_bytes())
}

pub fn goaway(last: u32, code: u32) -> Vec<u8> {
    let mut p = last.to_be_bytes().to_vec();
    p.extend(code.to_be_bytes());
    frame(GOAWAY, 0, 0, &p)
}

/// RFC 7541 5.1.
pub fn integer(out: &mut Vec<u8>, first: u8, prefix: u8, mut n: u64) {
    let max = (1u64 << prefix) - 1;
    if n < max {
        out.push(first | n as u8);
        return;
    }
    out.push(first | max as u8);
    n -= max;
    while n >= 128 {
        out.push((n % 128) as u8 | 0x80);
        n /= 128;
    }
    out.push(n as u8);
}

fn string(out: &mut Vec<u8>, s: &str) {
    integer(out, 0, 7, s.len() as u64);
    out.extend_from_slice(s.as_bytes());
}

/// An indexed field (static 1–61, dynamic from 62).
pub fn indexed(out: &mut Vec<u8>, index: u64) {
    integer(out, 0x80, 7, index);
}

/// A literal field added to the dynamic table; `name_index` 0 spells the name.
pub fn inserted(out: &mut Vec<u8>, name_index: u64, name: &str, value: &str) {
    integer(out, 0x40, 6, name_index);
    if name_index == 0 {
        string(out, name);
    }
    string(out, value);
}

/// A literal field not added to the table.
pub fn literal(out: &mut Vec<u8>, name_index: u64, name: &str, value: &str) {
    integer(out, 0x00, 4, name_index);
    if name_index == 0 {
        string(out, name);
    }
    string(out, value);
}

pub fn size_update(out: &mut Vec<u8>, max: u64) {
    integer(out, 0x20, 5, max);
}

/// A gRPC length-prefixed message, uncompressed.
pub fn grpc_message(msg: &[u8]) -> Vec<u8> {
    let mut v = vec![0];
    v.extend((msg.len() as u32).to_be_bytes());
    v.extend_from_slice(msg);
    v
}
