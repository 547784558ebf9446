//! Whether this host lets flowtap find container cgroup ids at all. The kernel
//! side filters on them, so a host that hides them (cgroup v1 only, or flowtap in
//! a cgroup namespace) would trace nothing; better to say so and stop.

use super::cgroup::CgroupRoot;
use crate::event::ContainerInfo;

/// Why containers cannot be traced on this host, or None when they can (as far as
/// the running containers show: with none running there is nothing to judge by).
pub fn cgroup_ids_unfindable(
    root: Option<&CgroupRoot>,
    running: &[ContainerInfo],
) -> Option<String> {
    let Some(root) = root else {
        return Some(
            "containers are traced by their cgroup v2 id and this host has no cgroup2 \
             mount (cgroup v1 only); mount the unified hierarchy, or trace with \
             --all-processes or --pid"
                .into(),
        );
    };
    let with_process = || running.iter().filter(|c| c.pid.is_some_and(|p| p > 0));
    if with_process().count() > 0 && with_process().all(|c| c.cgroup_id.is_none()) {
        return Some(format!(
            "none of the {} running containers has a cgroup directory under {} (is flowtap \
             in a cgroup namespace, e.g. inside a container?); run it in the host's cgroup \
             namespace, or trace with --all-processes or --pid",
            with_process().count(),
            root.mount().display()
        ));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn container(cgroup_id: Option<u64>) -> ContainerInfo {
        ContainerInfo {
            id: "a".repeat(64).into(),
            name: "x".into(),
            compose_project: None,
            compose_service: None,
            cgroup_id,
            ips: vec![],
            pid: Some(42),
        }
    }

    #[test]
    fn no_cgroup2_mount_is_one_sentence() {
        let why = cgroup_ids_unfindable(None, &[]).unwrap();
        assert!(
            why.contains("cgroup v1 only") && !why.contains('\n'),
            "{why}"
        );
    }

    #[test]
    fn running_containers_without_cgroup_ids_are_a_hidden_hierarchy() {
        let root = CgroupRoot::new("/sys/fs/cgroup");
        let why = cgroup_ids_unfindable(Some(&root), &[container(None), container(None)]).unwrap();
        assert!(why.contains("none of the 2 running containers"), "{why}");
        assert_eq!(
            cgroup_ids_unfindable(Some(&root), &[container(None), container(Some(7))]),
            None,
            "one found is enough: the other may just be gone"
        );
        assert_eq!(cgroup_ids_unfindable(Some(&root), &[]), None);
    }
}
