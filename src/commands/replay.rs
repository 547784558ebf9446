//! `flowtap replay TRACE`: a recorded trace through the same pipeline as live
//! capture, with the same container selection when one is given.

use std::fs::File;

use anyhow::Context as _;

use flowtap::pipeline::{Config, Pipeline};
use flowtap::selection::Selector;
use flowtap::session::Session;
use flowtap::sink::JsonLines;
use flowtap::trace::TraceReader;

use crate::cli::ReplayArgs;

pub fn run(args: ReplayArgs) -> anyhow::Result<()> {
    let trace = TraceReader::open(&args.trace)
        .with_context(|| format!("opening trace {}", args.trace.display()))?;
    let sink = JsonLines::create(args.output.as_deref()).with_context(|| match &args.output {
        Some(p) => format!("creating {}", p.display()),
        None => "opening stdout".to_string(),
    })?;
    let config = Config {
        max_body: args.max_body,
        body_budget: args.body_budget,
        ..Config::default()
    };
    let selector = Selector::new(args.containers, args.compose_project);
    let mut session: Session<_, File> = Session::offline(selector, Pipeline::new(config, sink));
    for event in trace {
        let event = event.with_context(|| format!("replaying {}", args.trace.display()))?;
        session.take(event)?;
    }
    let summary = session.finish()?;
    eprintln!("flowtap: {summary}");
    Ok(())
}
