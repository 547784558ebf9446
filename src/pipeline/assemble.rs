//! Assembles a [`Flow`] record from an [`Exchange`], the socket it happened on,
//! the container map (to name both ends) and the wall clock (to date it).

use chrono::{DateTime, SecondsFormat};

use crate::bytes::Bytes;
use crate::clock::WallClock;
use crate::containers::ContainerMap;
use crate::event::{Nanos, Observer};
use crate::flow::{
    AddressSources, Body, Container, Endpoint, Flow, Process, Request, Response, Tls,
};
use crate::http::{self, Exchange, Message};
use crate::sockets::{Address, SocketInfo};

/// What turns an exchange into a flow: the socket it happened on and the maps
/// that name times and containers.
pub(super) struct FlowContext<'a> {
    pub socket: &'a SocketInfo,
    /// How the exchange's TLS was seen, when it went over TLS.
    pub tls: Option<&'a Tls>,
    pub containers: &'a ContainerMap,
    pub clock: &'a WallClock,
}

/// The flow of the `index`th exchange on the socket.
pub(super) fn flow(ctx: &FlowContext<'_>, exchange: Exchange, index: u64) -> Flow {
    let s = ctx.socket;
    let own_container = ctx
        .containers
        .by_cgroup(s.task.cgroup)
        .map(|c| c.as_ref().into());
    let far_container = |a: &Address| {
        a.ip.and_then(|ip| ctx.containers.by_ip(&ip))
            .map(|c| Container::from(c.as_ref()))
    };
    let local = Endpoint {
        ip: s.local.ip,
        port: s.local.port,
        container: own_container.clone(),
    };
    let peer = Endpoint {
        ip: s.peer.ip,
        port: s.peer.port,
        container: far_container(&s.peer),
    };
    let (src, dst, sources) = match exchange.observer {
        Observer::Client => (local, peer, (s.local.source, s.peer.source)),
        Observer::Server => (peer, local, (s.peer.source, s.local.source)),
    };
    let duration_us = exchange
        .response
        .as_ref()
        .map(|r| r.end.saturating_sub(exchange.request.start) / 1_000);
    let tunnel = exchange.response.as_ref().and_then(|r| r.tunnel.clone());
    let anomalies = (exchange.request.anomalies.iter())
        .map(|a| format!("request: {a}"))
        .chain(
            (exchange.response.iter())
                .flat_map(|r| r.anomalies.iter())
                .map(|a| format!("response: {a}")),
        )
        .collect();
    let http2 = exchange.http2;
    let mut flow = Flow {
        id: format!("{}-{}-{}-{}", s.id.pid, s.id.fd, s.id.generation, index),
        observer: exchange.observer.into(),
        src,
        dst,
        process: Process {
            pid: s.id.pid,
            comm: s.task.comm.clone(),
            container: own_container,
        },
        request: request_record(ctx.clock, exchange.request),
        response: exchange.response.map(|r| response_record(ctx.clock, r)),
        duration_us,
        address_source: AddressSources {
            src: sources.0,
            dst: sources.1,
        },
        tunnel,
        tls: ctx.tls.cloned(),
        incomplete: exchange.incomplete,
        anomalies,
        stream_id: None,
        authority: None,
        grpc: None,
    };
    if let Some(h2) = http2 {
        flow.request.version = "HTTP/2".into();
        if let Some(r) = flow.response.as_mut() {
            r.version = "HTTP/2".into();
        }
        flow.stream_id = Some(h2.stream_id);
        flow.authority = h2.authority;
        flow.grpc = h2.grpc;
    }
    flow
}

fn request_record(clock: &WallClock, m: Message) -> Request {
    let time = rfc3339(clock, m.start);
    let (method, target, minor, headers) = match m.head {
        http::Head::Request(r) => (r.method, r.target, r.minor_version, r.headers),
        // A decoder only puts requests on the request side; keep the record whole anyway.
        http::Head::Response(r) => (String::new(), String::new(), r.minor_version, r.headers),
    };
    Request {
        time,
        method,
        target,
        version: version(minor),
        headers,
        body: body_record(m.body),
        trailers: m.trailers,
    }
}

fn response_record(clock: &WallClock, m: Message) -> Response {
    let time = rfc3339(clock, m.start);
    let (status, reason, minor, headers) = match m.head {
        http::Head::Response(r) => (r.status, r.reason, r.minor_version, r.headers),
        http::Head::Request(r) => (0, String::new(), r.minor_version, r.headers),
    };
    Response {
        time,
        status,
        reason,
        version: version(minor),
        headers,
        body: body_record(m.body),
        trailers: m.trailers,
    }
}

fn body_record(b: http::Body) -> Body {
    Body {
        size: b.size,
        bytes: Bytes(b.kept),
        truncated: b.truncated,
    }
}

fn version(minor: u8) -> String {
    format!("HTTP/1.{minor}")
}

/// RFC 3339 UTC with microseconds.
pub fn rfc3339(clock: &WallClock, ts: Nanos) -> String {
    let ns = clock.realtime(ts);
    let secs = ns.div_euclid(1_000_000_000);
    let sub = ns.rem_euclid(1_000_000_000) as u32;
    i64::try_from(secs)
        .ok()
        .and_then(|s| DateTime::from_timestamp(s, sub))
        .map(|t| t.to_rfc3339_opts(SecondsFormat::Micros, true))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_utc_with_microseconds() {
        let clock = WallClock::new(1_000, 1_700_000_000_123_456_789);
        assert_eq!(rfc3339(&clock, 1_000), "2023-11-14T22:13:20.123456Z");
        assert_eq!(rfc3339(&clock, 2_000), "2023-11-14T22:13:20.123457Z");
    }

    #[test]
    fn body_is_flattened_text_or_base64() {
        let text = body_record(http::Body {
            kept: b"ok".to_vec(),
            size: 2,
            truncated: false,
            ..Default::default()
        });
        assert_eq!(
            serde_json::to_string(&text).unwrap(),
            r#"{"size":2,"text":"ok","truncated":false}"#
        );
        let bin = body_record(http::Body {
            kept: vec![0xff],
            size: 9,
            truncated: true,
            ..Default::default()
        });
        assert_eq!(
            serde_json::to_string(&bin).unwrap(),
            r#"{"size":9,"base64":"/w==","truncated":true}"#
        );
    }
}
