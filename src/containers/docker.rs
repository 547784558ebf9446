//! Docker discovery through bollard: connect (DOCKER_HOST or the default socket,
//! API version negotiated), list the running containers and inspect each into a
//! [`ContainerInfo`] with its compose labels, IPs, PID and cgroup id.

use std::collections::HashMap;
use std::net::IpAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use bollard::errors::Error as BollardError;
use bollard::models::{ContainerInspectResponse, ContainerSummary};
use bollard::query_parameters::{InspectContainerOptions, ListContainersOptionsBuilder};

use super::cgroup::CgroupRoot;
use crate::event::ContainerInfo;

pub const COMPOSE_PROJECT_LABEL: &str = "com.docker.compose.project";
pub const COMPOSE_SERVICE_LABEL: &str = "com.docker.compose.service";

/// How long one request may wait for Docker's answer; the event stream itself is
/// not bounded by it (bollard applies it to the response head only).
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// Where Docker listens when DOCKER_HOST is unset (what bollard uses then too).
const DEFAULT_SOCKET: &str = "unix:///var/run/docker.sock";
/// How long `connect` waits for a first answer before calling Docker unreachable.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Debug, thiserror::Error)]
pub enum DockerError {
    #[error("no Docker socket at {path} (is Docker installed and dockerd running?)")]
    NoSocket { path: String },
    #[error("Docker is not answering at {host} ({reason})")]
    Unreachable { host: String, reason: String },
    #[error("Docker request failed: {0}")]
    Request(String),
}

impl From<BollardError> for DockerError {
    fn from(e: BollardError) -> Self {
        // Kept as text: bollard's wrappers repeat themselves down the source chain.
        DockerError::Request(short_reason(&e))
    }
}

/// A connection to the Docker daemon, and where container cgroups are on this host.
#[derive(Debug, Clone)]
pub struct Docker {
    api: bollard::Docker,
    host: String,
    cgroups: Option<CgroupRoot>,
}

impl Docker {
    /// Connects to `DOCKER_HOST`, or the default unix socket, and negotiates the API
    /// version with the daemon (Docker 20.10 speaks 1.41). Fails when nobody answers.
    pub async fn connect() -> Result<Self, DockerError> {
        let host = std::env::var("DOCKER_HOST")
            .ok()
            .filter(|h| !h.is_empty())
            .unwrap_or_else(|| DEFAULT_SOCKET.to_string());
        if let Some(path) = host.strip_prefix("unix://") {
            if !Path::new(path).exists() {
                return Err(DockerError::NoSocket { path: path.into() });
            }
        }
        let unreachable = |reason: String| DockerError::Unreachable {
            host: host.clone(),
            reason,
        };
        let api = bollard::Docker::connect_with_defaults()
            .map_err(|e| unreachable(e.to_string()))?
            .with_timeout(REQUEST_TIMEOUT);
        let api = match tokio::time::timeout(CONNECT_TIMEOUT, api.negotiate_version()).await {
            Ok(Ok(api)) => api,
            Ok(Err(e)) => return Err(unreachable(short_reason(&e))),
            Err(_) => return Err(unreachable("timed out".into())),
        };
        Ok(Self {
            api,
            host,
            cgroups: CgroupRoot::detect(),
        })
    }

    /// Where this client connects (`unix:///var/run/docker.sock`, `tcp://…`).
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The cgroup v2 hierarchy used for cgroup ids; `None` on a host without one.
    pub fn cgroups(&self) -> Option<&CgroupRoot> {
        self.cgroups.as_ref()
    }

    pub(crate) fn api(&self) -> &bollard::Docker {
        &self.api
    }

    /// Every running container, inspected. A container that stops between the
    /// list and its inspect is left out.
    pub async fn running(&self) -> Result<Vec<ContainerInfo>, DockerError> {
        let options = ListContainersOptionsBuilder::new().all(false).build();
        let summaries = self.api.list_containers(Some(options)).await?;
        let mut containers = Vec::with_capacity(summaries.len());
        for id in summaries.into_iter().filter_map(|s| s.id) {
            if let Some(info) = self.inspect(&id).await? {
                containers.push(info);
            }
        }
        containers.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(containers)
    }

    /// One container by id or name, with its cgroup id looked up on this host;
    /// `None` when Docker no longer knows it.
    pub async fn inspect(&self, id: &str) -> Result<Option<ContainerInfo>, DockerError> {
        let response = match self
            .api
            .inspect_container(id, None::<InspectContainerOptions>)
            .await
        {
            Ok(r) => r,
            Err(BollardError::DockerResponseServerError {
                status_code: 404, ..
            }) => return Ok(None),
            Err(e) => return Err(e.into()),
        };
        let Some(mut info) = info_from_inspect(&response) else {
            return Ok(None);
        };
        info.cgroup_id = self
            .cgroups
            .as_ref()
            .and_then(|root| root.container_cgroup_id(&info.id, info.pid));
        Ok(Some(info))
    }
}

impl Docker {
    /// A container as `docker ps -a` lists it, with the cgroup id of `cgroup_dir`.
    /// Unlike inspect, listing does not wait for a container that is starting, so
    /// this names a container the moment its cgroup appears. `None` when unknown.
    pub async fn listed(
        &self,
        id: &str,
        cgroup_id: Option<u64>,
    ) -> Result<Option<ContainerInfo>, DockerError> {
        let filters = HashMap::from([("id", vec![id])]);
        let options = ListContainersOptionsBuilder::new()
            .all(true)
            .filters(&filters)
            .build();
        let summaries = self.api.list_containers(Some(options)).await?;
        Ok(summaries
            .iter()
            .filter(|s| s.id.as_deref() == Some(id))
            .find_map(info_from_summary)
            .map(|info| ContainerInfo { cgroup_id, ..info }))
    }
}

/// The reason in a bollard error, without its wrapper's noise.
fn short_reason(e: &BollardError) -> String {
    let mut source: Option<&dyn std::error::Error> = Some(e);
    let mut last = e.to_string();
    while let Some(s) = source {
        last = s.to_string();
        source = s.source();
    }
    last
}

/// A container from Docker's inspect answer, without its cgroup id (that needs the
/// host). `None` when the answer has no id.
pub fn info_from_inspect(r: &ContainerInspectResponse) -> Option<ContainerInfo> {
    let id = r.id.clone().filter(|id| !id.is_empty())?;
    let labels = r.config.as_ref().and_then(|c| c.labels.as_ref());
    let label = |key: &str| {
        labels
            .and_then(|l| l.get(key))
            .map(|v| Arc::from(v.as_str()))
    };
    let running = r.state.as_ref().and_then(|s| s.running).unwrap_or(false);
    let pid = r
        .state
        .as_ref()
        .and_then(|s| s.pid)
        .filter(|_| running)
        .and_then(|p| u32::try_from(p).ok())
        .filter(|&p| p > 0);
    let networks = r
        .network_settings
        .as_ref()
        .and_then(|n| n.networks.as_ref());
    Some(ContainerInfo {
        name: container_name(r.name.as_deref(), &id).into(),
        compose_project: label(COMPOSE_PROJECT_LABEL),
        compose_service: label(COMPOSE_SERVICE_LABEL),
        cgroup_id: None,
        ips: networks.map(network_ips).unwrap_or_default(),
        pid,
        id: id.into(),
    })
}

/// A container from a listing entry, without PID or cgroup id (a listing has
/// neither). `None` when the entry has no id.
pub fn info_from_summary(s: &ContainerSummary) -> Option<ContainerInfo> {
    let id = s.id.clone().filter(|id| !id.is_empty())?;
    let label = |key: &str| {
        (s.labels.as_ref())
            .and_then(|l| l.get(key))
            .map(|v| Arc::from(v.as_str()))
    };
    let first_name = s.names.as_ref().and_then(|n| n.first()).map(String::as_str);
    let networks = s
        .network_settings
        .as_ref()
        .and_then(|n| n.networks.as_ref());
    Some(ContainerInfo {
        name: container_name(first_name, &id).into(),
        compose_project: label(COMPOSE_PROJECT_LABEL),
        compose_service: label(COMPOSE_SERVICE_LABEL),
        cgroup_id: None,
        ips: networks.map(network_ips).unwrap_or_default(),
        pid: None,
        id: id.into(),
    })
}

/// Docker's API names containers "/name"; without a name, the short id stands in.
pub fn container_name(name: Option<&str>, id: &str) -> String {
    match name.map(|n| n.trim_start_matches('/')) {
        Some(n) if !n.is_empty() => n.to_string(),
        _ => id.chars().take(12).collect(),
    }
}

/// The IPv4 and global IPv6 addresses on every network, sorted and without repeats.
fn network_ips(networks: &HashMap<String, bollard::models::EndpointSettings>) -> Vec<IpAddr> {
    let mut ips: Vec<IpAddr> = networks
        .values()
        .flat_map(|n| [n.ip_address.as_deref(), n.global_ipv6_address.as_deref()])
        .flatten()
        .filter_map(|s| s.parse().ok())
        .collect();
    ips.sort();
    ips.dedup();
    ips
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "3f0b1c7a9e2d4c5b8a6f1e0d9c8b7a6f5e4d3c2b1a0f9e8d7c6b5a4f3e2d1c0b";

    /// The parts of a real `docker inspect` answer (Docker 20.10) that matter.
    fn inspect_json(running: bool, pid: i64) -> String {
        format!(
            r#"{{
              "Id": "{ID}", "Name": "/demo_api_1",
              "State": {{"Status": "running", "Running": {running}, "Pid": {pid}}},
              "Config": {{"Labels": {{"com.docker.compose.project": "demo",
                                      "com.docker.compose.service": "api",
                                      "other": "x"}}}},
              "NetworkSettings": {{"IPAddress": "",
                "Networks": {{
                  "demo_back": {{"IPAddress": "172.20.0.3", "GlobalIPv6Address": ""}},
                  "demo_front": {{"IPAddress": "172.19.0.2", "GlobalIPv6Address": "fd00::2"}}
                }}}}
            }}"#
        )
    }

    fn parse(json: &str) -> ContainerInspectResponse {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn inspect_gives_name_labels_ips_and_pid() {
        let info = info_from_inspect(&parse(&inspect_json(true, 4242))).unwrap();
        assert_eq!(&*info.id, ID);
        assert_eq!(&*info.name, "demo_api_1");
        assert_eq!(info.compose_project.as_deref(), Some("demo"));
        assert_eq!(info.compose_service.as_deref(), Some("api"));
        assert_eq!(info.pid, Some(4242));
        assert_eq!(info.cgroup_id, None);
        let ips: Vec<IpAddr> = ["172.19.0.2", "172.20.0.3", "fd00::2"]
            .iter()
            .map(|s| s.parse().unwrap())
            .collect();
        assert_eq!(info.ips, ips);
    }

    #[test]
    fn a_stopped_container_has_no_pid() {
        let info = info_from_inspect(&parse(&inspect_json(false, 0))).unwrap();
        assert_eq!(info.pid, None);
        let info = info_from_inspect(&parse(&inspect_json(false, 99))).unwrap();
        assert_eq!(info.pid, None, "a stale pid of a stopped container");
    }

    #[test]
    fn a_negative_pid_is_no_pid() {
        let info = info_from_inspect(&parse(&inspect_json(true, -1))).unwrap();
        assert_eq!(info.pid, None);
    }

    #[test]
    fn a_bare_container_has_no_compose_labels_or_ips() {
        let info =
            info_from_inspect(&parse(&format!(r#"{{"Id": "{ID}", "Name": "/x"}}"#))).unwrap();
        assert_eq!(&*info.name, "x");
        assert_eq!(info.compose_project, None);
        assert_eq!(info.compose_service, None);
        assert!(info.ips.is_empty());
        assert_eq!(info.pid, None);
    }

    #[test]
    fn an_answer_without_an_id_is_not_a_container() {
        assert_eq!(info_from_inspect(&parse(r#"{"Name": "/x"}"#)), None);
        assert_eq!(info_from_inspect(&parse(r#"{"Id": ""}"#)), None);
    }

    #[test]
    fn bad_ips_are_skipped() {
        let json = format!(
            r#"{{"Id": "{ID}", "NetworkSettings": {{"Networks": {{
                "a": {{"IPAddress": "not-an-ip"}}, "b": {{"IPAddress": "10.1.2.3"}},
                "c": {{"IPAddress": "10.1.2.3"}}}}}}}}"#
        );
        let info = info_from_inspect(&parse(&json)).unwrap();
        assert_eq!(info.ips, vec!["10.1.2.3".parse::<IpAddr>().unwrap()]);
    }

    #[test]
    fn a_listing_entry_gives_name_labels_and_ips() {
        let json = format!(
            r#"{{"Id": "{ID}", "Names": ["/demo_client_run_1"], "State": "created",
                "Labels": {{"com.docker.compose.project": "demo",
                            "com.docker.compose.service": "client"}},
                "NetworkSettings": {{"Networks": {{"demo_default": {{"IPAddress": "172.21.0.4"}}}}}}}}"#
        );
        let summary: ContainerSummary = serde_json::from_str(&json).unwrap();
        let info = info_from_summary(&summary).unwrap();
        assert_eq!(&*info.name, "demo_client_run_1");
        assert_eq!(info.compose_project.as_deref(), Some("demo"));
        assert_eq!(info.compose_service.as_deref(), Some("client"));
        assert_eq!(info.ips, vec!["172.21.0.4".parse::<IpAddr>().unwrap()]);
        assert_eq!((info.pid, info.cgroup_id), (None, None));
        let empty: ContainerSummary = serde_json::from_str("{}").unwrap();
        assert_eq!(info_from_summary(&empty), None);
    }

    #[test]
    fn names_lose_the_slash_and_fall_back_to_the_short_id() {
        assert_eq!(container_name(Some("/web"), ID), "web");
        assert_eq!(container_name(Some("web"), ID), "web");
        assert_eq!(container_name(Some("/"), ID), &ID[..12]);
        assert_eq!(container_name(None, ID), &ID[..12]);
    }
}
