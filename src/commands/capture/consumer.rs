//! Where captured events go: through the container gate, then into the trace
//! (when recording) and the flow pipeline, in that order, so that replay of the
//! trace sees exactly what this run analysed.

use std::fs::File;

use anyhow::Context;
use flowtap::event::{Event, Nanos};
use flowtap::pipeline::Pipeline;
use flowtap::sink::Sink;
use flowtap::trace::TraceWriter;

use super::gate::Gate;

pub struct Consumer<S: Sink> {
    gate: Gate,
    admitted: Vec<Event>,
    trace: Option<TraceWriter<File>>,
    recorded: u64,
    flows: Pipeline<S>,
}

impl<S: Sink> Consumer<S> {
    pub fn new(gate: Gate, trace: Option<TraceWriter<File>>, flows: Pipeline<S>) -> Self {
        Self {
            gate,
            admitted: Vec::new(),
            trace,
            recorded: 0,
            flows,
        }
    }

    pub fn take(&mut self, event: Event) -> anyhow::Result<()> {
        self.gate.admit(event, &mut self.admitted);
        for event in self.admitted.drain(..) {
            if let Some(trace) = self.trace.as_mut() {
                trace.write(&event).context("writing the trace")?;
                self.recorded += 1;
            }
            self.flows.handle(event)?;
        }
        Ok(())
    }

    /// Nothing more is waiting right now: flows written so far go out.
    pub fn caught_up(&mut self) -> anyhow::Result<()> {
        Ok(self.flows.flush_output()?)
    }

    /// No event is still on its way from before `now`: deadlines up to it fire.
    pub fn quiet_until(&mut self, now: Nanos) -> anyhow::Result<()> {
        Ok(self.flows.advance_time(now)?)
    }

    /// Writes everything still pending; returns the summary's tail after the
    /// pipeline's own figures.
    pub fn finish(mut self) -> anyhow::Result<(flowtap::pipeline::Summary, String)> {
        if let Some(trace) = self.trace.as_mut() {
            trace.flush().context("writing the trace")?;
        }
        self.gate.finish();
        let summary = self.flows.finish()?;
        let mut tail = String::new();
        if self.gate.dropped() > 0 {
            tail += &format!(
                ", {} events of unselected containers dropped",
                self.gate.dropped()
            );
        }
        if self.trace.is_some() {
            tail += &format!(", {} events recorded", self.recorded);
        }
        Ok((summary, tail))
    }
}
