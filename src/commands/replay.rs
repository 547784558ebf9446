//! `flowtap replay TRACE`: a recorded trace through the same pipeline as live
//! capture, with the same container selection when one is given.

use std::fs::File;

use anyhow::Context as _;

use flowtap::merge::MergeConfig;
use flowtap::pipeline::{Config, Pipeline};
use flowtap::selection::Selector;
use flowtap::session::Session;
use flowtap::trace::TraceReader;

use super::output::Output;
use crate::cli::ReplayArgs;

/// Offline nothing is late: a flow waits for its twin until the budget or the end.
pub const OFFLINE_MERGE: MergeConfig = MergeConfig {
    wait_ns: None,
    max_bytes: 64 << 20,
};

pub fn run(args: ReplayArgs) -> anyhow::Result<()> {
    let trace = TraceReader::open(&args.trace)
        .with_context(|| format!("opening trace {}", args.trace.display()))?;
    let mut sink = Output::open(
        args.output.as_deref(),
        args.format,
        args.merge.then_some(OFFLINE_MERGE),
        OFFLINE_MERGE,
    )?;
    let config = Config {
        max_body: args.max_body,
        body_budget: args.body_budget,
        ..Config::default()
    };
    let selector = Selector::new(args.containers, args.compose_project);
    let mut session: Session<_, File> =
        Session::offline(selector, Pipeline::new(config, &mut sink));
    for event in trace {
        let event = event.with_context(|| format!("replaying {}", args.trace.display()))?;
        session.take(event)?;
    }
    let mut summary = session.finish()?;
    summary.pipeline.flows_written = sink.written();
    eprintln!("flowtap: {summary}{}", sink.merge_summary());
    Ok(())
}
