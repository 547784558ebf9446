//! Holds back the events of containers whose selection is not decided yet. A new
//! container's cgroup is traced the moment it appears, before Docker can say its
//! name or compose project; its events wait here until a container event decides,
//! then go on (selected) or are dropped (not selected), in their original order.

use hashbrown::HashMap;

use crate::event::{ContainerAction, Event};

use super::Selector;

/// Held events of one undecided cgroup are capped; past it they are dropped, and
/// counted, rather than letting a container Docker never describes grow memory.
const MAX_HELD_EVENTS: usize = 65_536;

#[derive(Debug)]
pub struct Gate {
    selector: Selector,
    pending: HashMap<u64, Vec<Event>>,
    dropped: u64,
}

impl Gate {
    pub fn new(selector: Selector) -> Self {
        Self {
            selector,
            pending: HashMap::new(),
            dropped: 0,
        }
    }

    /// Events of unselected or undecided-and-overflowing containers dropped so far.
    pub fn dropped(&self) -> u64 {
        self.dropped
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
                            out.push(event);
                            if selected {
                                out.extend(held);
                            } else {
                                self.dropped += held.len() as u64;
                            }
                            return;
                        }
                    }
                }
            }
            out.push(event);
            return;
        }
        match event.task().and_then(|t| self.pending.get_mut(&t.cgroup)) {
            Some(held) if held.len() < MAX_HELD_EVENTS => held.push(event),
            Some(_) => self.dropped += 1,
            None => out.push(event),
        }
    }

    /// At the end of a capture: what is still undecided was never selected.
    pub fn finish(&mut self) {
        self.dropped += self
            .pending
            .drain()
            .map(|(_, held)| held.len() as u64)
            .sum::<u64>();
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
                id: "c0ffee".repeat(10),
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
        gate.finish();
        assert_eq!(gate.dropped(), 1);
    }
}
