//! HTTP over one TCP connection, with no I/O: HTTP/1.x directions are decoded
//! incrementally and paired in FIFO order (keep-alive and pipelining); a
//! connection that speaks HTTP/2 is handed to `h2`. Non-HTTP produces nothing.

mod budget;
mod connection;
mod decoder;
mod framing;
pub mod h2;
mod headers;
mod message;
mod sniff;

pub use budget::{BodyBudget, Drops};
pub use connection::{Connection, DecodeScratch, Exchange, MAX_WAITING};
pub use decoder::{Decoded, Decoder, Kind, Stop};
pub use message::{header, Body, Head, Headers, Message, RequestHead, ResponseHead};

#[cfg(test)]
mod joined_tests;
#[cfg(test)]
mod tests;
