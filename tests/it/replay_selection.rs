//! Replay selects containers offline as a live capture does: a whole-host trace
//! replayed with `--container X` gives the flows that a live `--container X`
//! capture, running at the same time, wrote.

use std::time::Duration;

use serde_json::Value;

use crate::docker::{docker, unique, Cleanup, IMAGE};
use crate::support::{build_images, flowtap_bin, privileged, LiveCapture};

/// Waits for /out/go, then serves and fetches a few pages over its own loopback:
/// a GET, a POST with a body and a 404, on a keep-alive connection and new ones.
const EXCHANGES: &str = r#"
import http.client, http.server, os, threading, time
while not os.path.exists("/out/go"):
    time.sleep(0.05)
class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def do_GET(self):
        code = 404 if self.path == "/missing" else 200
        body = f"{os.environ['WHO']} {self.path}".encode()
        self.send_response(code)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    do_POST = do_GET
    def log_message(self, *a):
        pass
s = http.server.ThreadingHTTPServer(("127.0.0.1", 8080), H)
threading.Thread(target=s.serve_forever, daemon=True).start()
c = http.client.HTTPConnection("127.0.0.1", 8080)
for path in ["/a", "/b", "/missing"]:
    c.request("POST" if path == "/b" else "GET", path, body=b"x" * 100 if path == "/b" else None)
    c.getresponse().read()
c.close()
for i in range(3):
    c = http.client.HTTPConnection("127.0.0.1", 8080)
    c.request("GET", f"/new/{i}")
    c.getresponse().read()
    c.close()
s.shutdown()
"#;

/// A flow without what two captures of the same syscalls cannot share: each
/// capture reads its own clock, so times and durations differ by microseconds.
fn timeless(line: &str) -> String {
    let mut flow: Value = serde_json::from_str(line).expect("a flow");
    flow["request"]["time"] = Value::Null;
    flow["duration_us"] = Value::Null;
    if flow["response"].is_object() {
        flow["response"]["time"] = Value::Null;
    }
    flow.to_string()
}

#[test]
#[ignore = "needs root, BPF and Docker; run via scripts/test.sh"]
fn replay_with_a_container_selection_equals_a_live_selection() {
    let _guard = privileged();
    build_images();
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().to_str().expect("utf-8").to_string();
    let mut cleanup = Cleanup::default();
    let names = [unique("sel-x"), unique("sel-y")];
    for name in &names {
        cleanup.containers.push(name.clone());
        docker(&[
            "run",
            "-d",
            "--name",
            name,
            "--network",
            "none",
            "-e",
            &format!("WHO={name}"),
            "-v",
            "/usr:/usr:ro",
            "-v",
            &format!("{out}:/out:ro"),
            IMAGE,
            "/usr/bin/python3",
            "-c",
            EXCHANGES,
        ]);
    }
    let path = |f: &str| dir.path().join(f).to_str().expect("utf-8").to_string();
    let whole = LiveCapture::start(&[
        "capture",
        "--all-processes",
        "--record",
        &path("whole.trace"),
        "-o",
        "/dev/null",
    ]);
    let selected = LiveCapture::start(&[
        "capture",
        "--container",
        &names[0],
        "-o",
        &path("live.jsonl"),
    ]);
    // Both have named the running containers by now.
    std::thread::sleep(Duration::from_secs(2));
    std::fs::write(dir.path().join("go"), "").expect("go");
    for name in &names {
        assert_eq!(docker(&["wait", name]), "0", "{name} exited cleanly");
    }
    std::thread::sleep(Duration::from_secs(1));
    for (what, capture) in [("live", selected), ("whole-host", whole)] {
        let (status, stderr) = capture.stop();
        assert!(status.success(), "{what} capture: {stderr}");
        assert!(
            stderr.contains(" 0 events lost"),
            "{what} capture lost events: {stderr}"
        );
    }

    let replay = std::process::Command::new(flowtap_bin())
        .args(["replay", &path("whole.trace"), "--container", &names[0]])
        .args(["-o", &path("replayed.jsonl")])
        .output()
        .expect("replay");
    assert!(
        replay.status.success(),
        "{}",
        String::from_utf8_lossy(&replay.stderr)
    );

    let read = |f: &str| std::fs::read_to_string(dir.path().join(f)).expect(f);
    let live: Vec<String> = read("live.jsonl").lines().map(timeless).collect();
    let replayed: Vec<String> = read("replayed.jsonl").lines().map(timeless).collect();
    // Six exchanges, each seen by the client and by the server.
    assert_eq!(live.len(), 12, "{live:#?}");
    assert!(
        live.iter()
            .all(|f| f.contains(&format!("\"name\":\"{}\"", names[0]))),
        "only the selected container: {live:#?}"
    );
    assert_eq!(replayed, live, "replay selects as the live capture did");
}
