//! Trace files: a sequence of [`Event`]s, one JSON object a line. `flowtap capture
//! --record` writes them and `flowtap replay` reads them back into the same pipeline.

mod reader;
mod writer;

pub use reader::{TraceError, TraceReader};
pub use writer::TraceWriter;
