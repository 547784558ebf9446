//! Live capture: loads and attaches the BPF programs, polls their ring buffer on a
//! dedicated thread, and hands decoded [`Event`](crate::event::Event)s to the rest
//! of the pipeline through a channel.

mod decode;
mod features;
mod libbpf_log;
mod links;
mod loader;
mod poller;
mod ring;
mod sendfile;
mod skel;
mod tls;
mod tracefs;

pub use decode::{decode, decode_record, DecodeError};
pub use features::{Feature, MIN_KERNEL};
pub use libbpf_log::set_verbose;
pub use loader::{CaptureConfig, CaptureError, Scope, MAX_PAYLOAD};
pub use poller::{Capture, CaptureStats, Filters};
pub use sendfile::{FileSource, FillError};
