//! flowtap: container-aware HTTP flow capture from syscall tracepoints.
//!
//! Data flows one way: kernel → [`event::Event`] → per-socket state → HTTP →
//! flows → sinks. Replay of a trace file enters at events.

// Everything here handles bytes from the kernel, the wire, Docker or a file:
// a bad input is an error value, never a panic.
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

pub mod bytes;
pub mod capture;
pub mod clock;
pub mod containers;
pub mod event;
pub mod flow;
pub mod heap;
pub mod http;
pub mod merge;
pub mod pipeline;
pub mod procfs;
pub mod record;
pub mod selection;
pub mod session;
pub mod sink;
pub mod sockets;
pub mod trace;
pub mod view;
