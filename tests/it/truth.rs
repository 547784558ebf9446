//! Capture truth on real programs (root): whole bodies at the default settings,
//! and no byte in a trace or flow that was not on the socket.

use std::path::Path;

use flowtap::event::Event;
use serde_json::Value;

use crate::support::{privileged, read_trace, Harness, LiveCapture};

pub struct Run {
    pub result: Value,
    pub flows: Vec<Value>,
    pub events: Vec<Event>,
}

pub fn read_flows(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .expect("read flows")
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("flow is not JSON ({e}): {l}")))
        .collect()
}

/// Runs `program scenario` under `flowtap capture --pid` with `flags`, keeping
/// flows and the trace; asserts the kernel lost nothing.
pub fn run(program: &str, scenario: &str, flags: &[&str]) -> Run {
    let _guard = privileged();
    let dir = tempfile::tempdir().expect("tempdir");
    let (flows, trace) = (dir.path().join("flows.jsonl"), dir.path().join("t.jsonl"));
    let harness = Harness::program(program, scenario, &[]);
    let pid = harness.pid().to_string();
    let mut args = vec![
        "capture",
        "--pid",
        &pid,
        "-o",
        flows.to_str().expect("utf-8"),
        "--record",
        trace.to_str().expect("utf-8"),
    ];
    args.extend_from_slice(flags);
    let live = LiveCapture::start(&args);
    let result = harness.go();
    let (status, stderr) = live.stop();
    assert!(status.success(), "capture failed: {status}\n{stderr}");
    assert!(stderr.contains("0 events lost"), "{stderr}");
    Run {
        result,
        flows: read_flows(&flows),
        events: read_trace(&trace),
    }
}

fn body_file(result: &Value) -> Vec<u8> {
    std::fs::read(result["body_file"].as_str().expect("body_file")).expect("read body")
}

/// Every data record of the trace, per socket and direction, copied in full.
fn assert_nothing_uncaptured(events: &[Event]) {
    for e in events {
        if let Event::Data(d) = e {
            assert!(
                !d.truncated && d.payload.len() as u64 == d.count,
                "a {:?} of {} bytes was cut to {}",
                d.syscall,
                d.count,
                d.payload.len()
            );
        }
    }
}

fn flow<'a>(flows: &'a [Value], observer: &str, target: &str) -> &'a Value {
    let found: Vec<_> = flows
        .iter()
        .filter(|f| f["observer"] == observer && f["request"]["target"] == target)
        .collect();
    assert_eq!(found.len(), 1, "{observer} {target}: {flows:#?}");
    found[0]
}

#[test]
#[ignore = "needs root and BPF; run via scripts/test.sh"]
fn a_200_kib_download_by_curl_is_whole_at_default_settings() {
    let run = run("truth.py", "download", &[]);
    assert_eq!(run.result["status"], 200);
    let body = String::from_utf8(body_file(&run.result)).expect("text body");
    assert_nothing_uncaptured(&run.events);
    for observer in ["client", "server"] {
        let f = flow(&run.flows, observer, "/file");
        let b = &f["response"]["body"];
        assert_eq!(b["size"], body.len(), "{observer}");
        assert_eq!(b["truncated"], false, "{observer}");
        assert!(b["text"] == body.as_str(), "{observer}: body differs");
        assert!(f["incomplete"].is_null(), "{observer}: {}", f["incomplete"]);
    }
}

#[test]
#[ignore = "needs root and BPF; run via scripts/test.sh"]
fn a_2_mib_upload_read_in_large_reads_is_whole_at_default_settings() {
    let run = run("truth.py", "upload", &[]);
    assert_eq!(run.result["status"], 200);
    let body = body_file(&run.result);
    assert_eq!(run.result["reply"], format!("got {}", body.len()));
    assert_nothing_uncaptured(&run.events);
    // rfile.read(2 MiB) reads straight into one buffer, as large as the socket has.
    let server = flow(&run.flows, "server", "/upload");
    for f in [server, flow(&run.flows, "client", "/upload")] {
        let b = &f["request"]["body"];
        assert_eq!(b["size"], body.len());
        // --max-body (1 MiB) keeps the first mebibyte, byte for byte.
        let kept = b["text"].as_str().expect("text body").as_bytes();
        assert_eq!(kept, &body[..1 << 20]);
        assert_eq!(b["truncated"], true, "2 MiB is past --max-body");
        assert!(f["incomplete"].is_null(), "{}", f["incomplete"]);
    }
}

#[test]
#[ignore = "needs root and BPF; run via scripts/test.sh"]
fn max_payload_at_its_largest_value_loads_and_captures() {
    let largest = flowtap::capture::MAX_PAYLOAD.to_string();
    let run = run("truth.py", "download", &["--max-payload", &largest]);
    let body = String::from_utf8(body_file(&run.result)).expect("text body");
    assert_nothing_uncaptured(&run.events);
    let f = flow(&run.flows, "client", "/file");
    assert!(f["response"]["body"]["text"] == body.as_str());
}

#[test]
#[ignore = "needs root and BPF; run via scripts/test.sh"]
fn a_small_max_payload_counts_the_rest_and_says_truncated() {
    let run = run("truth.py", "download", &["--max-payload", "65536"]);
    let f = flow(&run.flows, "client", "/file");
    assert_eq!(f["response"]["body"]["size"], 200 * 1024);
    assert_eq!(f["response"]["body"]["truncated"], true);
}
