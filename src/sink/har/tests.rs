use serde_json::Value;

use super::*;
use crate::record::RecordReader;

/// Every flow of every fixture, through the HAR writer.
fn fixture_har() -> (Value, usize) {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures");
    let mut har = Har::new(Vec::new());
    let mut n = 0;
    let mut paths: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.to_string_lossy().ends_with(".flows.jsonl"))
        .collect();
    paths.sort();
    for p in paths {
        let mut r = RecordReader::new(
            std::io::BufReader::new(std::fs::File::open(&p).unwrap()),
            1 << 30,
        );
        while let Some(rec) = r.next_record().unwrap() {
            har.write_record(&rec).unwrap();
            n += 1;
        }
    }
    let bytes = har.into_inner().unwrap();
    (serde_json::from_slice(&bytes).unwrap(), n)
}

#[test]
fn every_fixture_flow_makes_an_entry_that_keeps_the_rules() {
    let (har, n) = fixture_har();
    assert!(n > 20, "{n} flows");
    assert_eq!(har["log"]["entries"].as_array().unwrap().len(), n);
    assert_eq!(rules::check(&har), Vec::<String>::new());
}

#[test]
fn an_empty_capture_is_still_a_har() {
    let har: Value = serde_json::from_slice(&Har::new(Vec::new()).into_inner().unwrap()).unwrap();
    assert_eq!(har["log"]["entries"], serde_json::json!([]));
    assert!(rules::check(&har).is_empty());
}

#[test]
fn url_query_sizes_and_timings_come_from_the_flow() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/fixtures/getsockname-after-first-read.flows.jsonl"
    );
    let text = std::fs::read_to_string(path).unwrap();
    let flow: crate::flow::Flow = serde_json::from_str(text.lines().next().unwrap()).unwrap();
    // GET /items?x=1, Host: api:8000, "ok".
    let e = serde_json::to_value(entry(&flow, None)).unwrap();
    assert_eq!(e["request"]["url"], "http://api:8000/items?x=1");
    assert_eq!(
        e["request"]["queryString"],
        serde_json::json!([{"name": "x", "value": "1"}])
    );
    assert_eq!(e["response"]["content"]["text"], "ok");
    assert_eq!(e["response"]["content"]["size"], 2);
    assert_eq!(e["response"]["bodySize"], 2);
    assert_eq!(e["response"]["headersSize"], -1);
    assert_eq!(e["serverIPAddress"], "172.18.0.2");
    let t = &e["timings"];
    let sum =
        t["send"].as_f64().unwrap() + t["wait"].as_f64().unwrap() + t["receive"].as_f64().unwrap();
    assert!(sum > 0.0 && (e["time"].as_f64().unwrap() - sum).abs() < 1e-9);
}

#[test]
fn binary_is_base64_chunked_is_unknown_and_no_response_says_why() {
    let (har, _) = fixture_har();
    let entries = har["log"]["entries"].as_array().unwrap();
    let png = entries
        .iter()
        .find(|e| e["response"]["content"]["mimeType"] == "image/png")
        .unwrap();
    assert_eq!(png["response"]["content"]["encoding"], "base64");
    assert_eq!(png["response"]["content"]["text"], "iVBORw0KGgo=");
    let chunked = entries
        .iter()
        .find(|e| e["request"]["url"].as_str().unwrap().ends_with("/upload"))
        .unwrap();
    assert_eq!(chunked["request"]["bodySize"], -1);
    assert_eq!(chunked["request"]["postData"]["text"], "abcd");
    assert_eq!(chunked["response"]["bodySize"], -1);
    let unanswered = entries
        .iter()
        .find(|e| {
            e["request"]["url"]
                .as_str()
                .unwrap()
                .ends_with("/never-answered")
        })
        .unwrap();
    assert_eq!(unanswered["response"]["status"], 0);
    assert_eq!(unanswered["comment"], "incomplete: capture ended");
}

#[test]
fn cookies_are_parsed_both_ways() {
    let flow: crate::flow::Flow = serde_json::from_str(
        r#"{"id":"1-3-0-0","observer":"client","src":{"ip":"127.0.0.1","port":5,"container":null},"dst":{"ip":"127.0.0.1","port":80,"container":null},"process":{"pid":1,"comm":"curl","container":null},
        "request":{"time":"2026-11-22T04:00:00.001000Z","method":"GET","target":"/","version":"HTTP/1.1","headers":[["Host","a"],["Cookie","sid=1; theme=dark"]],"body":{"size":0,"text":"","truncated":false}},
        "response":{"time":"2026-11-22T04:00:00.002000Z","status":302,"reason":"Found","version":"HTTP/1.1","headers":[["Set-Cookie","sid=2; Path=/; HttpOnly"],["Location","/next"],["Content-Length","0"]],"body":{"size":0,"text":"","truncated":false}},
        "duration_us":1500,"address_source":{"src":"getsockname","dst":"connect"},"tunnel":null,"incomplete":null}"#,
    )
    .unwrap();
    let e = serde_json::to_value(entry(&flow, None)).unwrap();
    assert_eq!(
        e["request"]["cookies"],
        serde_json::json!([{"name":"sid","value":"1"},{"name":"theme","value":"dark"}])
    );
    assert_eq!(
        e["response"]["cookies"],
        serde_json::json!([{"name":"sid","value":"2","path":"/","httpOnly":true,"secure":false}])
    );
    assert_eq!(e["response"]["redirectURL"], "/next");
    assert_eq!(e["timings"]["wait"], 1.0);
    assert_eq!(e["timings"]["receive"], 0.5);
    assert_eq!(e["time"], 1.5);
}

#[test]
fn the_rules_catch_what_importers_reject() {
    let (mut har, _) = fixture_har();
    har["log"]["entries"][0]["startedDateTime"] = "yesterday".into();
    har["log"]["entries"][1]["time"] = "12".into();
    har["log"]["entries"][2]["response"]["bodySize"] = Value::Null;
    let problems = rules::check(&har);
    assert_eq!(problems.len(), 3, "{problems:#?}");
}
