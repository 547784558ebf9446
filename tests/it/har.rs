//! HAR output: `flowtap har` converting flows files (the two halves of an
//! exchange become one entry), checked against the format's rules.

use std::process::Command;

use flowtap::sink::har_rules;
use serde_json::Value;

use crate::support::{flowtap_bin, repo_root};

fn har_of(flows: &std::path::Path) -> (Value, String) {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("out.har");
    let run = Command::new(flowtap_bin())
        .arg("har")
        .arg(flows)
        .arg("-o")
        .arg(&out)
        .output()
        .expect("run flowtap har");
    let stderr = String::from_utf8_lossy(&run.stderr).into_owned();
    assert!(run.status.success(), "{stderr}");
    let har = serde_json::from_slice(&std::fs::read(&out).expect("read har")).expect("HAR is JSON");
    (har, stderr)
}

#[test]
fn both_halves_of_each_exchange_become_one_entry() {
    let flows = repo_root().join("fixtures/live-keepalive.flows.jsonl");
    let lines = std::fs::read_to_string(&flows).expect("fixture");
    let halves = lines.lines().count();
    let (har, stderr) = har_of(&flows);
    let entries = har["log"]["entries"].as_array().expect("entries");
    assert_eq!(entries.len() * 2, halves, "{stderr}");
    assert!(entries.iter().all(|e| e["_flowtap"]["observer"] == "both"));
    assert!(
        stderr.contains(&format!("{} exchanges merged, 0 flows alone", halves / 2)),
        "{stderr}"
    );
    assert_eq!(har_rules::check(&har), Vec::<String>::new());
}

#[test]
fn replay_to_a_har_file_picks_har_by_extension() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("x.har");
    let run = Command::new(flowtap_bin())
        .arg("replay")
        .arg(repo_root().join("fixtures/merge-keep-alive-order.trace.jsonl"))
        .arg("-o")
        .arg(&out)
        .output()
        .expect("run replay");
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(run.status.success(), "{stderr}");
    assert!(stderr.starts_with("flowtap: 3 flows written"), "{stderr}");
    let har: Value = serde_json::from_slice(&std::fs::read(&out).expect("har")).expect("JSON");
    let bodies: Vec<&Value> = har["log"]["entries"]
        .as_array()
        .expect("entries")
        .iter()
        .map(|e| &e["response"]["content"]["text"])
        .collect();
    assert_eq!(bodies, [r#"{"n":0}"#, r#"{"n":1}"#, r#"{"n":2}"#]);
    assert!(har_rules::check(&har).is_empty());
}
