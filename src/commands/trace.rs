//! `flowtap trace TRACE`: a trace of either format, as JSON Lines (or converted).

use std::io::{self, Write};
use std::path::Path;

use anyhow::Context as _;

use flowtap::trace::{TraceFormat, TraceReader, TraceWriter};

use crate::cli::TraceArgs;

pub fn run(args: TraceArgs) -> anyhow::Result<()> {
    let name = args.trace.display();
    let trace = TraceReader::open(&args.trace).with_context(|| format!("opening trace {name}"))?;
    let (out, format): (Box<dyn Write>, _) = match args.output.as_deref() {
        Some(p) if p != Path::new("-") => (
            Box::new(
                std::fs::File::create(p).with_context(|| format!("creating {}", p.display()))?,
            ),
            TraceFormat::for_path(p),
        ),
        _ => (Box::new(io::stdout().lock()), TraceFormat::JsonLines),
    };
    let mut writer = TraceWriter::with_format(out, format).context("writing the trace")?;
    for event in trace {
        let event = event.with_context(|| format!("reading {name}"))?;
        writer.write(&event).context("writing the trace")?;
    }
    writer.flush().context("writing the trace")?;
    Ok(())
}
