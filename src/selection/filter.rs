//! The cgroup filter that decides which processes are traced, behind a trait so
//! that the kernel's map, replay's stand-in and tests share one policy.

use std::cell::RefCell;
use std::convert::Infallible;

use hashbrown::HashSet;

use crate::event::{ContainerAction, ContainerEvent, ContainerInfo};

use super::Selector;

/// A set of traced cgroup ids (inodes of cgroup v2 directories).
pub trait CgroupFilter {
    type Error;
    fn trace_cgroup(&self, cgroup: u64) -> Result<(), Self::Error>;
    fn untrace_cgroup(&self, cgroup: u64) -> Result<(), Self::Error>;
}

/// Keeps `filter` in step with one container event: a container's cgroup is
/// traced while it is, or may yet be, selected (the [`Gate`](super::Gate) holds
/// an undecided one's events), and stops being traced when it is ruled out, or
/// when it died and `gone` says its cgroup really is gone. (A restart can race its
/// own `die`: the cgroup a `die` names may already be the new instance's.)
pub fn follow<F: CgroupFilter + ?Sized>(
    selector: &Selector,
    filter: &F,
    event: &ContainerEvent,
    gone: impl FnOnce(&ContainerInfo, u64) -> bool,
) -> Result<(), F::Error> {
    let Some(cgroup) = event.container.cgroup_id else {
        return Ok(());
    };
    match event.action {
        ContainerAction::Die if gone(&event.container, cgroup) => filter.untrace_cgroup(cgroup),
        ContainerAction::Die => Ok(()),
        action => match selector.decide(action, &event.container) {
            Some(false) => filter.untrace_cgroup(cgroup),
            Some(true) | None => filter.trace_cgroup(cgroup),
        },
    }
}

/// The kernel's filter as replay sees it: the cgroups a live capture with the
/// same selection would have traced at each point of the trace.
#[derive(Debug, Default)]
pub struct TracedCgroups {
    traced: RefCell<HashSet<u64>>,
}

impl TracedCgroups {
    pub fn contains(&self, cgroup: u64) -> bool {
        self.traced.borrow().contains(&cgroup)
    }
}

impl CgroupFilter for TracedCgroups {
    type Error = Infallible;

    fn trace_cgroup(&self, cgroup: u64) -> Result<(), Infallible> {
        self.traced.borrow_mut().insert(cgroup);
        Ok(())
    }

    fn untrace_cgroup(&self, cgroup: u64) -> Result<(), Infallible> {
        self.traced.borrow_mut().remove(&cgroup);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(action: ContainerAction, name: &str, project: Option<&str>) -> ContainerEvent {
        ContainerEvent {
            ts: 0,
            action,
            container: ContainerInfo {
                id: "ab".repeat(32).into(),
                name: name.into(),
                compose_project: project.map(Into::into),
                compose_service: None,
                cgroup_id: Some(7),
                ips: vec![],
                pid: None,
            },
        }
    }

    fn run(selector: &Selector, events: &[ContainerEvent], gone: bool) -> bool {
        let filter = TracedCgroups::default();
        for e in events {
            let Ok(()) = follow(selector, &filter, e, |_, _| gone);
        }
        filter.contains(7)
    }

    #[test]
    fn an_undecided_container_is_traced_until_it_is_ruled_out() {
        let demo = Selector::new(vec![], Some("demo".into()));
        let created = event(ContainerAction::Created, "abababababab", None);
        assert!(run(&demo, std::slice::from_ref(&created), false));
        let other = event(ContainerAction::Start, "x_1", Some("other"));
        assert!(!run(&demo, &[created.clone(), other], false));
        let mine = event(ContainerAction::Start, "demo_api_1", Some("demo"));
        assert!(run(&demo, &[created, mine], false));
    }

    #[test]
    fn a_death_untraces_only_a_cgroup_that_is_gone() {
        let all = Selector::all();
        let start = event(ContainerAction::Start, "a", None);
        let die = event(ContainerAction::Die, "a", None);
        assert!(run(&all, &[start.clone(), die.clone()], false));
        assert!(!run(&all, &[start, die], true));
    }

    #[test]
    fn a_container_without_a_cgroup_changes_nothing() {
        let mut e = event(ContainerAction::Start, "a", None);
        e.container.cgroup_id = None;
        assert!(!run(&Selector::all(), &[e], false));
    }
}
