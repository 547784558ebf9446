//! The Flow record, flowtap's output contract: one HTTP exchange, with `src` the
//! client and `dst` the server whichever side observed it, the observing process,
//! and where each address came from. Record types only: the pipeline assembles
//! them. See ARCHITECTURE.md for the shape.

use std::borrow::Cow;
use std::net::IpAddr;
use std::sync::Arc;

use compact_str::CompactString;
use serde::{Deserialize, Serialize};

use crate::bytes::Bytes;
use crate::event::{ContainerInfo, Observer, TlsLibrary};
use crate::http::Headers;
use crate::sockets::AddressSource;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Flow {
    /// `pid-fd-generation-exchange`: the same events give the same ids, live or replayed.
    pub id: CompactString,
    pub observer: FlowObserver,
    pub src: Endpoint,
    pub dst: Endpoint,
    pub process: Process,
    pub request: Request,
    pub response: Option<Response>,
    /// From the request's first byte to the response's last byte.
    pub duration_us: Option<u64>,
    pub address_source: AddressSources,
    /// After a `101 Switching Protocols` (the Upgrade protocol, e.g. "websocket") or
    /// a successful CONNECT ("connect"), the connection carries another protocol
    /// and flowtap stops parsing it; null otherwise.
    pub tunnel: Option<String>,
    /// Present when the exchange went over TLS and its plaintext came from the
    /// TLS library's calls; absent for clear text.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tls: Option<Tls>,
    pub incomplete: Option<String>,
    /// HTTP/2 only (absent from HTTP/1 flows): the stream, `:authority`, and
    /// for a gRPC call its service, method, status and messages.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stream_id: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authority: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grpc: Option<crate::http::h2::Grpc>,
    /// Framing signs the two ends may read differently (request smuggling), from
    /// the request and the response; absent when there are none.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub anomalies: Vec<String>,
}

/// Who observed an exchange: one end of it, or both (a merged flow).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FlowObserver {
    Client,
    Server,
    Both,
}

impl FlowObserver {
    /// The one end that observed the exchange; `None` for a merged flow.
    pub fn one_end(self) -> Option<Observer> {
        match self {
            FlowObserver::Client => Some(Observer::Client),
            FlowObserver::Server => Some(Observer::Server),
            FlowObserver::Both => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            FlowObserver::Client => "client",
            FlowObserver::Server => "server",
            FlowObserver::Both => "both",
        }
    }
}

impl From<Observer> for FlowObserver {
    fn from(o: Observer) -> Self {
        match o {
            Observer::Client => FlowObserver::Client,
            Observer::Server => FlowObserver::Server,
        }
    }
}

/// How an exchange over TLS was seen.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Tls {
    pub library: TlsLibrary,
    /// The version the ServerHello chose (`TLSv1.3`, …), when the observer's
    /// capture saw it.
    pub version: Option<String>,
    /// The server name the ClientHello asked for, when it had one and it was seen.
    pub sni: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Endpoint {
    pub ip: Option<IpAddr>,
    pub port: Option<u16>,
    pub container: Option<Container>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Container {
    /// A container's strings are shared with flowtap's map of containers: a flow
    /// names up to three containers, and copying their strings was up to a dozen
    /// allocations a flow.
    pub id: Arc<str>,
    pub name: Arc<str>,
    pub compose_project: Option<Arc<str>>,
    pub compose_service: Option<Arc<str>>,
}

impl From<&ContainerInfo> for Container {
    fn from(c: &ContainerInfo) -> Self {
        Container {
            id: c.id.clone(),
            name: c.name.clone(),
            compose_project: c.compose_project.clone(),
            compose_service: c.compose_service.clone(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Process {
    pub pid: u32,
    pub comm: CompactString,
    pub container: Option<Container>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Request {
    pub time: String,
    pub method: CompactString,
    pub target: CompactString,
    /// "HTTP/1.1" and its kind: borrowed, so no allocation a flow.
    pub version: Cow<'static, str>,
    pub headers: Headers,
    pub body: Body,
    #[serde(default, skip_serializing_if = "Headers::is_empty")]
    pub trailers: Headers,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Response {
    pub time: String,
    pub status: u16,
    pub reason: CompactString,
    pub version: Cow<'static, str>,
    pub headers: Headers,
    pub body: Body,
    #[serde(default, skip_serializing_if = "Headers::is_empty")]
    pub trailers: Headers,
}

/// `{"size", "text"|"base64", "truncated"}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Body {
    pub size: u64,
    #[serde(flatten)]
    pub bytes: Bytes,
    pub truncated: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct AddressSources {
    pub src: Option<AddressSource>,
    pub dst: Option<AddressSource>,
}
