use std::net::IpAddr;
use std::sync::Arc;

use hashbrown::HashMap;

use crate::event::{ContainerAction, ContainerEvent, ContainerInfo};

/// Containers by cgroup id and by IP, as of the last container event applied.
#[derive(Debug, Default)]
pub struct ContainerMap {
    by_id: HashMap<String, Arc<ContainerInfo>>,
    by_cgroup: HashMap<u64, Arc<ContainerInfo>>,
    by_ip: HashMap<IpAddr, Arc<ContainerInfo>>,
}

impl ContainerMap {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn apply(&mut self, event: &ContainerEvent) {
        self.remove(&event.container.id);
        if event.action == ContainerAction::Die {
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

    fn remove(&mut self, id: &str) {
        let Some(old) = self.by_id.remove(id) else {
            return;
        };
        // Only drop index entries that still point at this container: an IP may
        // already belong to a newer one.
        if let Some(cgroup) = old.cgroup_id {
            if self.by_cgroup.get(&cgroup).is_some_and(|c| c.id == old.id) {
                self.by_cgroup.remove(&cgroup);
            }
        }
        for ip in &old.ips {
            if self.by_ip.get(ip).is_some_and(|c| c.id == old.id) {
                self.by_ip.remove(ip);
            }
        }
    }

    pub fn by_cgroup(&self, cgroup: u64) -> Option<&Arc<ContainerInfo>> {
        self.by_cgroup.get(&cgroup)
    }

    pub fn by_ip(&self, ip: &IpAddr) -> Option<&Arc<ContainerInfo>> {
        self.by_ip.get(ip)
    }

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
            name: format!("demo-{id}-1"),
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
    fn finds_by_cgroup_and_ip_and_forgets_on_die() {
        let mut map = ContainerMap::new();
        map.apply(&event(ContainerAction::Seen, info("api", 11, "172.18.0.2")));
        assert_eq!(map.by_cgroup(11).unwrap().name, "demo-api-1");
        assert_eq!(map.by_ip(&"172.18.0.2".parse().unwrap()).unwrap().id, "api");
        map.apply(&event(ContainerAction::Die, info("api", 11, "172.18.0.2")));
        assert!(map.by_cgroup(11).is_none());
        assert!(map.is_empty());
    }

    #[test]
    fn a_reused_ip_stays_with_the_newer_container() {
        let mut map = ContainerMap::new();
        map.apply(&event(ContainerAction::Seen, info("old", 1, "172.18.0.5")));
        map.apply(&event(ContainerAction::Start, info("new", 2, "172.18.0.5")));
        map.apply(&event(ContainerAction::Die, info("old", 1, "172.18.0.5")));
        assert_eq!(map.by_ip(&"172.18.0.5".parse().unwrap()).unwrap().id, "new");
    }
}
