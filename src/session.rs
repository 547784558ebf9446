//! The consuming side of a capture or a replay: events pass the container
//! selection, are recorded to a trace when asked, and go through the pipeline, in
//! that order, so that a replay of the trace sees exactly what the run analysed.

use std::fmt;
use std::io::{self, Write};

use crate::event::Event;
use crate::pipeline::{Pipeline, PipelineError, Summary};
use crate::selection::{follow, Gate, Selector, TracedCgroups};
use crate::sink::Sink;
use crate::trace::TraceWriter;

#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    #[error("writing the trace")]
    Trace(#[source] io::Error),
    #[error(transparent)]
    Pipeline(#[from] PipelineError),
}

/// What the selection and the recorder did, beside the pipeline's own summary.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SessionSummary {
    pub pipeline: Summary,
    /// Events of containers that were held undecided and then not selected (or
    /// past the gate's bound), and, in replay, of processes a live capture with
    /// the same selection would not have traced.
    pub unselected: u64,
    /// Events written to the trace; `None` when not recording.
    pub recorded: Option<u64>,
}

impl fmt::Display for SessionSummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.pipeline)?;
        if self.unselected > 0 {
            write!(
                f,
                ", {} events of unselected containers dropped",
                self.unselected
            )?;
        }
        if let Some(n) = self.recorded {
            write!(f, ", {n} events recorded")?;
        }
        Ok(())
    }
}

pub struct Session<S: Sink, W: Write> {
    /// Replay only: the kernel's cgroup filter as a live capture with this
    /// selection would have kept it. Live, the kernel filtered already.
    offline: Option<(Selector, TracedCgroups)>,
    filtered: u64,
    gate: Gate,
    admitted: Vec<Event>,
    trace: Option<TraceWriter<W>>,
    recorded: u64,
    flows: Pipeline<S>,
}

impl<S: Sink, W: Write> Session<S, W> {
    /// A live capture's: the kernel's filter has selected by cgroup already.
    pub fn live(selector: Selector, trace: Option<TraceWriter<W>>, flows: Pipeline<S>) -> Self {
        Self::new(None, selector, trace, flows)
    }

    /// A replay's: events of processes outside the selected containers are
    /// dropped as the kernel's filter would have dropped them live, so replaying
    /// a whole-host trace with a selection gives what a live capture with that
    /// selection gives.
    pub fn offline(selector: Selector, flows: Pipeline<S>) -> Self {
        let offline = (!selector.is_all()).then(|| (selector.clone(), TracedCgroups::default()));
        Self::new(offline, selector, None, flows)
    }

    fn new(
        offline: Option<(Selector, TracedCgroups)>,
        selector: Selector,
        trace: Option<TraceWriter<W>>,
        flows: Pipeline<S>,
    ) -> Self {
        Self {
            offline,
            filtered: 0,
            gate: Gate::new(selector),
            admitted: Vec::new(),
            trace,
            recorded: 0,
            flows,
        }
    }

    pub fn take(&mut self, event: Event) -> Result<(), SessionError> {
        if let Some((selector, traced)) = &self.offline {
            match &event {
                // A replayed container is gone only when a live capture's check
                // could have said so; the trace cannot, so it stays traced, which
                // costs nothing: a dead cgroup makes no more events.
                Event::Container(c) => {
                    let Ok(()) = follow(selector, traced, c, |_, _| false);
                }
                e => {
                    if e.task().is_some_and(|t| !traced.contains(t.cgroup)) {
                        self.filtered += 1;
                        return Ok(());
                    }
                }
            }
        }
        self.gate.admit(event, &mut self.admitted);
        self.pass_admitted()
    }

    /// What the gate let through goes to the trace and the pipeline.
    fn pass_admitted(&mut self) -> Result<(), SessionError> {
        for event in self.admitted.drain(..) {
            if let Some(trace) = self.trace.as_mut() {
                trace.write(&event).map_err(SessionError::Trace)?;
                self.recorded += 1;
            }
            self.flows.handle(event)?;
        }
        Ok(())
    }

    /// Nothing more is waiting right now: flows written so far go out.
    pub fn caught_up(&mut self) -> Result<(), SessionError> {
        Ok(self.flows.flush_output()?)
    }

    /// No event is still on its way from before `now`: deadlines up to it fire.
    pub fn quiet_until(&mut self, now: crate::event::Nanos) -> Result<(), SessionError> {
        Ok(self.flows.advance_time(now)?)
    }

    /// Writes everything still pending.
    pub fn finish(mut self) -> Result<SessionSummary, SessionError> {
        self.gate.finish(&mut self.admitted);
        self.pass_admitted()?;
        if let Some(trace) = self.trace.as_mut() {
            trace.flush().map_err(SessionError::Trace)?;
        }
        let recorded = self.trace.is_some().then_some(self.recorded);
        let pipeline = self.flows.finish()?;
        Ok(SessionSummary {
            pipeline,
            unselected: self.gate.dropped() + self.filtered,
            recorded,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bytes::Bytes;
    use crate::event::{
        Connect, ContainerAction, ContainerEvent, ContainerInfo, Data, Syscall, Task,
    };
    use crate::flow::Flow;
    use crate::pipeline::Config;

    fn task(pid: u32, cgroup: u64) -> Task {
        Task {
            pid,
            tid: pid,
            comm: "curl".into(),
            cgroup,
        }
    }

    fn container(action: ContainerAction, name: &str, cgroup: u64) -> Event {
        Event::Container(ContainerEvent {
            ts: 1,
            action,
            container: ContainerInfo {
                id: format!("{cgroup:064}").into(),
                name: name.into(),
                compose_project: None,
                compose_service: None,
                cgroup_id: Some(cgroup),
                ips: vec![],
                pid: None,
            },
        })
    }

    /// One whole exchange made by process `pid` in cgroup `cgroup`.
    fn exchange(pid: u32, cgroup: u64, ts: u64) -> Vec<Event> {
        let data = |ts, syscall, bytes: &[u8]| {
            Event::Data(Data {
                ts,
                task: task(pid, cgroup),
                fd: 3,
                syscall,
                pos: 0,
                count: bytes.len() as u64,
                payload: Bytes(bytes.to_vec()),
                truncated: false,
            })
        };
        vec![
            Event::Connect(Connect {
                ts,
                task: task(pid, cgroup),
                fd: 3,
                peer: "10.0.0.1:80".parse().ok(),
                result: 0,
                sock: None,
            }),
            data(ts + 1, Syscall::Write, b"GET / HTTP/1.1\r\n\r\n"),
            data(ts + 2, Syscall::Read, b"HTTP/1.1 204 No Content\r\n\r\n"),
        ]
    }

    fn replay(selector: Selector, events: Vec<Event>) -> (Vec<u32>, SessionSummary) {
        let mut flows: Vec<Flow> = Vec::new();
        let mut session: Session<_, Vec<u8>> =
            Session::offline(selector, Pipeline::new(Config::default(), &mut flows));
        for e in events {
            session.take(e).unwrap();
        }
        let summary = session.finish().unwrap();
        (flows.iter().map(|f| f.process.pid).collect(), summary)
    }

    fn whole_host() -> Vec<Event> {
        let mut events = vec![
            container(ContainerAction::Seen, "api", 10),
            container(ContainerAction::Seen, "db", 20),
        ];
        events.extend(exchange(1, 10, 100));
        events.extend(exchange(2, 20, 200));
        events.extend(exchange(3, 99, 300)); // a host process
                                             // A container that appears later is held undecided, then selected.
        events.push(container(ContainerAction::Created, "0000000030", 30));
        events.extend(exchange(4, 30, 400));
        events.push(container(ContainerAction::Start, "api-2", 30));
        events
    }

    #[test]
    fn replay_selects_containers_as_the_kernel_filter_would() {
        let (pids, _) = replay(Selector::all(), whole_host());
        assert_eq!(pids, vec![1, 2, 3, 4], "no selection: everything");

        let (pids, summary) = replay(Selector::new(vec!["api".into()], None), whole_host());
        assert_eq!(pids, vec![1]);
        // db's 3 events and the host process's 3; the late container's 3 were held
        // and then not selected.
        assert_eq!(summary.unselected, 9);

        let (pids, _) = replay(
            Selector::new(vec!["api".into(), "api-2".into()], None),
            whole_host(),
        );
        assert_eq!(pids, vec![1, 4], "the late container, once named");
    }
}
