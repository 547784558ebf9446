//! The rules a HAR 1.2 file must keep for importers (Chrome's rejects entries
//! whose numbers are not numbers or whose `startedDateTime` does not parse), as a
//! check over the parsed JSON: the tests run it on what the writer produced.

use serde_json::Value;

/// Every rule broken, as `path: what`; empty when the file is good.
pub fn check(har: &Value) -> Vec<String> {
    let mut problems = Vec::new();
    let mut bad = |path: &str, what: &str| problems.push(format!("{path}: {what}"));
    let log = &har["log"];
    if log["version"] != "1.2" {
        bad("log.version", "not \"1.2\"");
    }
    for k in ["name", "version"] {
        if !log["creator"][k].is_string() {
            bad(&format!("log.creator.{k}"), "not a string");
        }
    }
    let Some(entries) = log["entries"].as_array() else {
        bad("log.entries", "not an array");
        return problems;
    };
    for (i, e) in entries.iter().enumerate() {
        let p = format!("log.entries[{i}]");
        let started = e["startedDateTime"].as_str().unwrap_or_default();
        if chrono::DateTime::parse_from_rfc3339(started).is_err() {
            bad(&format!("{p}.startedDateTime"), "not an ISO 8601 time");
        }
        let time = e["time"].as_f64();
        if !time.is_some_and(|t| t >= 0.0) {
            bad(&format!("{p}.time"), "not a number ≥ 0");
        }
        let req = &e["request"];
        for k in ["method", "httpVersion"] {
            string(req, k, &format!("{p}.request"), &mut bad);
        }
        match req["url"].as_str().map(url::Url::parse) {
            Some(Ok(u)) if u.has_host() => {}
            _ => bad(&format!("{p}.request.url"), "not an absolute URL"),
        }
        for k in ["cookies", "headers", "queryString"] {
            pairs(req, k, &format!("{p}.request"), &mut bad);
        }
        sizes(req, &format!("{p}.request"), &mut bad);
        if let Some(post) = req.get("postData") {
            string(post, "mimeType", &format!("{p}.request.postData"), &mut bad);
            string(post, "text", &format!("{p}.request.postData"), &mut bad);
        }
        let resp = &e["response"];
        if !resp["status"].is_u64() {
            bad(&format!("{p}.response.status"), "not an integer");
        }
        for k in ["statusText", "httpVersion", "redirectURL"] {
            string(resp, k, &format!("{p}.response"), &mut bad);
        }
        for k in ["cookies", "headers"] {
            pairs(resp, k, &format!("{p}.response"), &mut bad);
        }
        sizes(resp, &format!("{p}.response"), &mut bad);
        let content = &resp["content"];
        if !content["size"].as_i64().is_some_and(|n| n >= -1) {
            bad(&format!("{p}.response.content.size"), "not an integer ≥ -1");
        }
        string(
            content,
            "mimeType",
            &format!("{p}.response.content"),
            &mut bad,
        );
        if content.get("text").is_some_and(|t| !t.is_string()) {
            bad(&format!("{p}.response.content.text"), "not a string");
        }
        if content.get("encoding").is_some_and(|t| t != "base64") {
            bad(&format!("{p}.response.content.encoding"), "not \"base64\"");
        }
        if !e["cache"].is_object() {
            bad(&format!("{p}.cache"), "not an object");
        }
        let t = &e["timings"];
        let mut sum = 0.0;
        for (k, required) in [
            ("send", true),
            ("wait", true),
            ("receive", true),
            ("blocked", false),
            ("dns", false),
            ("connect", false),
            ("ssl", false),
        ] {
            match t.get(k).map(Value::as_f64) {
                Some(Some(v)) if v >= 0.0 => sum += v,
                Some(Some(v)) if v == -1.0 && !required => {}
                None if !required => {}
                _ => bad(&format!("{p}.timings.{k}"), "not a valid number"),
            }
        }
        if time.is_some_and(|t| (t - sum).abs() > 0.01) {
            bad(&format!("{p}.time"), "not the sum of the timings");
        }
        if let Some(ip) = e.get("serverIPAddress") {
            if ip
                .as_str()
                .and_then(|s| s.parse::<std::net::IpAddr>().ok())
                .is_none()
            {
                bad(&format!("{p}.serverIPAddress"), "not an IP address");
            }
        }
    }
    problems
}

fn string(v: &Value, key: &str, path: &str, bad: &mut impl FnMut(&str, &str)) {
    if !v[key].is_string() {
        bad(&format!("{path}.{key}"), "not a string");
    }
}

fn pairs(v: &Value, key: &str, path: &str, bad: &mut impl FnMut(&str, &str)) {
    let ok = v[key].as_array().is_some_and(|a| {
        a.iter()
            .all(|p| p["name"].is_string() && p["value"].is_string())
    });
    if !ok {
        bad(
            &format!("{path}.{key}"),
            "not an array of {name, value} strings",
        );
    }
}

fn sizes(v: &Value, path: &str, bad: &mut impl FnMut(&str, &str)) {
    for k in ["headersSize", "bodySize"] {
        if !v[k].as_i64().is_some_and(|n| n >= -1) {
            bad(&format!("{path}.{k}"), "not an integer ≥ -1");
        }
    }
}
