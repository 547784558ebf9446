//! A capture outlives a Docker daemon restart: it reconnects and goes on naming
//! and tracing new containers. This stops dockerd (and with it every container),
//! so scripts/test.sh runs it on its own, after the rest.

use std::process::Command;
use std::time::Duration;

use serde_json::Value;

use crate::support::{build_images, privileged, python_container, repo_root, LiveCapture};

/// A container that serves and fetches one page over its own loopback.
const PROBE: &str = r#"
import http.server, threading, urllib.request, urllib.error
s = http.server.HTTPServer(("127.0.0.1", 8080), http.server.SimpleHTTPRequestHandler)
threading.Thread(target=s.handle_request).start()
try:
    urllib.request.urlopen("http://127.0.0.1:8080/after-dockerd-restart")
except urllib.error.HTTPError as e:
    print(e.code)
"#;

fn docker_answers() -> bool {
    Command::new("/usr/bin/docker")
        .arg("info")
        .output()
        .is_ok_and(|o| o.status.success())
}

#[test]
#[ignore = "restarts dockerd; scripts/test.sh runs it alone, after the rest"]
fn capture_survives_a_dockerd_restart() {
    let _guard = privileged();
    build_images();
    let dir = tempfile::tempdir().expect("tempdir");
    let flows = dir.path().join("flows.jsonl");
    let mut live = LiveCapture::start(&["capture", "-o", flows.to_str().expect("utf-8")]);

    let stopped = Command::new("pkill")
        .args(["-TERM", "-x", "dockerd"])
        .status()
        .expect("pkill");
    assert!(stopped.success(), "no dockerd to stop");
    for _ in 0..300 {
        if !docker_answers() {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(
        live.wait_for("lost Docker", Duration::from_secs(30)),
        "flowtap did not notice"
    );
    let started = Command::new(repo_root().join("scripts/start-docker.sh"))
        .status()
        .expect("start-docker.sh");
    assert!(started.success());
    assert!(
        live.wait_for("reconnected", Duration::from_secs(30)),
        "flowtap did not reconnect"
    );

    let name = format!("flowtap-restart-{}", std::process::id());
    let run = python_container(&name, &[], PROBE);
    assert_eq!(String::from_utf8_lossy(&run.stdout).trim(), "404");
    std::thread::sleep(Duration::from_secs(1));
    let (status, stderr) = live.stop();
    assert!(status.success(), "{stderr}");

    let flows: Vec<Value> = std::fs::read_to_string(&flows)
        .expect("flows")
        .lines()
        .map(|l| serde_json::from_str(l).expect("a flow"))
        .collect();
    for observer in ["client", "server"] {
        let found = flows.iter().any(|f| {
            f["observer"] == observer
                && f["process"]["container"]["name"] == name.as_str()
                && f["request"]["target"] == "/after-dockerd-restart"
                && f["response"]["status"] == 404
        });
        assert!(found, "no {observer}-side flow from {name}: {flows:#?}");
    }
}
