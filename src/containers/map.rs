use std::collections::VecDeque;
use std::net::IpAddr;
use std::sync::Arc;

use hashbrown::HashMap;

use crate::event::{ContainerAction, ContainerEvent, ContainerInfo};

/// Dead containers still named by their cgroup: a flow can complete after its
/// container is gone (a `docker-compose run --rm` client lives milliseconds).
const RETIRED: usize = 4096;
/// IPs learned from sockets; more than this many distinct ones starts over.
const OBSERVED_IPS: usize = 65_536;

/// Containers by cgroup id and by IP, as of the events applied so far.
///
/// Docker's word comes first. Beside it, the map learns which container an IP
/// belongs to from the local addresses its own processes' sockets report:
/// Docker cannot say for a container that died before it was inspected, but the
/// kernel saw it. Both come from events, so replay names containers as live did.
#[derive(Debug, Default)]
pub struct ContainerMap {
    by_id: HashMap<Arc<str>, Arc<ContainerInfo>>,
    by_cgroup: HashMap<u64, Arc<ContainerInfo>>,
    by_ip: HashMap<IpAddr, Arc<ContainerInfo>>,
    /// Cgroups of dead containers, oldest first, still in `by_cgroup`.
    retired: VecDeque<u64>,
    /// IP → cgroup, from sockets of processes in containers.
    observed_ips: HashMap<IpAddr, u64>,
}

impl ContainerMap {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn apply(&mut self, event: &ContainerEvent) {
        let dying = event.action == ContainerAction::Die;
        if let Some(old) = self.remove(&event.container.id) {
            // Its cgroup id is never reused, so a dead container (or a restarted
            // one's previous cgroup) keeps its name for flows still to come.
            if let Some(cgroup) = old
                .cgroup_id
                .filter(|c| dying || event.container.cgroup_id != Some(*c))
            {
                self.retire(cgroup);
            }
        }
        if dying {
            return;
        }
        let info = Arc::new(event.container.clone());
        if let Some(cgroup) = info.cgroup_id {
            self.by_cgroup.insert(cgroup, info.clone());
        }
        for ip in &info.ips {
            self.by_ip.insert(*ip, info.clone());
        }
        self.by_id.insert(info.id.clone(), info);
    }

    /// Takes a container out of the running set and its IPs out of the index
    /// (IPs are reused by later containers: only entries still pointing at it).
    fn remove(&mut self, id: &str) -> Option<Arc<ContainerInfo>> {
        let old = self.by_id.remove(id)?;
        for ip in &old.ips {
            if self.by_ip.get(ip).is_some_and(|c| c.id == old.id) {
                self.by_ip.remove(ip);
            }
        }
        Some(old)
    }

    /// Remembers a cgroup no running container has any more; past [`RETIRED`] of
    /// them the oldest is forgotten.
    fn retire(&mut self, cgroup: u64) {
        self.retired.push_back(cgroup);
        while self.retired.len() > RETIRED {
            let Some(oldest) = self.retired.pop_front() else {
                break;
            };
            let still_live = self
                .by_cgroup
                .get(&oldest)
                .and_then(|c| self.by_id.get(&*c.id))
                .is_some_and(|live| live.cgroup_id == Some(oldest));
            if !still_live {
                self.by_cgroup.remove(&oldest);
            }
        }
    }

    /// A process in `cgroup` has a socket bound to `ip`: if it is a container's,
    /// that IP is the container's (loopback and unspecified addresses say nothing).
    pub fn observe_local_ip(&mut self, ip: IpAddr, cgroup: u64) {
        if ip.is_loopback() || ip.is_unspecified() || !self.by_cgroup.contains_key(&cgroup) {
            return;
        }
        if self.observed_ips.len() >= OBSERVED_IPS && !self.observed_ips.contains_key(&ip) {
            self.observed_ips.clear();
        }
        self.observed_ips.insert(ip, cgroup);
    }

    /// The container of a process, by its cgroup id; dead ones are still named.
    pub fn by_cgroup(&self, cgroup: u64) -> Option<&Arc<ContainerInfo>> {
        self.by_cgroup.get(&cgroup)
    }

    /// The container an IP belongs to: Docker's answer, else what sockets showed.
    pub fn by_ip(&self, ip: &IpAddr) -> Option<&Arc<ContainerInfo>> {
        self.by_ip.get(ip).or_else(|| {
            self.observed_ips
                .get(ip)
                .and_then(|cgroup| self.by_cgroup.get(cgroup))
        })
    }

    /// Running containers.
    pub fn len(&self) -> usize {
        self.by_id.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_id.is_empty()
    }

    pub fn iter(&self) -> impl Iterator<Item = &Arc<ContainerInfo>> {
        self.by_id.values()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(id: &str, cgroup: u64, ip: &str) -> ContainerInfo {
        ContainerInfo {
            id: id.into(),
            name: format!("demo-{id}-1").into(),
            compose_project: Some("demo".into()),
            compose_service: Some(id.into()),
            cgroup_id: Some(cgroup),
            ips: vec![ip.parse().unwrap()],
            pid: Some(1),
        }
    }

    fn event(action: ContainerAction, c: ContainerInfo) -> ContainerEvent {
        ContainerEvent {
            ts: 0,
            action,
            container: c,
        }
    }

    #[test]
    fn finds_by_cgroup_and_ip_and_forgets_ips_on_die() {
        let mut map = ContainerMap::new();
        map.apply(&event(ContainerAction::Seen, info("api", 11, "172.18.0.2")));
        assert_eq!(&*map.by_cgroup(11).unwrap().name, "demo-api-1");
        assert_eq!(
            &*map.by_ip(&"172.18.0.2".parse().unwrap()).unwrap().id,
            "api"
        );
        map.apply(&event(ContainerAction::Die, info("api", 11, "172.18.0.2")));
        assert!(map.by_ip(&"172.18.0.2".parse().unwrap()).is_none());
        assert_eq!(
            &*map.by_cgroup(11).unwrap().name,
            "demo-api-1",
            "its past flows keep the name"
        );
        assert!(map.is_empty());
    }

    #[test]
    fn learns_a_container_ip_from_its_own_sockets() {
        let mut map = ContainerMap::new();
        let mut client = info("client", 21, "172.18.0.9");
        client.ips.clear(); // died before Docker told its IP
        map.apply(&event(ContainerAction::Start, client));
        let ip: IpAddr = "172.18.0.6".parse().unwrap();
        map.observe_local_ip(ip, 21);
        assert_eq!(&*map.by_ip(&ip).unwrap().id, "client");
        // Loopback, and processes outside containers, teach nothing.
        map.observe_local_ip("127.0.0.1".parse().unwrap(), 21);
        map.observe_local_ip("172.18.0.1".parse().unwrap(), 999);
        assert!(map.by_ip(&"127.0.0.1".parse().unwrap()).is_none());
        assert!(map.by_ip(&"172.18.0.1".parse().unwrap()).is_none());
        // Docker's word wins over what was observed.
        map.apply(&event(
            ContainerAction::Start,
            info("api", 11, "172.18.0.6"),
        ));
        assert_eq!(&*map.by_ip(&ip).unwrap().id, "api");
    }

    #[test]
    fn updates_retire_nothing_and_a_restart_retires_the_old_cgroup() {
        let mut map = ContainerMap::new();
        let api = info("api", 11, "172.18.0.2");
        map.apply(&event(ContainerAction::Start, api.clone()));
        for _ in 0..10 {
            map.apply(&event(ContainerAction::Update, api.clone()));
        }
        assert!(map.retired.is_empty(), "{:?}", map.retired);
        let restarted = ContainerInfo {
            cgroup_id: Some(12),
            ..api
        };
        map.apply(&event(ContainerAction::Update, restarted));
        assert_eq!(map.retired, [11]);
        assert_eq!(
            &*map.by_cgroup(11).unwrap().id,
            "api",
            "the old cgroup still names it"
        );
        assert_eq!(&*map.by_cgroup(12).unwrap().id, "api");
    }

    #[test]
    fn retired_cgroups_are_bounded() {
        let mut map = ContainerMap::new();
        for n in 0..(RETIRED as u64 + 10) {
            let c = info(&format!("c{n}"), 1000 + n, "172.18.0.2");
            map.apply(&event(ContainerAction::Start, c.clone()));
            map.apply(&event(ContainerAction::Die, c));
        }
        assert!(
            map.by_cgroup(1000).is_none(),
            "the oldest dead container is forgotten"
        );
        assert!(map.by_cgroup(1000 + RETIRED as u64 + 9).is_some());
        assert!(map.by_cgroup.len() <= RETIRED);
    }

    #[test]
    fn a_reused_ip_stays_with_the_newer_container() {
        let mut map = ContainerMap::new();
        map.apply(&event(ContainerAction::Seen, info("old", 1, "172.18.0.5")));
        map.apply(&event(ContainerAction::Start, info("new", 2, "172.18.0.5")));
        map.apply(&event(ContainerAction::Die, info("old", 1, "172.18.0.5")));
        assert_eq!(
            &*map.by_ip(&"172.18.0.5".parse().unwrap()).unwrap().id,
            "new"
        );
    }
}
