//! Where a container's cgroup v2 directory is, and its id (the directory's inode,
//! which is what `bpf_get_current_cgroup_id()` returns). The parsing is pure and
//! covers cgroup v2 hosts, v1 hosts with the unified hierarchy, and both Docker drivers.

use std::fs;
use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// Prefixes runtimes put before a container id in a systemd scope name.
const SCOPE_PREFIXES: [&str; 3] = ["docker-", "cri-containerd-", "crio-"];

/// Cgroup directories (relative to the unified mount) that hold Docker's containers:
/// the cgroupfs driver's and the systemd driver's.
pub const DOCKER_PARENTS: [&str; 2] = ["docker", "system.slice"];

/// The mount point of the cgroup v2 (unified) hierarchy, from `/proc/self/mountinfo`
/// text. A v1 host with the unified hierarchy has it at `/sys/fs/cgroup/unified`; a
/// pure v2 host at `/sys/fs/cgroup`. Among several cgroup2 mounts, those two win.
pub fn unified_mount(mountinfo: &str) -> Option<PathBuf> {
    let mounts: Vec<PathBuf> = mountinfo.lines().filter_map(cgroup2_mount_point).collect();
    ["/sys/fs/cgroup/unified", "/sys/fs/cgroup"]
        .iter()
        .map(PathBuf::from)
        .find(|preferred| mounts.contains(preferred))
        .or_else(|| mounts.into_iter().next())
}

/// The mount point of one mountinfo line, when that line mounts cgroup2 at its root.
fn cgroup2_mount_point(line: &str) -> Option<PathBuf> {
    // "36 35 0:30 / /sys/fs/cgroup rw,nosuid - cgroup2 cgroup2 rw": the fields after
    // " - " are fstype and source; the fields before are id, parent, dev, root, point.
    let (before, after) = line.split_once(" - ")?;
    if after.split_whitespace().next()? != "cgroup2" {
        return None;
    }
    let mut fields = before.split_whitespace();
    let root = fields.nth(3)?;
    let point = fields.next()?;
    // A mount of a sub-tree (inside a cgroup namespace) would give relative paths.
    (root == "/").then(|| PathBuf::from(unescape_mount_path(point)))
}

/// mountinfo escapes space, tab, newline and backslash as `\ooo` octal.
fn unescape_mount_path(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let octal = bytes
            .get(i + 1..i + 4)
            .filter(|d| d.iter().all(|b| (b'0'..=b'7').contains(b)));
        if let (b'\\', Some(d)) = (bytes[i], octal) {
            // Three octal digits fit in u16; mountinfo only escapes bytes, so truncate.
            let value = d.iter().fold(0u16, |acc, b| acc * 8 + u16::from(b - b'0'));
            out.push(value as u8);
            i += 4;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The cgroup v2 path in `/proc/<pid>/cgroup` text: the `0::/…` line.
pub fn v2_path_of_process(proc_cgroup: &str) -> Option<&str> {
    proc_cgroup
        .lines()
        .find_map(|line| line.strip_prefix("0::"))
        .map(str::trim_end)
        .filter(|p| p.starts_with('/'))
}

/// The paths (relative to the unified mount) where Docker puts a container's cgroup:
/// the cgroupfs driver's `/docker/<id>`, then the systemd driver's
/// `/system.slice/docker-<id>.scope`.
pub fn docker_cgroup_paths(id: &str) -> [String; 2] {
    [
        format!("/docker/{id}"),
        format!("/system.slice/docker-{id}.scope"),
    ]
}

/// The container id a cgroup path ends in, if it names one: `…/<64 hex>` (cgroupfs)
/// or `…/docker-<64 hex>.scope` (systemd; also containerd's and CRI-O's prefixes).
pub fn container_id_of_path(path: &str) -> Option<&str> {
    let last = path.trim_end_matches('/').rsplit('/').next()?;
    let id = match last.strip_suffix(".scope") {
        Some(scope) => SCOPE_PREFIXES.iter().find_map(|p| scope.strip_prefix(p))?,
        None => last,
    };
    is_full_id(id).then_some(id)
}

/// Whether `s` is a full container id: 64 lowercase hex digits.
pub fn is_full_id(s: &str) -> bool {
    s.len() == 64
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// The host's cgroup v2 hierarchy, where container cgroup directories are looked up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CgroupRoot {
    mount: PathBuf,
}

impl CgroupRoot {
    pub fn new(mount: impl Into<PathBuf>) -> Self {
        Self {
            mount: mount.into(),
        }
    }

    /// Finds the unified mount of this host; `None` when no cgroup2 is mounted.
    pub fn detect() -> Option<Self> {
        let mountinfo = fs::read_to_string("/proc/self/mountinfo").ok()?;
        unified_mount(&mountinfo).map(Self::new)
    }

    pub fn mount(&self) -> &Path {
        &self.mount
    }

    /// The host path of a cgroup path as `/proc/<pid>/cgroup` writes it.
    pub fn join(&self, cgroup_path: &str) -> PathBuf {
        self.mount.join(cgroup_path.trim_start_matches('/'))
    }

    /// A container's cgroup directory: the one its process is in when its PID is
    /// known (whatever the driver or nesting), else where Docker's drivers put it.
    pub fn container_dir(&self, id: &str, pid: Option<u32>) -> Option<PathBuf> {
        let from_pid = pid
            .filter(|&p| p > 0)
            .and_then(|p| fs::read_to_string(format!("/proc/{p}/cgroup")).ok())
            .and_then(|text| v2_path_of_process(&text).map(|path| self.join(path)))
            // A process that already left (or a root cgroup "/") tells us nothing.
            .filter(|dir| dir != &self.mount && dir.is_dir());
        from_pid.or_else(|| {
            docker_cgroup_paths(id)
                .iter()
                .map(|p| self.join(p))
                .find(|dir| dir.is_dir())
        })
    }

    /// The cgroup id of a container, or `None` when its directory is not there
    /// (not started yet, or already gone).
    pub fn container_cgroup_id(&self, id: &str, pid: Option<u32>) -> Option<u64> {
        self.container_dir(id, pid).and_then(|d| cgroup_id(&d).ok())
    }

    /// The directories new container cgroups appear in, for an inotify watch.
    pub fn docker_parents(&self) -> impl Iterator<Item = PathBuf> + '_ {
        DOCKER_PARENTS.iter().map(|p| self.mount.join(p))
    }
}

/// The cgroup id of a cgroup v2 directory: its inode number.
pub fn cgroup_id(dir: &Path) -> io::Result<u64> {
    fs::metadata(dir).map(|m| m.ino())
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "3f0b1c7a9e2d4c5b8a6f1e0d9c8b7a6f5e4d3c2b1a0f9e8d7c6b5a4f3e2d1c0b";

    const V1_WITH_UNIFIED: &str = "\
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
";

    const V2_ONLY: &str = "\
22 1 0:21 / /proc rw,nosuid - proc proc rw
35 24 0:30 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:9 - cgroup2 cgroup2 rw,nsdelegate
";

    #[test]
    fn unified_mount_on_a_v1_host_is_the_unified_dir() {
        assert_eq!(
            unified_mount(V1_WITH_UNIFIED),
            Some(PathBuf::from("/sys/fs/cgroup/unified"))
        );
    }

    #[test]
    fn unified_mount_on_a_v2_host_is_sys_fs_cgroup() {
        assert_eq!(
            unified_mount(V2_ONLY),
            Some(PathBuf::from("/sys/fs/cgroup"))
        );
    }

    #[test]
    fn unified_mount_with_optional_fields_before_the_separator() {
        let line = "35 24 0:30 / /sys/fs/cgroup rw shared:9 master:1 - cgroup2 cgroup2 rw\n";
        assert_eq!(unified_mount(line), Some(PathBuf::from("/sys/fs/cgroup")));
    }

    #[test]
    fn unified_mount_prefers_the_standard_place_over_another_cgroup2_mount() {
        let text = format!("{V2_ONLY}90 1 0:30 / /mnt/cg rw - cgroup2 cgroup2 rw\n");
        assert_eq!(unified_mount(&text), Some(PathBuf::from("/sys/fs/cgroup")));
        let other_first = format!("90 1 0:30 / /mnt/cg rw - cgroup2 cgroup2 rw\n{V2_ONLY}");
        assert_eq!(
            unified_mount(&other_first),
            Some(PathBuf::from("/sys/fs/cgroup"))
        );
    }

    #[test]
    fn unified_mount_elsewhere_is_still_found() {
        let text = "90 1 0:30 / /mnt/my\\040cg rw - cgroup2 none rw\n";
        assert_eq!(unified_mount(text), Some(PathBuf::from("/mnt/my cg")));
    }

    #[test]
    fn no_cgroup2_means_no_unified_mount() {
        let v1_only = "32 31 0:29 / /sys/fs/cgroup/cpu rw - cgroup cgroup rw,cpu\n";
        assert_eq!(unified_mount(v1_only), None);
        assert_eq!(unified_mount(""), None);
        assert_eq!(unified_mount("garbage\n - \n-\n"), None);
    }

    #[test]
    fn a_subtree_mount_of_cgroup2_is_ignored() {
        let text = "90 1 0:30 /docker/abc /sys/fs/cgroup rw - cgroup2 cgroup2 rw\n";
        assert_eq!(unified_mount(text), None);
    }

    #[test]
    fn process_path_on_a_v1_host_is_the_zero_line() {
        let text = format!("9:name=systemd:/docker/{ID}\n4:memory:/docker/{ID}\n0::/docker/{ID}\n");
        assert_eq!(
            v2_path_of_process(&text),
            Some(format!("/docker/{ID}").as_str())
        );
    }

    #[test]
    fn process_path_on_a_v2_host_with_systemd_driver() {
        let text = format!("0::/system.slice/docker-{ID}.scope\n");
        assert_eq!(
            v2_path_of_process(&text),
            Some(format!("/system.slice/docker-{ID}.scope").as_str())
        );
    }

    #[test]
    fn process_path_absent_without_a_zero_line() {
        assert_eq!(v2_path_of_process("4:memory:/docker/x\n"), None);
        assert_eq!(v2_path_of_process(""), None);
        assert_eq!(v2_path_of_process("0::relative\n"), None);
    }

    #[test]
    fn docker_paths_cover_both_drivers() {
        let [cgroupfs, systemd] = docker_cgroup_paths(ID);
        assert_eq!(cgroupfs, format!("/docker/{ID}"));
        assert_eq!(systemd, format!("/system.slice/docker-{ID}.scope"));
    }

    #[test]
    fn id_of_a_cgroupfs_path() {
        assert_eq!(container_id_of_path(&format!("/docker/{ID}")), Some(ID));
        assert_eq!(container_id_of_path(&format!("/docker/{ID}/")), Some(ID));
    }

    #[test]
    fn id_of_a_systemd_scope_and_other_runtimes() {
        for prefix in ["docker-", "cri-containerd-", "crio-"] {
            let path = format!("/kubepods.slice/x.slice/{prefix}{ID}.scope");
            assert_eq!(container_id_of_path(&path), Some(ID), "{prefix}");
        }
    }

    #[test]
    fn id_of_a_bare_directory_name_as_inotify_gives_it() {
        assert_eq!(container_id_of_path(ID), Some(ID));
        assert_eq!(
            container_id_of_path(&format!("docker-{ID}.scope")),
            Some(ID)
        );
    }

    #[test]
    fn no_id_in_paths_that_are_not_containers() {
        for path in [
            "/",
            "",
            "/docker",
            "/system.slice/docker.service",
            "/system.slice/ssh.scope",
            "/user.slice/user-0.slice/session-1.scope",
            &format!("/docker/{}", &ID[..63]),
            &format!("/docker/{}", ID.to_uppercase()),
            &format!("/system.slice/podman-{ID}.scope"),
        ] {
            assert_eq!(container_id_of_path(path), None, "{path}");
        }
    }

    #[test]
    fn join_ignores_the_leading_slash() {
        let root = CgroupRoot::new("/sys/fs/cgroup/unified");
        assert_eq!(
            root.join(&format!("/docker/{ID}")),
            PathBuf::from(format!("/sys/fs/cgroup/unified/docker/{ID}"))
        );
    }

    #[test]
    fn container_dir_is_found_under_either_driver_and_its_id_is_the_inode() {
        for (parent, leaf) in [
            ("docker", ID.to_string()),
            ("system.slice", format!("docker-{ID}.scope")),
        ] {
            let tmp = tempfile::tempdir().unwrap();
            let dir = tmp.path().join(parent).join(leaf);
            fs::create_dir_all(&dir).unwrap();
            let root = CgroupRoot::new(tmp.path());
            assert_eq!(root.container_dir(ID, None), Some(dir.clone()));
            let ino = fs::metadata(&dir).unwrap().ino();
            assert_eq!(root.container_cgroup_id(ID, None), Some(ino));
        }
    }

    #[test]
    fn a_missing_container_dir_has_no_cgroup_id() {
        let tmp = tempfile::tempdir().unwrap();
        let root = CgroupRoot::new(tmp.path());
        assert_eq!(root.container_cgroup_id(ID, None), None);
        // A pid that does not exist falls back to the driver paths.
        assert_eq!(root.container_cgroup_id(ID, Some(u32::MAX)), None);
    }

    #[test]
    fn docker_parents_are_under_the_mount() {
        let root = CgroupRoot::new("/sys/fs/cgroup");
        let parents: Vec<_> = root.docker_parents().collect();
        assert_eq!(
            parents,
            vec![
                PathBuf::from("/sys/fs/cgroup/docker"),
                PathBuf::from("/sys/fs/cgroup/system.slice")
            ]
        );
    }
}
