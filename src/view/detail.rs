//! One exchange in full: both heads, the bodies (JSON pretty-printed, binary
//! summarised), timings, and what the two ends disagreed on.

use std::fmt::Write as _;

use anstyle::Style;

use super::line::{duration, size, status_style};
use crate::flow::Body;
use crate::http::{header, Headers};
use crate::record::Record;

/// The body as text: JSON pretty-printed, other text as is, binary described.
fn body_text(body: &Body, headers: &Headers) -> Option<String> {
    if body.size == 0 {
        return None;
    }
    let bytes = body.bytes.as_slice();
    let note = if body.truncated {
        format!(
            " (truncated: {} of {} kept)",
            size(bytes.len() as u64),
            size(body.size)
        )
    } else {
        String::new()
    };
    let Ok(text) = std::str::from_utf8(bytes) else {
        return Some(format!("({} of binary{note})", size(body.size)));
    };
    let json_type = header(headers, "content-type").is_some_and(|t| t.contains("json"));
    let pretty = serde_json::from_str::<serde_json::Value>(text)
        .ok()
        .filter(|v| json_type || v.is_object() || v.is_array())
        .and_then(|v| serde_json::to_string_pretty(&v).ok());
    Some(pretty.unwrap_or_else(|| text.to_string()) + &note)
}

fn push_message(out: &mut String, mark: &str, first: &str, headers: &Headers, body: &Body) {
    let dim = Style::new().dimmed();
    let _ = writeln!(out, "{dim}{mark}{dim:#} {first}");
    for (n, v) in headers {
        let _ = writeln!(out, "{dim}{mark}{dim:#} {n}: {v}");
    }
    if let Some(text) = body_text(body, headers) {
        let _ = writeln!(out, "{dim}{mark}{dim:#}");
        for l in text.lines() {
            let _ = writeln!(out, "{dim}{mark}{dim:#} {l}");
        }
    }
}

pub fn detail(record: &Record) -> String {
    let f = record.flow();
    let (client, server) = super::ends(record);
    let bold = Style::new().bold();
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{bold}── {} ({}) {client} → {server} at {}{bold:#}",
        f.id,
        record.observer(),
        f.request.time
    );
    let q = &f.request;
    push_message(
        &mut out,
        ">",
        &format!("{} {} {}", q.method, q.target, q.version),
        &q.headers,
        &q.body,
    );
    match &f.response {
        Some(r) => {
            let st = status_style(Some(r.status));
            push_message(
                &mut out,
                "<",
                &format!("{} {st}{}{st:#} {}", r.version, r.status, r.reason),
                &r.headers,
                &r.body,
            );
        }
        None => {
            let _ = writeln!(out, "< (no response)");
        }
    }
    let _ = write!(out, "duration {}", duration(f.duration_us));
    if let Record::Both(m) = record {
        let _ = write!(
            out,
            " (client {}, server {}, network and queueing {}); server process {} ({}), id {}",
            duration(m.timing.client_us),
            duration(m.timing.server_us),
            duration(m.timing.network_us),
            m.server.process.comm,
            m.server.process.pid,
            m.server.id
        );
    }
    let _ = writeln!(
        out,
        "; {} process {} ({})",
        if matches!(record, Record::One(g) if g.observer == crate::flow::FlowObserver::Server) {
            "server"
        } else {
            "client"
        },
        f.process.comm,
        f.process.pid
    );
    if let Some(why) = &f.incomplete {
        let _ = writeln!(out, "incomplete: {why}");
    }
    if let Record::Both(m) = record {
        for d in &m.disagreements {
            let _ = writeln!(
                out,
                "disagree on {}: client {} / server {}",
                d.field, d.client, d.server
            );
        }
    }
    out
}
