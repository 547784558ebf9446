//! `flowtap view` on flows files: one line per exchange, filters, the detail
//! view, the summary, colour only when asked or on a terminal, and a closed
//! pipe as a clean exit. The live, terminal side is in `view_live`.

use std::io::Write;
use std::process::{Command, Stdio};

use crate::support::{flowtap_bin, repo_root};

fn view(args: &[&str]) -> (String, String) {
    let out = Command::new(flowtap_bin())
        .arg("view")
        .arg("--no-follow")
        .arg(repo_root().join("fixtures/live-keepalive.flows.jsonl"))
        .args(args)
        .env_remove("NO_COLOR")
        .output()
        .expect("run flowtap view");
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "{stderr}");
    (String::from_utf8_lossy(&out.stdout).into_owned(), stderr)
}

#[test]
fn one_line_per_exchange_then_a_summary_per_pair() {
    let (stdout, stderr) = view(&[]);
    let lines: Vec<&str> = stdout.lines().collect();
    let want = [
        ("GET /items ", " 200 "),
        ("POST /items ", " 200 "),
        ("PUT /items/1 ", " 201 "),
        ("GET /missing ", " 404 "),
        ("DELETE /items/1 ", " 204 "),
    ];
    assert_eq!(lines.len(), want.len(), "{stdout}");
    for (line, (req, status)) in lines.iter().zip(want) {
        assert!(line.contains(req) && line.contains(status), "{line}");
        assert!(line.contains("python3 → 127.0.0.1:"), "{line}");
        assert!(!line.contains('\x1b'), "no colour into a pipe: {line:?}");
    }
    assert!(lines[1].contains("12 B → 17 B"), "{}", lines[1]);
    assert!(
        stderr.contains("5 exchanges merged, 0 flows alone"),
        "{stderr}"
    );
    assert!(
        stderr.contains(": 5 requests (2xx 4, 4xx 1), p50 "),
        "{stderr}"
    );
}

#[test]
fn filters_narrow_what_is_shown() {
    let count = |args: &[&str]| view(args).0.lines().count();
    assert_eq!(count(&["--status", "4xx"]), 1);
    assert_eq!(count(&["--status", "2xx", "--method", "delete"]), 1);
    assert_eq!(count(&["--target", "items/1"]), 2);
    assert_eq!(count(&["--status", "5xx"]), 0);
    assert_eq!(count(&["--service", "nothing-by-that-name"]), 0);
    assert_eq!(count(&["--service", "python3"]), 5);
    // Both ends' flows apart: twice as many.
    assert_eq!(count(&["--no-merge"]), 10);
}

#[test]
fn the_detail_view_shows_heads_and_pretty_json() {
    let (stdout, _) = view(&["--detail", "--method", "GET", "--status", "200"]);
    assert!(stdout.contains("> GET /items HTTP/1.1"), "{stdout}");
    assert!(stdout.contains("< HTTP/1.1 200 OK"), "{stdout}");
    assert!(
        stdout.contains("< Content-Type: application/json"),
        "{stdout}"
    );
    // {"path": "/items"} pretty-printed.
    assert!(
        stdout.contains("< {\n<   \"path\": \"/items\"\n< }"),
        "{stdout}"
    );
    assert!(stdout.contains("network and queueing"), "{stdout}");
}

#[test]
fn colour_only_when_asked_off_a_terminal() {
    let (stdout, _) = view(&["--color", "always", "--status", "404"]);
    assert!(stdout.contains("\x1b["), "{stdout:?}");
}

#[test]
fn a_closed_pipe_is_a_clean_exit() {
    let mut child = Command::new(flowtap_bin())
        .args(["view", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn view");
    drop(child.stdout.take());
    let flows =
        std::fs::read(repo_root().join("fixtures/live-keepalive.flows.jsonl")).expect("fixture");
    let mut stdin = child.stdin.take().expect("stdin");
    for _ in 0..200 {
        if stdin.write_all(&flows).is_err() {
            break;
        }
    }
    drop(stdin);
    let out = child.wait_with_output().expect("wait");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        !stderr.contains("panicked") && !stderr.contains("Broken pipe"),
        "{stderr}"
    );
}

#[test]
fn one_exchange_by_either_ends_id() {
    let flows = std::fs::read_to_string(repo_root().join("fixtures/live-keepalive.flows.jsonl"))
        .expect("fixture");
    let server_side: serde_json::Value = serde_json::from_str(
        flows
            .lines()
            .find(|l| l.contains("\"observer\":\"server\"") && l.contains("/missing"))
            .expect("a server-side flow of GET /missing"),
    )
    .expect("JSON");
    let id = server_side["id"].as_str().expect("id");
    let (stdout, _) = view(&["--id", id, "--detail"]);
    assert_eq!(stdout.matches("── ").count(), 1, "{stdout}");
    assert!(stdout.contains("> GET /missing HTTP/1.1"), "{stdout}");
    assert!(stdout.contains(&format!("id {id}")), "{stdout}");
}
