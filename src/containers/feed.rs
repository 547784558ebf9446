//! Follows Docker for a capture, on a thread of its own: each container event
//! first updates the cgroup filter (when containers are what is traced), by the
//! selection's policy, then joins the event stream, so that traces and replay
//! name containers too and a new container's first syscalls are already traced.

use std::fmt;
use std::io;
use std::sync::mpsc::SyncSender;
use std::sync::Arc;
use std::thread::{self, JoinHandle};

use tokio::sync::{mpsc, oneshot};

use crate::event::{ContainerAction, ContainerEvent, ContainerInfo, Event, EventBatch};
use crate::selection::{follow, CgroupFilter, Selector};

use super::{cgroup_ids_unfindable, watch, CgroupRoot, Docker, DockerError};

#[derive(Debug, thiserror::Error)]
pub enum FeedError {
    #[error("starting the Docker client's runtime")]
    Runtime(#[source] io::Error),
    #[error(transparent)]
    Docker(#[from] DockerError),
    /// This host hides container cgroup ids (one sentence, from `visibility`).
    #[error("{0}")]
    NoCgroupIds(String),
    #[error("tracing the running containers")]
    Filter(#[source] Box<dyn std::error::Error + Send + Sync>),
}

/// The running follower; [`ContainerFeed::stop`] (or drop) ends it and drops its
/// sender.
pub struct ContainerFeed {
    stop: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl ContainerFeed {
    /// Connects to Docker. With a `filter`, the running containers the selection
    /// may want are traced before this returns (so a caller that then says
    /// `ready` means it). Then Docker is followed on a thread of its own, which
    /// sends every container event into `events`. A filter update that fails
    /// later is a warning on stderr: the capture goes on.
    pub fn start<F>(
        selector: Selector,
        filter: Option<Arc<F>>,
        events: SyncSender<EventBatch>,
    ) -> Result<ContainerFeed, FeedError>
    where
        F: CgroupFilter + Send + Sync + 'static,
        F::Error: std::error::Error + Send + Sync + 'static,
    {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(FeedError::Runtime)?;
        let docker = runtime.block_on(Docker::connect())?;
        if let Some(filter) = &filter {
            // The follower's own `Seen` events repeat this, harmlessly, and name them.
            let running = runtime.block_on(docker.running())?;
            if let Some(why) = cgroup_ids_unfindable(docker.cgroups(), &running) {
                return Err(FeedError::NoCgroupIds(why));
            }
            for info in running {
                let seen = ContainerEvent {
                    ts: 0,
                    action: ContainerAction::Seen,
                    container: info,
                };
                follow(&selector, filter.as_ref(), &seen, cgroup_gone)
                    .map_err(|e| FeedError::Filter(Box::new(e)))?;
            }
        }
        let (stop_tx, stop_rx) = oneshot::channel();
        let thread = thread::Builder::new()
            .name("flowtap-docker".into())
            .spawn(move || runtime.block_on(run(docker, selector, filter, events, stop_rx)))
            .map_err(FeedError::Runtime)?;
        Ok(ContainerFeed {
            stop: Some(stop_tx),
            thread: Some(thread),
        })
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

async fn run<F>(
    docker: Docker,
    selector: Selector,
    filter: Option<Arc<F>>,
    events: SyncSender<EventBatch>,
    mut stop: oneshot::Receiver<()>,
) where
    F: CgroupFilter,
    F::Error: fmt::Display,
{
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
        if let Some(filter) = &filter {
            if let Err(e) = follow(&selector, filter.as_ref(), &event, cgroup_gone) {
                eprintln!("flowtap: warning: updating the cgroup filter: {e}");
            }
        }
        if events.send(vec![Event::Container(event)]).is_err() {
            break;
        }
    }
    watcher.abort();
}

/// Whether a dead container's cgroup is really gone (not already its restarted
/// instance's).
fn cgroup_gone(container: &ContainerInfo, cgroup: u64) -> bool {
    CgroupRoot::detect().and_then(|root| root.container_cgroup_id(&container.id, None))
        != Some(cgroup)
}
