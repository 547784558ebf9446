//! HTTP/1.x over one TCP connection, with no I/O: both directions are decoded
//! incrementally and requests are paired with responses in FIFO order
//! (keep-alive and pipelining). Non-HTTP connections produce nothing.

mod budget;
mod connection;
mod decoder;
mod framing;
mod message;
mod sniff;

pub use budget::{BodyBudget, Drops};
pub use connection::{Connection, Exchange, MAX_WAITING};
pub use decoder::{Decoded, Decoder, Kind, Stop};
pub use message::{header, Body, Head, Headers, Message, RequestHead, ResponseHead};

#[cfg(test)]
mod tests;
