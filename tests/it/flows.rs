//! Live flows (root): `flowtap capture -o` around real loopback clients and
//! servers, checked field by field, and replay of the trace recorded alongside
//! must give the same flows.

use std::path::Path;

use serde_json::Value;

use crate::support::replay;
use crate::support::{privileged, Harness, LiveCapture};

struct LiveRun {
    result: Value,
    flows: Vec<Value>,
    /// The flows file as the live capture wrote it, and as replay of its trace did.
    live_text: String,
    replayed_text: String,
}

fn read_flows(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .expect("read flows")
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("flow is not JSON ({e}): {l}")))
        .collect()
}

/// Captures a harness scenario to flows and a trace, then replays the trace.
fn live(scenario: &str) -> LiveRun {
    let _guard = privileged();
    let dir = tempfile::tempdir().expect("tempdir");
    let (flows, trace) = (dir.path().join("flows.jsonl"), dir.path().join("t.jsonl"));
    let harness = Harness::start(scenario, &[]);
    let pid = harness.pid().to_string();
    let live = LiveCapture::start(&[
        "capture",
        "--pid",
        &pid,
        "-o",
        flows.to_str().expect("utf-8"),
        "--record",
        trace.to_str().expect("utf-8"),
    ]);
    let result = harness.go();
    let (status, stderr) = live.stop();
    assert!(status.success(), "{stderr}");
    let summary = stderr.lines().last().unwrap_or_default();
    assert!(
        summary.contains("flows written") && summary.contains("0 events lost"),
        "{stderr}"
    );

    let replayed_text = replay(&trace, &[]);
    LiveRun {
        result,
        flows: read_flows(&flows),
        live_text: std::fs::read_to_string(&flows).expect("flows"),
        replayed_text,
    }
}

/// Replay gives the live run's flows line for line, ids and order included.
fn assert_replay_equals_live(run: &LiveRun) {
    assert!(!run.live_text.is_empty(), "the live run wrote flows");
    let live: Vec<&str> = run.live_text.lines().collect();
    let replayed: Vec<&str> = run.replayed_text.lines().collect();
    assert_eq!(replayed, live, "replay equals the live run");
}

fn by_observer<'a>(flows: &'a [Value], observer: &str) -> Vec<&'a Value> {
    flows.iter().filter(|f| f["observer"] == observer).collect()
}

#[test]
#[ignore = "needs root and BPF; run via scripts/test.sh"]
fn curl_against_a_python_server() {
    let run = live("curl");
    let body = String::from_utf8(
        std::fs::read(run.result["body_file"].as_str().expect("body_file")).expect("body"),
    )
    .expect("the body is text");
    let client_port = run.result["client_port"].as_u64().expect("client port");
    let server_port = run.result["server_port"].as_u64().expect("server port");
    assert_eq!(
        run.flows.len(),
        2,
        "one flow per observer: {:#?}",
        run.flows
    );
    for (observer, comm) in [("client", "curl"), ("server", "python3")] {
        let f = by_observer(&run.flows, observer);
        assert_eq!(f.len(), 1, "{observer}");
        let f = f[0];
        assert_eq!(f["process"]["comm"], comm);
        assert_eq!(f["request"]["method"], "POST");
        assert_eq!(f["request"]["target"], "/echo");
        assert_eq!(f["request"]["body"]["text"], body.as_str());
        assert_eq!(f["request"]["body"]["size"], body.len());
        assert_eq!(f["response"]["status"], 200);
        assert_eq!(f["response"]["body"]["text"], format!("echo:{body}"));
        assert_eq!(f["src"]["ip"], "127.0.0.1");
        assert_eq!(f["src"]["port"], client_port);
        assert_eq!(f["dst"]["ip"], "127.0.0.1");
        assert_eq!(f["dst"]["port"], server_port);
        assert!(f["incomplete"].is_null());
        assert!(f["duration_us"].as_u64().is_some());
    }
    // curl calls getsockname after connect; http.server after accept4.
    assert_eq!(
        by_observer(&run.flows, "client")[0]["address_source"]["src"],
        "getsockname"
    );
    assert_eq!(
        by_observer(&run.flows, "server")[0]["address_source"]["dst"],
        "getsockname"
    );
    assert_replay_equals_live(&run);
}

#[test]
#[ignore = "needs root and BPF; run via scripts/test.sh"]
fn keep_alive_series_pairs_in_order() {
    let run = live("keepalive");
    let expected = [
        ("GET", "/items", 200),
        ("POST", "/items", 200),
        ("PUT", "/items/1", 201),
        ("GET", "/missing", 404),
        ("DELETE", "/items/1", 204),
    ];
    for observer in ["client", "server"] {
        let flows = by_observer(&run.flows, observer);
        let got: Vec<(String, String, u64)> = flows
            .iter()
            .map(|f| {
                (
                    f["request"]["method"]
                        .as_str()
                        .unwrap_or_default()
                        .to_string(),
                    f["request"]["target"]
                        .as_str()
                        .unwrap_or_default()
                        .to_string(),
                    f["response"]["status"].as_u64().unwrap_or_default(),
                )
            })
            .collect();
        let want: Vec<_> = expected
            .iter()
            .map(|(m, t, s)| (m.to_string(), t.to_string(), *s))
            .collect();
        assert_eq!(got, want, "{observer} flows");
        let ports: std::collections::HashSet<_> =
            flows.iter().map(|f| f["src"]["port"].clone()).collect();
        assert_eq!(ports.len(), 1, "one connection for the whole series");
    }
    assert_replay_equals_live(&run);
}

#[test]
#[ignore = "needs root and BPF; run via scripts/test.sh"]
fn a_flow_is_in_the_file_while_capture_runs() {
    let _guard = privileged();
    let dir = tempfile::tempdir().expect("tempdir");
    let flows = dir.path().join("flows.jsonl");
    let harness = Harness::start("curl", &[]);
    let pid = harness.pid().to_string();
    let live = LiveCapture::start(&[
        "capture",
        "--pid",
        &pid,
        "-o",
        flows.to_str().expect("utf-8"),
    ]);
    harness.go();
    // Still capturing: what `tail -f` would show must already be there.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let mut seen = Vec::new();
    while std::time::Instant::now() < deadline {
        seen = std::fs::read_to_string(&flows)
            .unwrap_or_default()
            .lines()
            .map(str::to_string)
            .collect();
        if seen.len() >= 2 {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let (status, stderr) = live.stop();
    assert!(status.success(), "{stderr}");
    assert_eq!(
        seen.len(),
        2,
        "both observers' flows, written before capture ended: {seen:?}"
    );
    for line in &seen {
        let flow: Value = serde_json::from_str(line).expect("whole JSON lines");
        assert_eq!(flow["request"]["target"], "/echo");
    }
}
