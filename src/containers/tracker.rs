//! What the watcher has already told about each container, so that every sighting
//! (a listing, a Docker event, a new cgroup directory) becomes the right
//! [`ContainerAction`], or nothing when it says nothing new. Pure; no I/O.

use std::collections::HashMap;
use std::sync::Arc;

use crate::event::{ContainerAction, ContainerInfo};

/// A change to announce: what happened, and the container as now known.
pub type Change = (ContainerAction, ContainerInfo);

#[derive(Debug, Default)]
pub struct Tracker {
    known: HashMap<Arc<str>, ContainerInfo>,
}

impl Tracker {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn is_known(&self, id: &str) -> bool {
        self.known.contains_key(id)
    }

    /// Brings the tracker in line with a full listing of the running containers.
    /// On the first listing every container is `Seen`; after a reconnect, the new
    /// ones `Start`, changed ones `Update` and the missing ones `Die`.
    pub fn reconcile(&mut self, running: Vec<ContainerInfo>, first: bool) -> Vec<Change> {
        let mut changes = Vec::new();
        let mut gone: Vec<Arc<str>> = self
            .known
            .keys()
            .filter(|id| !running.iter().any(|c| c.id == **id))
            .cloned()
            .collect();
        gone.sort();
        for id in gone {
            changes.extend(self.died(&id));
        }
        let new_action = if first {
            ContainerAction::Seen
        } else {
            ContainerAction::Start
        };
        for info in running {
            changes.extend(self.sight(info, new_action));
        }
        changes
    }

    /// A container is there: its cgroup appeared, Docker said `start`, or its
    /// networks changed. A new one `Start`s; a known one that changed is an `Update`.
    pub fn sighted(&mut self, info: ContainerInfo) -> Option<Change> {
        self.sight(info, ContainerAction::Start)
    }

    /// A container's cgroup appeared, before Docker could describe it. A new one is
    /// announced as `Created` with its id and cgroup only; a known one (a restart)
    /// keeps what is known of it and takes the new cgroup as an `Update`.
    pub fn created(&mut self, id: &str, cgroup_id: u64) -> Option<Change> {
        match self.known.get(id) {
            Some(old) if old.cgroup_id == Some(cgroup_id) => None,
            Some(old) => {
                let info = ContainerInfo {
                    cgroup_id: Some(cgroup_id),
                    pid: None,
                    ..old.clone()
                };
                self.sight(info, ContainerAction::Update)
            }
            None => {
                let info = ContainerInfo {
                    id: id.into(),
                    name: id.chars().take(12).collect::<String>().into(),
                    compose_project: None,
                    compose_service: None,
                    cgroup_id: Some(cgroup_id),
                    ips: Vec::new(),
                    pid: None,
                };
                self.sight(info, ContainerAction::Created)
            }
        }
    }

    /// A container stopped. Nothing to say about one never announced.
    pub fn died(&mut self, id: &str) -> Option<Change> {
        self.known
            .remove(id)
            .map(|info| (ContainerAction::Die, info))
    }

    fn sight(&mut self, info: ContainerInfo, new_action: ContainerAction) -> Option<Change> {
        match self.known.get_mut(&*info.id) {
            None => {
                self.known.insert(info.id.clone(), info.clone());
                Some((new_action, info))
            }
            Some(old) => {
                let merged = merge(old, info);
                if *old == merged {
                    return None;
                }
                *old = merged.clone();
                Some((ContainerAction::Update, merged))
            }
        }
    }
}

/// A newer sighting that lacks something an older one had (an early cgroup-directory
/// sighting has no PID yet; a later inspect may race a dying process and miss the
/// cgroup) keeps the older value rather than forgetting it.
fn merge(old: &ContainerInfo, new: ContainerInfo) -> ContainerInfo {
    ContainerInfo {
        cgroup_id: new.cgroup_id.or(old.cgroup_id),
        pid: new.pid.or(old.pid),
        compose_project: new.compose_project.or_else(|| old.compose_project.clone()),
        compose_service: new.compose_service.or_else(|| old.compose_service.clone()),
        ..new
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(id: &str, ip: &str) -> ContainerInfo {
        ContainerInfo {
            id: id.into(),
            name: format!("demo_{id}_1").into(),
            compose_project: Some("demo".into()),
            compose_service: Some(id.into()),
            cgroup_id: Some(100),
            ips: vec![ip.parse().unwrap()],
            pid: Some(10),
        }
    }

    fn actions(changes: &[Change]) -> Vec<(ContainerAction, &str)> {
        changes.iter().map(|(a, c)| (*a, &*c.id)).collect()
    }

    #[test]
    fn a_new_cgroup_is_created_then_named() {
        let mut t = Tracker::new();
        let id = "0123456789abcdef0123";
        let (action, early) = t.created(id, 5).expect("announced");
        assert_eq!(action, ContainerAction::Created);
        assert_eq!((&*early.name, early.cgroup_id), ("0123456789ab", Some(5)));
        assert_eq!(t.created(id, 5), None, "the same cgroup again says nothing");
        let mut named = info(id, "172.18.0.3");
        named.cgroup_id = None;
        let (action, merged) = t.sighted(named).expect("the listing names it");
        assert_eq!(action, ContainerAction::Update);
        assert_eq!(
            (&*merged.name, merged.cgroup_id),
            (named_of(id).as_str(), Some(5))
        );
    }

    #[test]
    fn a_restart_keeps_the_name_and_takes_the_new_cgroup() {
        let mut t = Tracker::new();
        let mut a = info("a", "172.18.0.2");
        a.cgroup_id = Some(1);
        t.sighted(a.clone());
        let (action, info) = t.created("a", 2).expect("a new cgroup is news");
        assert_eq!(action, ContainerAction::Update);
        assert_eq!((info.name, info.cgroup_id), (a.name, Some(2)));
    }

    fn named_of(id: &str) -> String {
        info(id, "172.18.0.3").name.to_string()
    }

    #[test]
    fn the_first_listing_is_seen() {
        let mut t = Tracker::new();
        let changes = t.reconcile(vec![info("api", "10.0.0.2"), info("web", "10.0.0.3")], true);
        assert_eq!(
            actions(&changes),
            vec![
                (ContainerAction::Seen, "api"),
                (ContainerAction::Seen, "web")
            ]
        );
        assert!(t.is_known("api"));
    }

    #[test]
    fn a_relisting_after_reconnect_emits_only_the_differences() {
        let mut t = Tracker::new();
        t.reconcile(vec![info("api", "10.0.0.2"), info("old", "10.0.0.4")], true);
        let changes = t.reconcile(
            vec![
                info("api", "10.0.0.2"),
                info("new", "10.0.0.5"),
                info("old", "10.0.0.9"),
            ],
            false,
        );
        assert_eq!(
            actions(&changes),
            vec![
                (ContainerAction::Start, "new"),
                (ContainerAction::Update, "old")
            ]
        );
        let changes = t.reconcile(vec![info("api", "10.0.0.2")], false);
        assert_eq!(
            actions(&changes),
            vec![(ContainerAction::Die, "new"), (ContainerAction::Die, "old")]
        );
    }

    #[test]
    fn start_then_the_same_again_says_nothing() {
        let mut t = Tracker::new();
        assert_eq!(
            t.sighted(info("api", "10.0.0.2")).map(|c| c.0),
            Some(ContainerAction::Start)
        );
        assert_eq!(t.sighted(info("api", "10.0.0.2")), None);
    }

    #[test]
    fn a_start_after_an_early_sighting_is_an_update_that_keeps_the_cgroup() {
        let mut t = Tracker::new();
        let early = ContainerInfo {
            ips: vec![],
            pid: None,
            ..info("api", "10.0.0.2")
        };
        assert_eq!(t.sighted(early).map(|c| c.0), Some(ContainerAction::Start));
        let later = ContainerInfo {
            cgroup_id: None,
            ..info("api", "10.0.0.2")
        };
        let (action, merged) = t.sighted(later).unwrap();
        assert_eq!(action, ContainerAction::Update);
        assert_eq!(merged.cgroup_id, Some(100));
        assert_eq!(merged.pid, Some(10));
        assert_eq!(
            merged.ips,
            vec!["10.0.0.2".parse::<std::net::IpAddr>().unwrap()]
        );
    }

    #[test]
    fn a_network_change_is_an_update() {
        let mut t = Tracker::new();
        t.sighted(info("api", "10.0.0.2"));
        let (action, c) = t.sighted(info("api", "10.0.0.7")).unwrap();
        assert_eq!(action, ContainerAction::Update);
        assert_eq!(c.ips, vec!["10.0.0.7".parse::<std::net::IpAddr>().unwrap()]);
    }

    #[test]
    fn die_forgets_and_only_once() {
        let mut t = Tracker::new();
        t.sighted(info("api", "10.0.0.2"));
        let (action, c) = t.died("api").unwrap();
        assert_eq!((action, &*c.id), (ContainerAction::Die, "api"));
        assert_eq!(t.died("api"), None);
        assert_eq!(t.died("never"), None);
        assert!(!t.is_known("api"));
    }

    #[test]
    fn a_restart_is_die_then_start_with_the_new_cgroup() {
        let mut t = Tracker::new();
        t.sighted(info("api", "10.0.0.2"));
        t.died("api");
        let restarted = ContainerInfo {
            cgroup_id: Some(200),
            ..info("api", "10.0.0.2")
        };
        let (action, c) = t.sighted(restarted).unwrap();
        assert_eq!((action, c.cgroup_id), (ContainerAction::Start, Some(200)));
    }
}
