//! HTTP/2 over one TCP connection, with no I/O (RFC 9113, HPACK per RFC 7541):
//! frames, then HPACK state per direction, then streams stitched into the same
//! `Exchange`s HTTP/1 makes, one per stream; gRPC calls are described on top.

mod connection;
mod frame;
mod grpc;
mod hpack;
mod huffman;
mod huffman_table;
mod probe;
mod static_table;
mod stream;
pub mod wire;

pub use connection::Connection;
pub use grpc::{Grpc, Messages};
pub use probe::{Piece, Probe, Verdict};

/// What an HTTP/2 exchange adds to an HTTP/1 one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Http2 {
    pub stream_id: u32,
    /// `:authority` (after an `Upgrade: h2c`, the upgrading request's `Host`).
    pub authority: Option<String>,
    /// Set when the request's content-type is `application/grpc*`.
    pub grpc: Option<Grpc>,
}

/// Where HTTP/2 starts in the bytes that carried a `101 Switching Protocols`
/// head: just after the first blank line following its status line (or the
/// first blank line, when the head began in an earlier read).
pub fn after_101(payload: &[u8]) -> Option<usize> {
    let from = find(payload, b" 101").unwrap_or(0);
    find(&payload[from..], b"\r\n\r\n").map(|i| from + i + 4)
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
mod tests;
