//! Holds back the events of containers whose selection is not decided yet. A new
//! container's cgroup is traced the moment it appears, before Docker can say its
//! name or compose project; its events wait here until a container event decides,
//! then go on (selected) or are dropped (not selected), in their original order.

use hashbrown::HashMap;

use crate::event::{ContainerAction, Event, Nanos};

use super::Selector;

/// Bytes of held events per undecided cgroup, and across all of them; past
/// either the newest are dropped and counted (an [`Event::Overflow`] tells the
/// trace), rather than letting a container Docker never describes grow memory.
pub const MAX_HELD_BYTES: usize = 16 << 20;
pub const MAX_HELD_TOTAL: usize = 64 << 20;
/// The budget's name in [`Event::Overflow`].
pub const HELD_BUDGET: &str = "held events of undecided containers";

#[derive(Debug, Default)]
struct Held {
    events: Vec<Event>,
    bytes: usize,
}

#[derive(Debug)]
pub struct Gate {
    selector: Selector,
    pending: HashMap<u64, Held>,
    /// Bytes held across all undecided cgroups.
    held_bytes: usize,
    dropped: u64,
    over_events: u64,
    over_bytes: u64,
    /// Overflow counts already announced, and the time of the last drop.
    reported: (u64, u64),
    last_ts: Nanos,
}

impl Gate {
    pub fn new(selector: Selector) -> Self {
        Self {
            selector,
            pending: HashMap::new(),
            held_bytes: 0,
            dropped: 0,
            over_events: 0,
            over_bytes: 0,
            reported: (0, 0),
            last_ts: 0,
        }
    }

    /// Events of unselected containers dropped so far.
    pub fn dropped(&self) -> u64 {
        self.dropped
    }

    /// Events, and their bytes, dropped because the hold budget was full.
    pub fn over_budget(&self) -> (u64, u64) {
        (self.over_events, self.over_bytes)
    }

    /// Takes one event; appends to `out` whatever may go on now, in order.
    pub fn admit(&mut self, event: Event, out: &mut Vec<Event>) {
        if let Event::Container(c) = &event {
            if let Some(cgroup) = c.container.cgroup_id {
                let decision = match c.action {
                    // A container that died undecided was never described: drop.
                    ContainerAction::Die => Some(false),
                    action => self.selector.decide(action, &c.container),
                };
                match decision {
                    None => {
                        self.pending.entry(cgroup).or_default();
                    }
                    Some(selected) => {
                        if let Some(held) = self.pending.remove(&cgroup) {
                            self.held_bytes -= held.bytes;
                            self.report(out);
                            out.push(event);
                            if selected {
                                out.extend(held.events);
                            } else {
                                self.dropped += held.events.len() as u64;
                            }
                            return;
                        }
                    }
                }
            }
            out.push(event);
            return;
        }
        let Some(held) = event.task().and_then(|t| self.pending.get_mut(&t.cgroup)) else {
            out.push(event);
            return;
        };
        let size = event.held_bytes();
        if held.bytes + size > MAX_HELD_BYTES || self.held_bytes + size > MAX_HELD_TOTAL {
            self.over_events += 1;
            self.over_bytes += size as u64;
            self.last_ts = event.ts();
            return;
        }
        held.bytes += size;
        self.held_bytes += size;
        held.events.push(event);
    }

    /// At the end of a capture: what is still undecided was never selected. An
    /// overflow not yet announced goes to `out`.
    pub fn finish(&mut self, out: &mut Vec<Event>) {
        self.dropped += self
            .pending
            .drain()
            .map(|(_, held)| held.events.len() as u64)
            .sum::<u64>();
        self.held_bytes = 0;
        self.report(out);
    }

    /// Announces the overflow counts when they changed since the last time.
    fn report(&mut self, out: &mut Vec<Event>) {
        if (self.over_events, self.over_bytes) != self.reported {
            self.reported = (self.over_events, self.over_bytes);
            out.push(Event::Overflow {
                ts: self.last_ts,
                budget: HELD_BUDGET.into(),
                events: self.over_events,
                bytes: self.over_bytes,
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{Close, ContainerEvent, ContainerInfo, Task};

    fn container(action: ContainerAction, project: Option<&str>) -> Event {
        Event::Container(ContainerEvent {
            ts: 0,
            action,
            container: ContainerInfo {
                id: "c0ffee".repeat(10).into(),
                name: if project.is_some() {
                    "demo_client_run_1".into()
                } else {
                    "c0ffeec0ffee".into()
                },
                compose_project: project.map(Into::into),
                compose_service: None,
                cgroup_id: Some(42),
                ips: vec![],
                pid: None,
            },
        })
    }

    fn close(cgroup: u64, fd: i32) -> Event {
        Event::Close(Close {
            ts: 1,
            task: Task {
                pid: 1,
                tid: 1,
                comm: "curl".into(),
                cgroup,
            },
            fd,
        })
    }

    fn run(gate: &mut Gate, events: Vec<Event>) -> Vec<Event> {
        let mut out = Vec::new();
        for e in events {
            gate.admit(e, &mut out);
        }
        out
    }

    #[test]
    fn holds_until_selected_then_releases_in_order() {
        let mut gate = Gate::new(Selector::new(vec![], Some("demo".into())));
        let out = run(
            &mut gate,
            vec![
                container(ContainerAction::Created, None),
                close(42, 3),
                close(7, 9),
                close(42, 4),
            ],
        );
        assert_eq!(
            out,
            vec![container(ContainerAction::Created, None), close(7, 9)],
            "other cgroups pass"
        );
        let out = run(
            &mut gate,
            vec![
                container(ContainerAction::Update, Some("demo")),
                close(42, 5),
            ],
        );
        assert_eq!(
            out,
            vec![
                container(ContainerAction::Update, Some("demo")),
                close(42, 3),
                close(42, 4),
                close(42, 5)
            ]
        );
        assert_eq!(gate.dropped(), 0);
    }

    #[test]
    fn drops_what_turns_out_unselected() {
        let mut gate = Gate::new(Selector::new(vec![], Some("demo".into())));
        let out = run(
            &mut gate,
            vec![
                container(ContainerAction::Created, None),
                close(42, 3),
                container(ContainerAction::Update, Some("other")),
            ],
        );
        assert_eq!(out.len(), 2, "only the two container events: {out:?}");
        assert_eq!(gate.dropped(), 1);
    }

    #[test]
    fn selecting_everything_holds_nothing() {
        let mut gate = Gate::new(Selector::all());
        let out = run(
            &mut gate,
            vec![container(ContainerAction::Created, None), close(42, 3)],
        );
        assert_eq!(out.len(), 2);
    }

    #[test]
    fn undecided_at_the_end_is_dropped_and_counted() {
        let mut gate = Gate::new(Selector::new(vec!["demo_api_1".into()], None));
        let out = run(
            &mut gate,
            vec![container(ContainerAction::Created, None), close(42, 3)],
        );
        assert_eq!(out.len(), 1);
        let mut out = Vec::new();
        gate.finish(&mut out);
        assert!(out.is_empty(), "no overflow to announce");
        assert_eq!(gate.dropped(), 1);
    }

    fn data(cgroup: u64, ts: u64, len: usize) -> Event {
        Event::Data(crate::event::Data {
            ts,
            task: Task {
                pid: 1,
                tid: 1,
                comm: "curl".into(),
                cgroup,
            },
            fd: 3,
            syscall: crate::event::Syscall::Write,
            pos: 0,
            count: len as u64,
            payload: crate::bytes::Bytes(vec![b'x'; len]),
            truncated: false,
        })
    }

    #[test]
    fn holds_bytes_not_events_and_announces_what_it_dropped() {
        let mut gate = Gate::new(Selector::new(vec![], Some("demo".into())));
        let mut out = run(&mut gate, vec![container(ContainerAction::Created, None)]);
        // 16 KiB records: the budget holds about 1,000 of them, not 65,536.
        let per = 16 << 10;
        let n = 2 * MAX_HELD_BYTES / per;
        for i in 0..n {
            gate.admit(data(42, i as u64, per), &mut out);
        }
        let (over, bytes) = gate.over_budget();
        let held = n as u64 - over;
        assert!(
            over > 0 && held as usize * per <= MAX_HELD_BYTES,
            "{held} held"
        );
        assert_eq!(bytes, over * data(42, 0, per).held_bytes() as u64);
        let mut out = Vec::new();
        gate.admit(container(ContainerAction::Update, Some("demo")), &mut out);
        assert_eq!(
            out[0],
            Event::Overflow {
                ts: n as u64 - 1,
                budget: HELD_BUDGET.into(),
                events: over,
                bytes
            },
            "announced before the held events go on"
        );
        assert_eq!(out.len() as u64, 2 + held, "overflow, container, the held");
        // The held ones went on in order: the oldest are kept, the newest dropped.
        assert_eq!(out[2].ts(), 0);
        assert_eq!(out.last().map(Event::ts), Some(held - 1));
    }

    #[test]
    fn all_undecided_cgroups_share_one_budget() {
        let mut gate = Gate::new(Selector::new(vec![], Some("demo".into())));
        let mut out = Vec::new();
        let cgroups = 2 * MAX_HELD_TOTAL / MAX_HELD_BYTES;
        for cgroup in 0..cgroups as u64 {
            let mut c = container(ContainerAction::Created, None);
            if let Event::Container(e) = &mut c {
                e.container.cgroup_id = Some(cgroup);
            }
            gate.admit(c, &mut out);
            for _ in 0..MAX_HELD_BYTES / (1 << 20) - 1 {
                gate.admit(data(cgroup, 1, 1 << 20), &mut out);
            }
        }
        assert!(gate.held_bytes <= MAX_HELD_TOTAL);
        assert!(gate.over_budget().0 > 0);
        let mut out = Vec::new();
        gate.finish(&mut out);
        assert!(matches!(out[..], [Event::Overflow { .. }]));
    }
}
