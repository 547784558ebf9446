//! `--merge` on a live capture (root): a keep-alive series between real
//! processes, both ends traced, comes out as one flow per exchange, in order,
//! and replaying the recorded trace with `--merge` gives the same flows.

use std::path::Path;
use std::process::Command;

use serde_json::Value;

use crate::support::replay;
use crate::support::{privileged, Harness, LiveCapture};

fn read(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .expect("read flows")
        .lines()
        .map(|l| serde_json::from_str(l).expect("a flow is JSON"))
        .collect()
}

#[test]
#[ignore = "needs root and BPF; run via scripts/test.sh"]
fn a_live_keep_alive_series_is_one_merged_flow_per_exchange() {
    let _guard = privileged();
    let dir = tempfile::tempdir().expect("tempdir");
    let (flows, trace) = (dir.path().join("flows.jsonl"), dir.path().join("t.jsonl"));
    let harness = Harness::start("keepalive", &[]);
    let pid = harness.pid().to_string();
    let live = LiveCapture::start(&[
        "capture",
        "--pid",
        &pid,
        "--merge",
        "-o",
        flows.to_str().expect("utf-8"),
        "--record",
        trace.to_str().expect("utf-8"),
    ]);
    harness.go();
    let (status, stderr) = live.stop();
    assert!(status.success(), "{stderr}");
    assert!(
        stderr.contains("flowtap: 5 flows written")
            && stderr.contains("5 exchanges merged, 0 flows alone"),
        "{stderr}"
    );
    let got = read(&flows);
    let lines: Vec<String> = got
        .iter()
        .map(|f| {
            format!(
                "{} {} {} {} {}",
                f["observer"].as_str().unwrap_or_default(),
                f["request"]["method"].as_str().unwrap_or_default(),
                f["request"]["target"].as_str().unwrap_or_default(),
                f["response"]["status"],
                f["server"]["process"]["comm"].as_str().unwrap_or_default(),
            )
        })
        .collect();
    assert_eq!(
        lines,
        [
            "both GET /items 200 python3",
            "both POST /items 200 python3",
            "both PUT /items/1 201 python3",
            "both GET /missing 404 python3",
            "both DELETE /items/1 204 python3",
        ]
    );
    for f in &got {
        assert_eq!(f["disagreements"], serde_json::json!([]), "{f}");
        let t = &f["timing"];
        let (c, s) = (t["client_us"].as_u64(), t["server_us"].as_u64());
        assert!(c.is_some() && s.is_some(), "{t}");
        assert_eq!(
            t["network_us"].as_u64(),
            c.zip(s).and_then(|(c, s)| c.checked_sub(s))
        );
    }

    let replayed_text = replay(&trace, &["--merge"]);
    let replayed: Vec<Value> = replayed_text
        .lines()
        .map(|l| serde_json::from_str(l).expect("a flow is JSON"))
        .collect();
    assert_eq!(replayed, got, "replay --merge equals the live run");
}

#[test]
#[ignore = "needs root, BPF and nghttp2 (h2load, nghttpd); run via scripts/test.sh"]
fn concurrent_http2_streams_merge_by_stream() {
    // h2load: 1000 requests over 4 connections, 10 streams at a time on each.
    let _guard = privileged();
    let dir = tempfile::tempdir().expect("tempdir");
    let flows = dir.path().join("flows.jsonl");
    let mut cmd = Command::new("/usr/bin/python3");
    cmd.arg(crate::support::repo_root().join("tests/programs/http2.py"))
        .arg("h2load");
    let harness = Harness::spawn(cmd);
    let pid = harness.pid().to_string();
    let live = LiveCapture::start(&[
        "capture",
        "--pid",
        &pid,
        "--merge",
        "-o",
        flows.to_str().expect("utf-8"),
    ]);
    let report = harness.go();
    let (status, stderr) = live.stop();
    assert!(status.success(), "{stderr}");
    assert!(stderr.contains(" 0 events lost"), "{stderr}");
    let port = report["port"].as_u64().expect("port");
    let got: Vec<Value> = read(&flows)
        .into_iter()
        .filter(|f| f["dst"]["port"] == port)
        .collect();
    assert_eq!(got.len(), 1000, "{stderr}");
    for f in &got {
        assert_eq!(f["observer"], "both", "{f}");
        assert_eq!(f["disagreements"], serde_json::json!([]), "{f}");
        assert_eq!(f["response"]["status"], 200, "{f}");
        assert!(f["stream_id"].as_u64().is_some(), "{f}");
    }
    // (nghttpd answers these in order, so this also holds pairing by order;
    // pairing by stream is what the unit test with streams ending out of order
    // checks.)
}
