//! Assembles a [`Flow`] record from an [`Exchange`], the socket it happened on,
//! the container map (to name both ends) and the wall clock (to date it).

use std::borrow::Cow;

use chrono::{DateTime, SecondsFormat};
use compact_str::CompactString;

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
pub(super) fn flow(
    ctx: &FlowContext<'_>,
    times: &mut Times,
    exchange: Exchange,
    index: u64,
) -> Flow {
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
        id: flow_id(s, index),
        observer: exchange.observer.into(),
        src,
        dst,
        process: Process {
            pid: s.id.pid,
            comm: s.task.comm.clone(),
            container: own_container,
        },
        request: request_record(
            times.rfc3339(ctx.clock, exchange.request.start),
            exchange.request,
        ),
        response: exchange
            .response
            .map(|r| response_record(times.rfc3339(ctx.clock, r.start), r)),
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

/// `pid-fd-generation-index`, without `format!`: it and the versions' were
/// nearly half the instructions of assembling a flow.
/// Inline in the CompactString (up to 24 bytes) for the usual small numbers.
fn flow_id(s: &SocketInfo, index: u64) -> CompactString {
    let mut buf = itoa::Buffer::new();
    let mut id = CompactString::default();
    id.push_str(buf.format(s.id.pid));
    id.push('-');
    id.push_str(buf.format(s.id.fd));
    id.push('-');
    id.push_str(buf.format(s.id.generation));
    id.push('-');
    id.push_str(buf.format(index));
    id
}

fn request_record(time: String, m: Message) -> Request {
    let (method, target, minor, headers) = match m.head {
        http::Head::Request(r) => (r.method, r.target, r.minor_version, r.headers),
        // A decoder only puts requests on the request side; keep the record whole anyway.
        http::Head::Response(r) => (
            Default::default(),
            Default::default(),
            r.minor_version,
            r.headers,
        ),
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

fn response_record(time: String, m: Message) -> Response {
    let (status, reason, minor, headers) = match m.head {
        http::Head::Response(r) => (r.status, r.reason, r.minor_version, r.headers),
        http::Head::Request(r) => (0, Default::default(), r.minor_version, r.headers),
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

fn version(minor: u8) -> Cow<'static, str> {
    match minor {
        0 => "HTTP/1.0".into(),
        1 => "HTTP/1.1".into(),
        _ => format!("HTTP/1.{minor}").into(),
    }
}

/// Formats flow times. Flows of the same second share everything up to the
/// fraction, so chrono formats that once a second rather than twice a flow (it
/// was over a quarter of assembling one).
#[derive(Debug, Default)]
pub(super) struct Times {
    /// The second last formatted, and its text up to the fraction.
    second: Option<(i64, String)>,
}

impl Times {
    /// RFC 3339 UTC with microseconds, as chrono writes it.
    pub fn rfc3339(&mut self, clock: &WallClock, ts: Nanos) -> String {
        let ns = clock.realtime(ts);
        let Ok(secs) = i64::try_from(ns.div_euclid(1_000_000_000)) else {
            return String::new();
        };
        let micros = (ns.rem_euclid(1_000_000_000) / 1_000) as u32;
        if self.second.as_ref().map(|(s, _)| *s) != Some(secs) {
            let Some(t) = DateTime::from_timestamp(secs, 0) else {
                return String::new();
            };
            let mut whole = t.to_rfc3339_opts(SecondsFormat::Secs, true);
            whole.pop(); // the 'Z'
            self.second = Some((secs, whole));
        }
        let Some((_, prefix)) = &self.second else {
            return String::new();
        };
        let mut out = String::with_capacity(prefix.len() + 8);
        out.push_str(prefix);
        out.push('.');
        for div in [100_000, 10_000, 1_000, 100, 10, 1] {
            out.push(char::from(b'0' + (micros / div % 10) as u8));
        }
        out.push('Z');
        out
    }
}

/// RFC 3339 UTC with microseconds: what [`Times`] is held to.
#[cfg(test)]
fn rfc3339(clock: &WallClock, ts: Nanos) -> String {
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

    proptest::proptest! {
        /// The cache gives chrono's text, for times in the same second, in the
        /// next one, and anywhere.
        #[test]
        fn cached_times_are_chronos(
            start in 0u64..1 << 62,
            realtime in proptest::num::u64::ANY,
            steps in proptest::collection::vec(0u64..3_000_000_000, 1..20),
        ) {
            let clock = WallClock::new(start, realtime);
            let mut times = Times::default();
            let mut ts = start;
            for step in steps {
                ts += step;
                proptest::prop_assert_eq!(times.rfc3339(&clock, ts), rfc3339(&clock, ts));
            }
        }
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
