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
fn har_reads_stdin_and_writes_stdout() {
    let flows = std::fs::read(repo_root().join("fixtures/merge-matched-pair.flows.jsonl"))
        .expect("fixture");
    let mut child = Command::new(flowtap_bin())
        .args(["har", "-"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn flowtap har");
    std::io::Write::write_all(&mut child.stdin.take().expect("stdin"), &flows).expect("write");
    let out = child.wait_with_output().expect("wait");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let har: Value = serde_json::from_slice(&out.stdout).expect("HAR on stdout");
    let entries = har["log"]["entries"].as_array().expect("entries");
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0]["_flowtap"]["observer"], "both");
    assert_eq!(entries[0]["_flowtap"]["timing"]["network_us"], 2000);
    assert!(har_rules::check(&har).is_empty());
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

/// A static site on loopback: a page with non-ASCII text, JSON, and binary.
pub fn site(dir: &std::path::Path) -> Vec<(&'static str, Vec<u8>)> {
    let files: Vec<(&'static str, Vec<u8>)> = vec![
        (
            "index.html",
            "<!doctype html><meta charset=utf-8><title>flowtap</title><p>héllo ✓</p>\n"
                .as_bytes()
                .to_vec(),
        ),
        (
            "data.json",
            br#"{"items":[1,2,3],"name":"caf\u00e9"}"#.to_vec(),
        ),
        ("blob.bin", (0..=255u8).cycle().take(70_000).collect()),
    ];
    for (name, bytes) in &files {
        std::fs::write(dir.join(name), bytes).expect("write site file");
    }
    files
}

/// `sh` waits for `go`, starts python's http.server, fetches every file with
/// curl (children of the same tree, so both ends are traced), asks for the
/// `$MISSING` ones too (404s), stops the server.
pub const FETCH_ALL: &str = r#"
read go
python3 -m http.server "$PORT" --bind 127.0.0.1 --directory "$SITE" 2>/dev/null &
srv=$!
python3 -c 'import socket, sys, time
while True:
    try:
        socket.create_connection(("127.0.0.1", int(sys.argv[1]))).close(); break
    except OSError:
        time.sleep(0.05)' "$PORT"
for f in $FILES; do
  curl -sf -o /dev/null "http://127.0.0.1:$PORT/$f" || { kill $srv; exit 1; }
done
for f in $MISSING; do
  curl -s -o /dev/null "http://127.0.0.1:$PORT/$f"
done
kill $srv
wait $srv 2>/dev/null
exit 0
"#;

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

/// tests/har/node_modules from the committed lock file, once.
fn playwright() -> std::path::PathBuf {
    let dir = repo_root().join("tests/har");
    if !dir.join("node_modules/playwright-core").exists() {
        let ok = Command::new("npm")
            .args(["ci", "--no-audit", "--no-fund"])
            .current_dir(&dir)
            .status()
            .expect("run npm ci");
        assert!(ok.success(), "npm ci in tests/har failed");
    }
    dir.join("replay.js")
}

#[test]
#[ignore = "needs root and BPF, chromium and npm; run via scripts/test.sh"]
fn a_page_replayed_from_a_captured_har_receives_the_bodies_byte_for_byte() {
    use base64::Engine as _;
    use std::io::Write as _;

    let replay_js = playwright();
    let _guard = crate::support::privileged();
    let dir = tempfile::tempdir().expect("tempdir");
    let site_dir = dir.path().join("site");
    std::fs::create_dir(&site_dir).expect("mkdir");
    let files = site(&site_dir);
    let port = free_port();
    let har_path = dir.path().join("flows.har");
    let names: Vec<&str> = files.iter().map(|(n, _)| *n).collect();
    let mut sh = Command::new("sh")
        .args(["-c", FETCH_ALL])
        .env("PORT", port.to_string())
        .env("SITE", &site_dir)
        .env("FILES", names.join(" "))
        .stdin(std::process::Stdio::piped())
        .spawn()
        .expect("spawn sh");
    let live = crate::support::LiveCapture::start(&[
        "capture",
        "--pid",
        &sh.id().to_string(),
        "-o",
        har_path.to_str().expect("utf-8"),
    ]);
    sh.stdin
        .take()
        .expect("stdin")
        .write_all(b"go\n")
        .expect("go");
    let fetched = crate::support::wait_with_timeout(&mut sh, std::time::Duration::from_secs(60));
    assert!(fetched.success(), "the fetches failed");
    let (status, stderr) = live.stop();
    assert!(status.success(), "{stderr}");
    assert!(
        stderr.contains(&format!("{} exchanges merged, 0 flows alone", files.len())),
        "{stderr}"
    );

    let har: Value =
        serde_json::from_slice(&std::fs::read(&har_path).expect("read HAR")).expect("HAR is JSON");
    assert_eq!(har_rules::check(&har), Vec::<String>::new());
    let entries = har["log"]["entries"].as_array().expect("entries");
    assert_eq!(
        entries.len(),
        files.len(),
        "one entry per exchange: {har:#}"
    );
    for e in entries {
        assert_eq!(e["_flowtap"]["observer"], "both");
        assert_eq!(e["_flowtap"]["process"]["comm"], "curl");
        assert_eq!(e["_flowtap"]["server"]["process"]["comm"], "python3");
        assert_eq!(e["serverIPAddress"], "127.0.0.1");
    }

    // The server is gone: whatever the page receives comes from the HAR.
    let url = |name: &str| format!("http://127.0.0.1:{port}/{name}");
    let out = Command::new("node")
        .arg(&replay_js)
        .arg(&har_path)
        .args(names.iter().map(|n| url(n)))
        .output()
        .expect("run node replay.js");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let received: Value = serde_json::from_slice(&out.stdout).expect("replay.js prints JSON");
    for (name, bytes) in &files {
        let got = &received[url(name)];
        assert_eq!(got["status"], 200, "{name}: {got}");
        let body = base64::engine::general_purpose::STANDARD
            .decode(got["body"].as_str().expect("body"))
            .expect("base64");
        assert!(
            body == *bytes,
            "{name}: {} bytes received, {} served",
            body.len(),
            bytes.len()
        );
    }
}
