//! Replays every trace in fixtures/ through the real `flowtap replay` and compares
//! with the flows beside it. Hand-built traces are first checked against their
//! scenarios in `corpus`. `FLOWTAP_BLESS=1` rewrites both, deliberately.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use flowtap::trace::TraceWriter;

use crate::corpus;
use crate::support::{flowtap_bin, repo_root};

fn bless() -> bool {
    std::env::var_os("FLOWTAP_BLESS").is_some_and(|v| v == "1")
}

fn fixtures_dir() -> PathBuf {
    repo_root().join("fixtures")
}

/// Extra replay flags for a fixture, from `<name>.args` (whitespace-separated).
fn args_for(trace: &Path) -> Vec<String> {
    let path = PathBuf::from(trace.to_string_lossy().replace(".trace.jsonl", ".args"));
    fs::read_to_string(path)
        .map(|s| s.split_whitespace().map(str::to_string).collect())
        .unwrap_or_default()
}

fn check_hand_built_traces(dir: &Path) {
    for case in corpus::all() {
        let mut w = TraceWriter::new(Vec::new());
        for e in case.trace.events() {
            w.write(e).expect("writing to memory");
        }
        let text = w.into_inner().expect("writing to memory");
        let path = dir.join(format!("{}.trace.jsonl", case.name));
        let args_path = dir.join(format!("{}.args", case.name));
        if bless() {
            fs::write(&path, &text).expect("writing a fixture trace");
            if !case.args.is_empty() {
                fs::write(&args_path, case.args.join(" ") + "\n").expect("writing fixture args");
            }
            continue;
        }
        let on_disk =
            fs::read(&path).unwrap_or_else(|e| panic!("{}: {e} (bless to create)", path.display()));
        assert!(
            on_disk == text,
            "{} differs from its scenario; rerun with FLOWTAP_BLESS=1",
            path.display()
        );
        assert_eq!(args_for(&path), case.args, "{}", args_path.display());
    }
}

fn lines(text: &str) -> Vec<serde_json::Value> {
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON: {e}: {l}")))
        .collect()
}

#[test]
fn every_fixture_replays_to_its_expected_flows() {
    let dir = fixtures_dir();
    fs::create_dir_all(&dir).expect("fixtures/ exists or can be made");
    check_hand_built_traces(&dir);

    let mut traces: Vec<PathBuf> = fs::read_dir(&dir)
        .expect("reading fixtures/")
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.to_string_lossy().ends_with(".trace.jsonl"))
        .collect();
    traces.sort();
    assert!(traces.len() >= corpus::all().len());

    let out_dir = tempfile::tempdir().expect("a temp dir");
    let mut failures = Vec::new();
    for trace in &traces {
        let name = trace
            .file_name()
            .unwrap_or_default()
            .to_string_lossy()
            .replace(".trace.jsonl", "");
        let got_path = out_dir.path().join(format!("{name}.flows.jsonl"));
        let run = Command::new(flowtap_bin())
            .arg("replay")
            .arg(trace)
            .arg("-o")
            .arg(&got_path)
            .args(args_for(trace))
            .output()
            .expect("running flowtap replay");
        let stderr = String::from_utf8_lossy(&run.stderr);
        assert!(run.status.success(), "{name}: replay failed: {stderr}");
        let got = fs::read_to_string(&got_path).expect("replay wrote its output");
        let summary = format!("flowtap: {} flows written, ", lines(&got).len());
        assert!(
            stderr.starts_with(&summary) && stderr.lines().count() == 1,
            "{name}: summary line {stderr:?}"
        );

        let expected_path = dir.join(format!("{name}.flows.jsonl"));
        if bless() {
            fs::write(&expected_path, &got).expect("writing expected flows");
            continue;
        }
        let expected = fs::read_to_string(&expected_path)
            .unwrap_or_else(|e| panic!("{}: {e}", expected_path.display()));
        if lines(&got) != lines(&expected) {
            failures.push(format!("{name}:\n--- expected\n{expected}--- got\n{got}"));
        }
    }
    assert!(
        failures.is_empty(),
        "fixtures whose flows changed:\n{}",
        failures.join("\n")
    );
}

#[test]
fn replay_of_a_missing_file_fails_cleanly() {
    let run = Command::new(flowtap_bin())
        .args(["replay", "/nonexistent/x.trace.jsonl"])
        .output()
        .expect("running flowtap");
    assert_eq!(run.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(
        stderr.contains("/nonexistent/x.trace.jsonl") && !stderr.contains("panicked"),
        "{stderr}"
    );
}

#[test]
fn replay_of_a_malformed_trace_names_the_line() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let path = dir.path().join("bad.trace.jsonl");
    fs::write(
        &path,
        "{\"type\":\"clock\",\"ts\":1,\"realtime_ns\":2}\n{\"type\":\"data\"}\n",
    )
    .expect("writing");
    let run = Command::new(flowtap_bin())
        .arg("replay")
        .arg(&path)
        .output()
        .expect("running flowtap");
    assert_eq!(run.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(
        stderr.contains("trace line 2") && !stderr.contains("panicked"),
        "{stderr}"
    );
}

/// Every fixture converted to the compact format with `flowtap trace`, replayed
/// to the same flows, and printed back to the same JSON Lines.
#[test]
fn compact_traces_replay_and_print_like_their_json() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let run = |args: &[&std::ffi::OsStr]| {
        let out = Command::new(flowtap_bin())
            .args(args)
            .output()
            .expect("running flowtap");
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        out.stdout
    };
    let mut checked = 0;
    for entry in fs::read_dir(fixtures_dir()).expect("fixtures/").flatten() {
        let json = entry.path();
        if !json.to_string_lossy().ends_with(".trace.jsonl") {
            continue;
        }
        let compact = dir.path().join("t.ftrace");
        run(&[
            "trace".as_ref(),
            json.as_os_str(),
            "-o".as_ref(),
            compact.as_os_str(),
        ]);
        assert_eq!(
            fs::read(&compact).expect("compact")[0],
            0,
            "compact, not JSON"
        );
        let printed = run(&["trace".as_ref(), compact.as_os_str()]);
        let original = fs::read(&json).expect("fixture");
        assert_eq!(
            lines(&String::from_utf8_lossy(&printed)),
            lines(&String::from_utf8_lossy(&original)),
            "{}",
            json.display()
        );
        let flows = |trace: &Path| {
            let mut args = vec!["replay".into(), trace.as_os_str().to_owned()];
            args.extend(args_for(&json).into_iter().map(Into::into));
            let args: Vec<&std::ffi::OsStr> = args.iter().map(|a| a.as_os_str()).collect();
            run(&args)
        };
        assert_eq!(flows(&compact), flows(&json), "{}", json.display());
        checked += 1;
    }
    assert!(checked > 20, "only {checked} fixtures");
}
