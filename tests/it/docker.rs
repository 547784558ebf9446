//! Container discovery and the live watcher against the real dockerd, with real
//! containers on the local `flowtap-base` image. Each test removes what it created,
//! even when it fails, through [`Cleanup`].

use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use flowtap::containers::{watch, Docker};
use flowtap::event::{ContainerAction, ContainerEvent, ContainerInfo};
use tokio::sync::mpsc;

use crate::support::{build_images, flowtap_bin};

const DOCKER: &str = "/usr/bin/docker";
pub const IMAGE: &str = "flowtap-base:2";
const NEEDS_DOCKER: &str = "needs Docker; run via scripts/test.sh";

/// Containers and networks to remove when the test ends, however it ends.
#[derive(Default)]
pub struct Cleanup {
    pub containers: Vec<String>,
    pub networks: Vec<String>,
    /// `--cgroup-parent` directories Docker made for the test (it leaves them):
    /// removed, empty, from every cgroup hierarchy once the containers are gone.
    pub cgroup_parents: Vec<String>,
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        for c in &self.containers {
            let _ = Command::new(DOCKER).args(["rm", "-f", c]).output();
        }
        for n in &self.networks {
            let _ = Command::new(DOCKER).args(["network", "rm", n]).output();
        }
        for parent in &self.cgroup_parents {
            let Ok(hierarchies) = std::fs::read_dir("/sys/fs/cgroup") else {
                continue;
            };
            for h in hierarchies.flatten() {
                let dir = h.path().join(parent);
                let _ = std::fs::remove_dir(&dir);
            }
            let _ = std::fs::remove_dir(PathBuf::from("/sys/fs/cgroup").join(parent));
        }
    }
}

pub fn unique(prefix: &str) -> String {
    static N: AtomicUsize = AtomicUsize::new(0);
    format!(
        "flowtap-it-{prefix}-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

/// Runs the docker CLI and returns its trimmed stdout; panics with its stderr.
pub fn docker(args: &[&str]) -> String {
    let out = Command::new(DOCKER)
        .args(args)
        .output()
        .expect("run docker");
    assert!(
        out.status.success(),
        "docker {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// A network of its own and a labelled, long-running container on it.
fn start_probe(cleanup: &mut Cleanup) -> (String, String) {
    build_images();
    let network = unique("net");
    docker(&["network", "create", &network]);
    cleanup.networks.push(network.clone());
    let name = unique("probe");
    cleanup.containers.push(name.clone());
    let id = docker(&[
        "run",
        "-d",
        "--name",
        &name,
        "--network",
        &network,
        "--label",
        "com.docker.compose.project=flowtapit",
        "--label",
        "com.docker.compose.service=probe",
        "-v",
        "/usr:/usr:ro",
        IMAGE,
        "/usr/bin/sleep",
        "300",
    ]);
    (name, id)
}

/// The cgroup id of a running container found without flowtap's code: the
/// cgroup2 mount from findmnt, the path from /proc/<pid>/cgroup, the inode of both.
fn cgroup_id_of(container: &str) -> u64 {
    let pid = docker(&["inspect", "-f", "{{.State.Pid}}", container]);
    let text = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap();
    let path = text
        .lines()
        .find_map(|l| l.strip_prefix("0::"))
        .expect("a cgroup v2 line");
    let findmnt = Command::new("findmnt")
        .args(["-n", "-t", "cgroup2", "-o", "TARGET"])
        .output()
        .unwrap();
    let mount = String::from_utf8_lossy(&findmnt.stdout)
        .lines()
        .next()
        .expect("a cgroup2 mount")
        .to_string();
    let dir = PathBuf::from(mount).join(path.trim_start_matches('/'));
    std::fs::metadata(&dir).unwrap().ino()
}

fn find<'a>(list: &'a [ContainerInfo], name: &str) -> &'a ContainerInfo {
    list.iter()
        .find(|c| *c.name == *name)
        .unwrap_or_else(|| panic!("{name} not among {list:?}"))
}

#[tokio::test]
#[ignore = "needs Docker; run via scripts/test.sh"]
async fn discovery_finds_name_labels_ips_and_cgroup_id() {
    let mut cleanup = Cleanup::default();
    let (name, id) = start_probe(&mut cleanup);
    let ip = docker(&[
        "inspect",
        "-f",
        "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}",
        &name,
    ]);
    let docker_client = Docker::connect().await.expect(NEEDS_DOCKER);
    let running = docker_client.running().await.unwrap();
    let probe = find(&running, &name);
    assert_eq!(&*probe.id, id);
    assert_eq!(probe.compose_project.as_deref(), Some("flowtapit"));
    assert_eq!(probe.compose_service.as_deref(), Some("probe"));
    assert_eq!(probe.ips, vec![ip.parse::<std::net::IpAddr>().unwrap()]);
    assert!(probe.pid.is_some_and(|p| p > 1));
    assert_eq!(probe.cgroup_id, Some(cgroup_id_of(&name)));
}

/// The next event about `name`, waiting at most `limit`.
async fn next_about(
    rx: &mut mpsc::UnboundedReceiver<ContainerEvent>,
    name: &str,
    limit: Duration,
) -> Option<ContainerEvent> {
    next_matching(rx, |e| *e.container.name == *name, limit).await
}

/// The next event that `wanted` accepts, waiting at most `limit`.
async fn next_matching(
    rx: &mut mpsc::UnboundedReceiver<ContainerEvent>,
    wanted: impl Fn(&ContainerEvent) -> bool,
    limit: Duration,
) -> Option<ContainerEvent> {
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        match tokio::time::timeout_at(deadline, rx.recv()).await {
            Ok(Some(e)) if wanted(&e) => return Some(e),
            Ok(Some(_)) => continue,
            Ok(None) | Err(_) => return None,
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs Docker; run via scripts/test.sh"]
async fn watcher_sees_running_started_short_lived_and_dead_containers() {
    let mut cleanup = Cleanup::default();
    let (probe, _) = start_probe(&mut cleanup);
    let docker_client = Docker::connect().await.expect(NEEDS_DOCKER);
    let (tx, mut rx) = mpsc::unbounded_channel();
    let watcher = tokio::spawn(watch(docker_client, tx));

    let seen = next_about(&mut rx, &probe, Duration::from_secs(5)).await;
    assert_eq!(seen.map(|e| e.action), Some(ContainerAction::Seen));

    // Started during the watch: announced with its cgroup within a second (from
    // the cgroup directory, before Docker can say more), then named by Docker.
    let late = unique("late");
    cleanup.containers.push(late.clone());
    let late_id = docker(&[
        "create",
        "--name",
        &late,
        "-v",
        "/usr:/usr:ro",
        IMAGE,
        "/usr/bin/sleep",
        "300",
    ]);
    let late_id = late_id.trim();
    let started_at = Instant::now();
    docker(&["start", &late]);
    let created = next_matching(
        &mut rx,
        |e| *e.container.id == *late_id,
        Duration::from_secs(3),
    )
    .await
    .expect("an event for the started container");
    assert!(
        started_at.elapsed() < Duration::from_millis(1500),
        "took {:?}",
        started_at.elapsed()
    );
    assert_eq!(created.action, ContainerAction::Created);
    assert_eq!(created.container.cgroup_id, Some(cgroup_id_of(&late)));
    let named = next_about(&mut rx, &late, Duration::from_secs(3))
        .await
        .expect("Docker names it");
    assert!(
        matches!(
            named.action,
            ContainerAction::Update | ContainerAction::Start
        ),
        "{named:?}"
    );
    assert_eq!(named.container.cgroup_id, Some(cgroup_id_of(&late)));

    docker(&["kill", &late]);
    let mut died = false;
    while let Some(e) = next_about(&mut rx, &late, Duration::from_secs(5)).await {
        if e.action == ContainerAction::Die {
            died = true;
            break;
        }
    }
    assert!(died, "no Die for {late}");

    // A container that lives a few milliseconds is still announced with its cgroup.
    let brief = unique("brief");
    cleanup.containers.push(brief.clone());
    let brief_id = docker(&[
        "create",
        "--name",
        &brief,
        "-v",
        "/usr:/usr:ro",
        IMAGE,
        "/usr/bin/true",
    ]);
    let brief_id = brief_id.trim();
    docker(&["start", "-a", &brief]);
    let first = next_matching(
        &mut rx,
        |e| *e.container.id == *brief_id,
        Duration::from_secs(3),
    )
    .await
    .expect("an event for a short-lived container");
    assert_eq!(first.action, ContainerAction::Created);
    assert!(first.container.cgroup_id.is_some(), "{first:?}");

    drop(rx);
    tokio::time::timeout(Duration::from_secs(3), watcher)
        .await
        .expect("the watcher stops once nobody listens")
        .unwrap();
}

/// A container started under a `--cgroup-parent` after the watch began makes
/// the watcher follow that parent too: the next container there is announced
/// from its cgroup's creation (`Created`), before Docker's `start`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs Docker; run via scripts/test.sh"]
async fn a_cgroup_parent_first_seen_at_a_start_is_watched_from_then_on() {
    build_images();
    let mut cleanup = Cleanup::default();
    let parent = unique("s16bounded-parent");
    cleanup.cgroup_parents.push(parent.clone());
    let docker_client = Docker::connect().await.expect(NEEDS_DOCKER);
    let (tx, mut rx) = mpsc::unbounded_channel();
    let watcher = tokio::spawn(watch(docker_client, tx));
    let run_under_parent = |cleanup: &mut Cleanup| {
        let name = unique("s16bounded-child");
        cleanup.containers.push(name.clone());
        let id = docker(&[
            "create",
            "--name",
            &name,
            "--cgroup-parent",
            &format!("/{parent}"),
            "-v",
            "/usr:/usr:ro",
            IMAGE,
            "/usr/bin/sleep",
            "300",
        ]);
        docker(&["start", &name]);
        id.trim().to_string()
    };
    // The watcher's listing is done once Docker's events reach it: wait for the
    // first container's `start`, which is how the watcher learns the parent.
    let first = run_under_parent(&mut cleanup);
    let seen = next_matching(
        &mut rx,
        |e| *e.container.id == *first,
        Duration::from_secs(10),
    )
    .await
    .expect("an event for the first container");
    assert_eq!(
        seen.action,
        ContainerAction::Start,
        "the parent was not watched before: {seen:?}"
    );
    let second = run_under_parent(&mut cleanup);
    let seen = next_matching(
        &mut rx,
        |e| *e.container.id == *second,
        Duration::from_secs(10),
    )
    .await
    .expect("an event for the second container");
    assert_eq!(seen.action, ContainerAction::Created, "{seen:?}");
    assert!(seen.container.cgroup_id.is_some(), "{seen:?}");

    drop(rx);
    tokio::time::timeout(Duration::from_secs(3), watcher)
        .await
        .expect("the watcher stops once nobody listens")
        .unwrap();
}

#[test]
#[ignore = "needs Docker; run via scripts/test.sh"]
fn containers_json_lists_a_running_container() {
    let mut cleanup = Cleanup::default();
    let (name, id) = start_probe(&mut cleanup);
    let out = Command::new(flowtap_bin())
        .args(["containers", "--json"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let list: Vec<ContainerInfo> = serde_json::from_slice(&out.stdout).unwrap();
    let probe = find(&list, &name);
    assert_eq!(&*probe.id, id);
    assert_eq!(probe.compose_service.as_deref(), Some("probe"));
    assert_eq!(probe.cgroup_id, Some(cgroup_id_of(&name)));

    let table = Command::new(flowtap_bin())
        .arg("containers")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&table.stdout);
    assert!(text.starts_with("NAME"), "{text}");
    assert!(
        text.lines()
            .any(|l| l.starts_with(&name) && l.contains("probe")),
        "{text}"
    );
}

#[test]
fn containers_without_docker_is_one_sentence_and_exit_1() {
    let out = Command::new(flowtap_bin())
        .arg("containers")
        .env("DOCKER_HOST", "unix:///nonexistent/docker.sock")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.contains("no Docker socket at /nonexistent/docker.sock"),
        "{err}"
    );
    assert!(!err.contains("panicked"), "{err}");
}
