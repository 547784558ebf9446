//! The live container watcher: `Seen` for every running container, then `Start`,
//! `Die` and `Update` from Docker's event stream and from new cgroup directories.
//! It outlives the daemon: it reconnects every second and re-lists on return.

use std::collections::HashMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bollard::models::{EventMessage, EventMessageTypeEnum};
use bollard::query_parameters::EventsOptionsBuilder;
use futures_util::StreamExt;
use tokio::sync::mpsc::UnboundedSender;

use super::cgroup_dirs::{CgroupDirs, NewCgroup};
use super::docker::{Docker, DockerError};
use super::tracker::{Change, Tracker};
use crate::clock::monotonic_ns;
use crate::event::{ContainerEvent, ContainerInfo};

/// How often a lost daemon is tried again.
pub const RETRY: Duration = Duration::from_secs(1);

/// Sends container events to `tx` until `tx` is closed; never returns before.
///
/// `docker` is a connection the caller made (so that it can tell "no Docker" at
/// start-up). When the daemon goes away the watcher says so once on stderr, keeps
/// trying every [`RETRY`], and on reconnect emits what changed meanwhile.
pub async fn watch(docker: Docker, tx: UnboundedSender<ContainerEvent>) {
    let mut tracker = Tracker::new();
    let mut cgroup_dirs = docker
        .cgroups()
        .and_then(|root| CgroupDirs::open(root).ok());
    let mut first = true;
    let mut docker = Some(docker);
    loop {
        let connected = match docker.take() {
            Some(d) => d,
            None => match reconnect(&tx).await {
                Some(d) => d,
                None => return,
            },
        };
        match follow(&connected, &mut tracker, &mut cgroup_dirs, &mut first, &tx).await {
            Ok(()) => return,
            Err(e) => eprintln!(
                "flowtap: lost Docker at {} ({e}); retrying every {} s",
                connected.host(),
                RETRY.as_secs()
            ),
        }
    }
}

/// Waits for the daemon to answer again; `None` when `tx` closed meanwhile.
async fn reconnect(tx: &UnboundedSender<ContainerEvent>) -> Option<Docker> {
    loop {
        tokio::select! {
            _ = tx.closed() => return None,
            _ = tokio::time::sleep(RETRY) => {}
        }
        if let Ok(docker) = Docker::connect().await {
            eprintln!("flowtap: reconnected to Docker at {}", docker.host());
            return Some(docker);
        }
    }
}

/// Lists, then follows events until `tx` closes (`Ok`) or Docker is lost (`Err`).
async fn follow(
    docker: &Docker,
    tracker: &mut Tracker,
    cgroup_dirs: &mut Option<CgroupDirs>,
    first: &mut bool,
    tx: &UnboundedSender<ContainerEvent>,
) -> Result<(), DockerError> {
    // Events since just before the listing are replayed, so nothing that happens
    // between the listing and the subscription is missed; repeats change nothing.
    let since = unix_now();
    let running = docker.running().await?;
    for info in &running {
        watch_parent(cgroup_dirs, info);
    }
    for change in tracker.reconcile(running, *first) {
        if !announce(tx, change) {
            return Ok(());
        }
    }
    *first = false;

    let filters = HashMap::from([
        ("type", vec!["container", "network"]),
        ("event", vec!["start", "die", "connect", "disconnect"]),
    ]);
    let options = EventsOptionsBuilder::new()
        .since(&since)
        .filters(&filters)
        .build();
    let mut events = docker.api().events(Some(options));
    loop {
        let change = tokio::select! {
            // A cgroup directory appears before Docker says `start`; taken first,
            // a container that is already gone by its `start` is still traced.
            biased;
            Some(new) = next_cgroup(cgroup_dirs) => {
                // Announced before asking Docker anything, so its cgroup is traced
                // before the container's first process can run; the name follows.
                if let Some(early) = tracker.created(&new.container_id, new.cgroup_id) {
                    if !announce(tx, early) {
                        return Ok(());
                    }
                }
                on_new_cgroup(docker, tracker, new).await?
            }
            _ = tx.closed() => return Ok(()),
            message = events.next() => match message {
                None => return Err(DockerError::Unreachable {
                    host: docker.host().into(),
                    reason: "event stream ended".into(),
                }),
                Some(message) => on_docker_event(docker, tracker, cgroup_dirs, message?).await?,
            },
        };
        if let Some(change) = change {
            if !announce(tx, change) {
                return Ok(());
            }
        }
    }
}

/// What a Docker event changes. `start` and network changes are inspected for the
/// container's current state; `die` needs no answer from Docker.
async fn on_docker_event(
    docker: &Docker,
    tracker: &mut Tracker,
    cgroup_dirs: &mut Option<CgroupDirs>,
    message: EventMessage,
) -> Result<Option<Change>, DockerError> {
    let actor = message.actor.unwrap_or_default();
    let attributes = actor.attributes.unwrap_or_default();
    let (id, is_network) = match (message.typ, message.action.as_deref()) {
        (Some(EventMessageTypeEnum::CONTAINER), Some("die")) => {
            return Ok(actor.id.and_then(|id| tracker.died(&id)));
        }
        (Some(EventMessageTypeEnum::CONTAINER), Some("start")) => (actor.id, false),
        (Some(EventMessageTypeEnum::NETWORK), Some("connect" | "disconnect")) => {
            (attributes.get("container").cloned(), true)
        }
        _ => return Ok(None),
    };
    let Some(id) = id else { return Ok(None) };
    // A network joined by a container not announced yet is no news: its `start`
    // brings the rest. Not asking Docker matters: inspecting a container that is
    // still starting waits for the start, and would hold back its cgroup sighting.
    if is_network && !tracker.is_known(&id) {
        return Ok(None);
    }
    let Some(info) = docker.inspect(&id).await? else {
        return Ok(None);
    };
    watch_parent(cgroup_dirs, &info);
    Ok(tracker.sighted(info))
}

/// Watches the directory `info`'s cgroup is in (`--cgroup-parent`, rootless
/// Docker's user slice), so that the next container there is seen at its
/// cgroup's creation, not only at Docker's `start`.
fn watch_parent(cgroup_dirs: &mut Option<CgroupDirs>, info: &ContainerInfo) {
    if let Some(dirs) = cgroup_dirs.as_mut() {
        if let Some(dir) = dirs.root().container_dir(&info.id, info.pid) {
            dirs.watch_parent_of(&dir);
        }
    }
}

/// A new container cgroup: name it from Docker's listing (which, unlike inspect,
/// does not wait for the start to finish) and announce it at once.
async fn on_new_cgroup(
    docker: &Docker,
    tracker: &mut Tracker,
    new: NewCgroup,
) -> Result<Option<Change>, DockerError> {
    // Its cgroup is announced already (by `created`); Docker's listing names it.
    let info = docker
        .listed(&new.container_id, Some(new.cgroup_id))
        .await?;
    Ok(info.and_then(|info| tracker.sighted(info)))
}

async fn next_cgroup(dirs: &mut Option<CgroupDirs>) -> Option<NewCgroup> {
    match dirs {
        Some(d) => match d.next().await {
            Some(new) => Some(new),
            None => {
                // inotify failed for good: Docker's events still come, only later.
                *dirs = None;
                None
            }
        },
        None => std::future::pending().await,
    }
}

/// Sends one change; false when nobody listens any more.
fn announce(tx: &UnboundedSender<ContainerEvent>, (action, container): Change) -> bool {
    tx.send(ContainerEvent {
        ts: monotonic_ns(),
        action,
        container,
    })
    .is_ok()
}

/// Now as Docker's `since` parameter wants it: Unix seconds with a fraction.
fn unix_now() -> String {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    format!("{}.{:09}", now.as_secs(), now.subsec_nanos())
}
