//! One flow as one HAR 1.2 entry: an absolute URL from `Host`, query and cookies
//! parsed, bodies as text or base64, timings from the flow's times.

use std::borrow::Cow;

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use chrono::DateTime;
use serde::Serialize;

use crate::flow::{Body, Flow};
use crate::http::{header, Headers};
use crate::merge::MergedFlow;

/// What the format says when a number is not known.
const UNKNOWN: i64 = -1;

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Entry<'a> {
    pub started_date_time: String,
    /// Milliseconds: the sum of the known timings.
    pub time: f64,
    pub request: Request<'a>,
    pub response: Response<'a>,
    pub cache: Cache,
    pub timings: Timings,
    #[serde(rename = "serverIPAddress", skip_serializing_if = "Option::is_none")]
    pub server_ip_address: Option<String>,
    /// The client's port: HAR names the TCP connection by either port.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub connection: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
    /// flowtap's own fields (HAR allows custom fields that start with `_`).
    #[serde(rename = "_flowtap")]
    pub flowtap: serde_json::Value,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Request<'a> {
    pub method: &'a str,
    pub url: String,
    pub http_version: &'a str,
    pub cookies: Vec<Cookie>,
    pub headers: Vec<NameValue<'a>>,
    pub query_string: Vec<NameValue<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub post_data: Option<PostData<'a>>,
    pub headers_size: i64,
    pub body_size: i64,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Response<'a> {
    pub status: u16,
    pub status_text: &'a str,
    pub http_version: &'a str,
    pub cookies: Vec<Cookie>,
    pub headers: Vec<NameValue<'a>>,
    pub content: Content<'a>,
    #[serde(rename = "redirectURL")]
    pub redirect_url: &'a str,
    pub headers_size: i64,
    pub body_size: i64,
}

#[derive(Debug, Serialize)]
pub struct NameValue<'a> {
    pub name: Cow<'a, str>,
    pub value: Cow<'a, str>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Cookie {
    pub name: String,
    pub value: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub domain: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expires: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub http_only: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secure: Option<bool>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PostData<'a> {
    pub mime_type: &'a str,
    pub text: Cow<'a, str>,
    /// HAR 1.2 has no encoding for postData; a binary body is base64 and says so.
    #[serde(rename = "_encoding", skip_serializing_if = "Option::is_none")]
    pub encoding: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Content<'a> {
    /// The whole decoded body's length, even when fewer bytes were kept.
    pub size: i64,
    pub mime_type: &'a str,
    pub text: Cow<'a, str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub encoding: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct Cache {}

/// Milliseconds. flowtap knows the request's first byte, the response's first
/// byte and its last: `wait` runs from the first to the second, `receive` from
/// the second to the third. When the request's last byte went out is not
/// recorded, so `send` is 0 and its time is inside `wait`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Timings {
    pub blocked: f64,
    pub dns: f64,
    pub connect: f64,
    pub send: f64,
    pub wait: f64,
    pub receive: f64,
    pub ssl: f64,
}

fn micros(time: &str) -> Option<i64> {
    DateTime::parse_from_rfc3339(time)
        .ok()
        .map(|t| t.timestamp_micros())
}

fn name_values(headers: &Headers) -> Vec<NameValue<'_>> {
    headers
        .iter()
        .map(|(n, v)| NameValue {
            name: Cow::Borrowed(n),
            value: Cow::Borrowed(v),
        })
        .collect()
}

/// Text when the kept bytes are UTF-8, base64 (and its name) otherwise.
fn text_of(body: &Body) -> (Cow<'_, str>, Option<&'static str>) {
    match simdutf8::basic::from_utf8(body.bytes.as_slice()) {
        Ok(t) => (Cow::Borrowed(t), None),
        Err(_) => (
            Cow::Owned(BASE64.encode(body.bytes.as_slice())),
            Some("base64"),
        ),
    }
}

fn truncation_note(body: &Body) -> Option<String> {
    body.truncated.then(|| {
        format!(
            "truncated: {} of {} bytes kept",
            body.bytes.len(),
            body.size
        )
    })
}

/// The body's length on the wire: the decoded size unless chunked framing
/// added to it, or the message did not end where its framing said.
fn wire_body_size(headers: &Headers, body: &Body, complete: bool) -> i64 {
    if header(headers, "transfer-encoding").is_some() {
        return UNKNOWN;
    }
    let size = i64::try_from(body.size).unwrap_or(UNKNOWN);
    match header(headers, "content-length").map(|v| v.trim().parse::<u64>()) {
        Some(Ok(n)) if n == body.size => size,
        Some(_) => UNKNOWN,
        None if complete => size,
        None => UNKNOWN,
    }
}

/// `http://` (`https://` over TLS) + `Host` (or `:authority`, or the server's
/// address) + the target.
fn url_of(flow: &Flow) -> String {
    let scheme = if flow.tls.is_some() { "https" } else { "http" };
    let req = &flow.request;
    let target = req.target.as_str();
    if target.starts_with("http://") || target.starts_with("https://") {
        return target.to_string();
    }
    let host = header(&req.headers, "host")
        .or_else(|| header(&req.headers, ":authority"))
        .or(flow.authority.as_deref())
        .map(str::to_string)
        // HTTP/2 flows carry `:authority` as a field of their own.
        .or_else(|| flow.authority.clone())
        .or_else(|| match (flow.dst.ip, flow.dst.port) {
            (Some(ip), Some(port)) => Some(std::net::SocketAddr::new(ip, port).to_string()),
            (Some(ip), None) => Some(ip.to_string()),
            _ => None,
        })
        .unwrap_or_else(|| "unknown".to_string());
    let raw = if target.starts_with('/') {
        format!("{scheme}://{host}{target}")
    } else if req.method.eq_ignore_ascii_case("CONNECT") {
        format!("{scheme}://{target}")
    } else {
        format!("{scheme}://{host}/")
    };
    url::Url::parse(&raw).map_or(raw, String::from)
}

fn query_of(url: &str) -> Vec<NameValue<'static>> {
    url::Url::parse(url)
        .map(|u| {
            u.query_pairs()
                .map(|(n, v)| NameValue {
                    name: Cow::Owned(n.into_owned()),
                    value: Cow::Owned(v.into_owned()),
                })
                .collect()
        })
        .unwrap_or_default()
}

fn request_cookies(headers: &Headers) -> Vec<Cookie> {
    headers
        .iter()
        .filter(|(n, _)| n.eq_ignore_ascii_case("cookie"))
        .flat_map(|(_, v)| cookie::Cookie::split_parse(v).flatten())
        .map(|c| Cookie {
            name: c.name().to_string(),
            value: c.value().to_string(),
            path: None,
            domain: None,
            expires: None,
            http_only: None,
            secure: None,
        })
        .collect()
}

fn response_cookies(headers: &Headers) -> Vec<Cookie> {
    headers
        .iter()
        .filter(|(n, _)| n.eq_ignore_ascii_case("set-cookie"))
        .filter_map(|(_, v)| cookie::Cookie::parse(v).ok())
        .map(|c| Cookie {
            name: c.name().to_string(),
            value: c.value().to_string(),
            path: c.path().map(str::to_string),
            domain: c.domain().map(str::to_string),
            expires: c
                .expires_datetime()
                .and_then(|t| DateTime::from_timestamp(t.unix_timestamp(), 0))
                .map(|t| t.to_rfc3339()),
            http_only: Some(c.http_only().unwrap_or(false)),
            secure: Some(c.secure().unwrap_or(false)),
        })
        .collect()
}

fn timings(flow: &Flow) -> Timings {
    let ms = |us: i64| us.max(0) as f64 / 1000.0;
    let (wait, receive) = match (&flow.response, flow.duration_us) {
        (Some(r), Some(total)) => {
            let total = i64::try_from(total).unwrap_or(i64::MAX);
            let wait = match (micros(&flow.request.time), micros(&r.time)) {
                (Some(a), Some(b)) => (b - a).clamp(0, total),
                _ => total,
            };
            (ms(wait), ms(total - wait))
        }
        _ => (0.0, 0.0),
    };
    let unknown = UNKNOWN as f64;
    Timings {
        blocked: unknown,
        dns: unknown,
        connect: unknown,
        send: 0.0,
        wait,
        receive,
        ssl: unknown,
    }
}

/// The entry for one flow; `merged` adds what the server's side saw.
pub fn entry<'a>(flow: &'a Flow, merged: Option<&'a MergedFlow>) -> Entry<'a> {
    let req = &flow.request;
    let url = url_of(flow);
    let query_string = query_of(&url);
    let complete = flow.incomplete.is_none();
    let request_type = header(&req.headers, "content-type").unwrap_or("");
    let post_data = (req.body.size > 0).then(|| {
        let (text, encoding) = text_of(&req.body);
        PostData {
            mime_type: request_type,
            text,
            encoding,
            comment: truncation_note(&req.body),
        }
    });
    let request = Request {
        method: &req.method,
        url,
        http_version: &req.version,
        cookies: request_cookies(&req.headers),
        headers: name_values(&req.headers),
        query_string,
        post_data,
        headers_size: UNKNOWN,
        body_size: wire_body_size(&req.headers, &req.body, complete || flow.response.is_some()),
    };
    let response = match &flow.response {
        Some(r) => {
            let (text, encoding) = text_of(&r.body);
            Response {
                status: r.status,
                status_text: &r.reason,
                http_version: &r.version,
                cookies: response_cookies(&r.headers),
                headers: name_values(&r.headers),
                content: Content {
                    size: i64::try_from(r.body.size).unwrap_or(UNKNOWN),
                    mime_type: header(&r.headers, "content-type").unwrap_or("x-unknown"),
                    text,
                    encoding,
                    comment: truncation_note(&r.body),
                },
                redirect_url: header(&r.headers, "location").unwrap_or(""),
                headers_size: UNKNOWN,
                body_size: wire_body_size(&r.headers, &r.body, complete),
            }
        }
        // No response was seen: status 0 is how HAR tools show a failed request.
        None => Response {
            status: 0,
            status_text: "",
            http_version: "",
            cookies: Vec::new(),
            headers: Vec::new(),
            content: Content {
                size: 0,
                mime_type: "x-unknown",
                text: Cow::Borrowed(""),
                encoding: None,
                comment: None,
            },
            redirect_url: "",
            headers_size: UNKNOWN,
            body_size: UNKNOWN,
        },
    };
    let timings = timings(flow);
    let started_date_time = match micros(&req.time) {
        Some(_) => req.time.clone(),
        // Never seen from flowtap's own clock; a parseable time keeps the file
        // importable and the comment says it is not real.
        None => "1970-01-01T00:00:00.000Z".to_string(),
    };
    let comment = match (&flow.incomplete, micros(&req.time)) {
        (Some(why), _) => Some(format!("incomplete: {why}")),
        (None, None) => Some("start time unknown".to_string()),
        _ => None,
    };
    let mut flowtap = serde_json::json!({
        "id": flow.id,
        "observer": flow.observer.as_str(),
        "process": flow.process,
    });
    if let Some(m) = merged {
        flowtap["server"] = serde_json::json!(m.server);
        flowtap["timing"] = serde_json::json!(m.timing);
        flowtap["disagreements"] = m.disagreements.iter().map(|d| d.field.clone()).collect();
    }
    Entry {
        started_date_time,
        time: timings.send + timings.wait + timings.receive,
        request,
        response,
        cache: Cache {},
        timings,
        server_ip_address: flow.dst.ip.map(|ip| ip.to_string()),
        connection: flow.src.port.map(|p| p.to_string()),
        comment,
        flowtap,
    }
}
