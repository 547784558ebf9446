//! Trace files: a sequence of [`Event`](crate::event::Event)s, as JSON Lines (one
//! object a line) or in the compact binary format. `flowtap capture --record`
//! writes them, `flowtap replay` reads either back into the same pipeline, and
//! `flowtap trace` prints any trace as JSON Lines.

mod binary;
mod reader;
mod writer;

pub use reader::{TraceError, TraceReader};
pub use writer::{TraceFormat, TraceWriter};
