//! New container cgroup directories, as inotify reports them. runc creates a
//! container's cgroup before its first process runs and Docker announces `start`
//! only after, so this is the earliest moment a short-lived container can be traced.

use std::collections::HashMap;
use std::ffi::OsString;
use std::io;
use std::path::{Path, PathBuf};

use futures_util::StreamExt;
use inotify::{EventMask, EventStream, Inotify, WatchDescriptor, WatchMask};

use super::cgroup::{self, CgroupRoot, DOCKER_PARENTS};

/// A container cgroup that just appeared.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewCgroup {
    pub container_id: String,
    pub cgroup_id: u64,
}

pub struct CgroupDirs {
    stream: EventStream<Vec<u8>>,
    /// Which directory each watch is on; the mount root's watch only looks for a
    /// Docker parent being created (cgroupfs makes `docker/` with the first container).
    watched: HashMap<WatchDescriptor, PathBuf>,
    root: CgroupRoot,
}

impl CgroupDirs {
    /// Watches the Docker parent directories under `root` (and `root` itself, for a
    /// parent that does not exist yet).
    pub fn open(root: &CgroupRoot) -> io::Result<Self> {
        let inotify = Inotify::init()?;
        let stream = inotify.into_event_stream(vec![0u8; 4096])?;
        let mut dirs = Self {
            stream,
            watched: HashMap::new(),
            root: root.clone(),
        };
        dirs.add(root.mount().to_path_buf())?;
        for parent in root.docker_parents() {
            if parent.is_dir() {
                dirs.add(parent)?;
            }
        }
        Ok(dirs)
    }

    /// Also watches the parent of a container's cgroup directory, wherever Docker
    /// put it (rootless Docker's user slice, `--cgroup-parent`), so the next
    /// container there is seen as early as those under the usual parents.
    pub fn watch_parent_of(&mut self, container_dir: &Path) {
        let Some(parent) = container_dir.parent() else {
            return;
        };
        if parent.starts_with(self.root.mount()) && !self.watched.values().any(|d| d == parent) {
            // Best effort, as for the parents created later.
            let _ = self.add(parent.to_path_buf());
        }
    }

    /// The host's cgroup v2 hierarchy these watches are in.
    pub fn root(&self) -> &CgroupRoot {
        &self.root
    }

    fn add(&mut self, dir: PathBuf) -> io::Result<()> {
        let wd = self
            .stream
            .watches()
            .add(&dir, WatchMask::CREATE | WatchMask::ONLYDIR)?;
        self.watched.insert(wd, dir);
        Ok(())
    }

    /// The next container cgroup created; `None` once inotify fails for good.
    pub async fn next(&mut self) -> Option<NewCgroup> {
        while let Some(event) = self.stream.next().await {
            let Ok(event) = event else { return None };
            if !event.mask.contains(EventMask::ISDIR) {
                continue;
            }
            let (Some(dir), Some(name)) = (self.watched.get(&event.wd), event.name) else {
                continue;
            };
            let dir = dir.clone();
            if let Some(found) = self.on_created(&dir, name) {
                return Some(found);
            }
        }
        None
    }

    fn on_created(&mut self, dir: &Path, name: OsString) -> Option<NewCgroup> {
        let name = name.to_str()?;
        if dir == self.root.mount() {
            if DOCKER_PARENTS.contains(&name) {
                // Best effort: without this watch, Docker's own events still come.
                let _ = self.add(dir.join(name));
            }
            return None;
        }
        let container_id = cgroup::container_id_of_path(name)?.to_string();
        // The directory may already be gone (a container that failed to start).
        let cgroup_id = cgroup::cgroup_id(&dir.join(name)).ok()?;
        Some(NewCgroup {
            container_id,
            cgroup_id,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;
    use std::os::unix::fs::MetadataExt;
    use std::time::Duration;

    const ID: &str = "3f0b1c7a9e2d4c5b8a6f1e0d9c8b7a6f5e4d3c2b1a0f9e8d7c6b5a4f3e2d1c0b";

    async fn next_within(dirs: &mut CgroupDirs) -> Option<NewCgroup> {
        tokio::time::timeout(Duration::from_secs(2), dirs.next())
            .await
            .ok()
            .flatten()
    }

    #[tokio::test]
    async fn reports_a_container_dir_under_an_existing_parent_with_its_inode() {
        let tmp = tempfile::tempdir().unwrap();
        fs::create_dir(tmp.path().join("system.slice")).unwrap();
        let mut dirs = CgroupDirs::open(&CgroupRoot::new(tmp.path())).unwrap();
        // Not a container: ignored.
        fs::create_dir(tmp.path().join("system.slice/ssh.service")).unwrap();
        let dir = tmp.path().join(format!("system.slice/docker-{ID}.scope"));
        fs::create_dir(&dir).unwrap();
        let found = next_within(&mut dirs).await.unwrap();
        assert_eq!(found.container_id, ID);
        assert_eq!(found.cgroup_id, fs::metadata(&dir).unwrap().ino());
    }

    #[tokio::test]
    async fn follows_a_docker_parent_created_later() {
        let tmp = tempfile::tempdir().unwrap();
        let mut dirs = CgroupDirs::open(&CgroupRoot::new(tmp.path())).unwrap();
        fs::create_dir(tmp.path().join("docker")).unwrap();
        let dir = tmp.path().join("docker").join(ID);
        // The parent's watch is added when its creation is read, so create the
        // container dir only after giving the watcher a chance to see the parent.
        let waiter = tokio::spawn(async move { next_within(&mut dirs).await });
        tokio::time::sleep(Duration::from_millis(200)).await;
        fs::create_dir(&dir).unwrap();
        let found = waiter.await.unwrap().unwrap();
        assert_eq!(found.container_id, ID);
        assert_eq!(found.cgroup_id, fs::metadata(&dir).unwrap().ino());
    }

    #[tokio::test]
    async fn follows_the_parent_of_a_container_under_a_custom_cgroup_parent() {
        let tmp = tempfile::tempdir().unwrap();
        let parent = tmp.path().join("user.slice/user@1000.service");
        fs::create_dir_all(&parent).unwrap();
        let mut dirs = CgroupDirs::open(&CgroupRoot::new(tmp.path())).unwrap();
        let first = parent.join(format!("docker-{}.scope", "a".repeat(64)));
        fs::create_dir(&first).unwrap();
        assert_eq!(next_within(&mut dirs).await, None, "not watched yet");
        dirs.watch_parent_of(&first);
        // Outside the hierarchy: ignored.
        dirs.watch_parent_of(Path::new("/"));
        let second = parent.join(format!("docker-{ID}.scope"));
        fs::create_dir(&second).unwrap();
        let found = next_within(&mut dirs).await.unwrap();
        assert_eq!(found.container_id, ID);
        assert_eq!(found.cgroup_id, fs::metadata(&second).unwrap().ino());
    }

    #[tokio::test]
    async fn ignores_files_and_other_dirs() {
        let tmp = tempfile::tempdir().unwrap();
        fs::create_dir(tmp.path().join("docker")).unwrap();
        let mut dirs = CgroupDirs::open(&CgroupRoot::new(tmp.path())).unwrap();
        fs::write(tmp.path().join("docker").join(ID), b"a file").unwrap();
        fs::create_dir(tmp.path().join("docker/not-a-container")).unwrap();
        assert_eq!(next_within(&mut dirs).await, None);
    }
}
