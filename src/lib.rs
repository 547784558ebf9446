//! flowtap: container-aware HTTP flow capture from syscall tracepoints.
//!
//! Data flows one way: kernel → [`event::Event`] → per-socket state → HTTP →
//! flows → sinks. Replay of a trace file enters at events.

pub mod bytes;
pub mod capture;
pub mod clock;
pub mod containers;
pub mod event;
pub mod flow;
pub mod http;
pub mod pipeline;
pub mod procfs;
pub mod selection;
pub mod session;
pub mod sink;
pub mod sockets;
pub mod trace;
