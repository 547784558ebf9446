//! Follows Docker during a capture: each container event adjusts the kernel's
//! cgroup filter (by the `--container`/`--compose-project` selection) and then
//! joins the event stream, so that traces and replay name containers too.

use std::sync::mpsc::SyncSender;
use std::sync::Arc;
use std::thread::{self, JoinHandle};

use anyhow::Context;
use flowtap::capture::Filters;
use flowtap::containers::{cgroup_ids_unfindable, watch, CgroupRoot, Docker, Selector};
use flowtap::event::{ContainerAction, ContainerEvent, Event};
use tokio::sync::{mpsc, oneshot};

/// The running watcher; [`ContainerFeed::stop`] ends it and drops its sender.
pub struct ContainerFeed {
    stop: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

/// What Docker is for in this capture.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DockerRole {
    /// Containers are what is traced: their cgroups go into the kernel's filter,
    /// and no Docker is an error.
    Trace,
    /// Processes are traced by pid, cgroup or all; Docker only names containers,
    /// and its absence is a warning.
    Name,
}

impl ContainerFeed {
    /// Connects to Docker and starts following it on its own thread. `None` when
    /// Docker is optional and not there (after one warning line).
    pub fn start(
        selector: Selector,
        filters: Arc<Filters>,
        events: SyncSender<Event>,
        role: DockerRole,
    ) -> anyhow::Result<Option<ContainerFeed>> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .context("starting the Docker client's runtime")?;
        let docker = match runtime.block_on(Docker::connect()) {
            Ok(docker) => docker,
            Err(e) if role == DockerRole::Trace => {
                let why = if selector.is_all() {
                    "tracing containers needs Docker (or use --all-processes, --pid or --cgroup)"
                } else {
                    "--container and --compose-project need Docker"
                };
                return Err(e).context(why);
            }
            Err(e) => {
                eprintln!("flowtap: warning: {e}; containers will not be named");
                return Ok(None);
            }
        };
        let filters = (role == DockerRole::Trace).then_some(filters);
        // Trace what already runs before the caller says `ready`; the watcher's
        // own `Seen` events repeat this (harmlessly) and name the containers.
        if let Some(filters) = &filters {
            let running = runtime
                .block_on(docker.running())
                .context("listing containers")?;
            if let Some(why) = cgroup_ids_unfindable(docker.cgroups(), &running) {
                anyhow::bail!(why);
            }
            for info in running {
                let seen = ContainerEvent {
                    ts: 0,
                    action: ContainerAction::Seen,
                    container: info,
                };
                apply(&selector, filters, &seen)?;
            }
        }
        let (stop_tx, stop_rx) = oneshot::channel();
        let thread = thread::Builder::new()
            .name("flowtap-docker".into())
            .spawn(move || runtime.block_on(follow(docker, selector, filters, events, stop_rx)))
            .context("starting the Docker thread")?;
        Ok(Some(ContainerFeed {
            stop: Some(stop_tx),
            thread: Some(thread),
        }))
    }

    pub fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for ContainerFeed {
    fn drop(&mut self) {
        self.shutdown();
    }
}

async fn follow(
    docker: Docker,
    selector: Selector,
    filters: Option<Arc<Filters>>,
    events: SyncSender<Event>,
    mut stop: oneshot::Receiver<()>,
) {
    let (tx, mut rx) = mpsc::unbounded_channel();
    let watcher = tokio::spawn(watch(docker, tx));
    loop {
        let event = tokio::select! {
            _ = &mut stop => break,
            event = rx.recv() => match event {
                Some(event) => event,
                None => break,
            },
        };
        if let Some(filters) = &filters {
            if let Err(e) = apply(&selector, filters, &event) {
                eprintln!("flowtap: warning: {e:#}");
            }
        }
        // The filter is set first, so the container's first syscalls are traced
        // before this event is even in the stream.
        if events.send(Event::Container(event)).is_err() {
            break;
        }
    }
    watcher.abort();
}

/// Traces a container's cgroup while it is, or may yet be, selected; stops when it
/// is ruled out or dies.
fn apply(selector: &Selector, filters: &Filters, event: &ContainerEvent) -> anyhow::Result<()> {
    let Some(cgroup) = event.container.cgroup_id else {
        return Ok(());
    };
    match event.action {
        // A restart can race its own `die`: the cgroup it names may already be the
        // new instance's. Only a cgroup that is really gone stops being traced.
        ContainerAction::Die if !cgroup_alive(&event.container.id, cgroup) => {
            filters.untrace_cgroup(cgroup)?
        }
        ContainerAction::Die => {}
        // Undecided is traced too: the capture's gate holds its events until then.
        action => match selector.decide(action, &event.container) {
            Some(false) => filters.untrace_cgroup(cgroup)?,
            Some(true) | None => filters.trace_cgroup(cgroup)?,
        },
    }
    Ok(())
}

fn cgroup_alive(container_id: &str, cgroup: u64) -> bool {
    CgroupRoot::detect().and_then(|root| root.container_cgroup_id(container_id, None))
        == Some(cgroup)
}
