//! A capture outlives a Docker daemon restart: it reconnects and goes on naming
//! and tracing new containers. The daemon restarted is a private one this test
//! starts (its own socket, data root, exec root, pid file, config and bridge, no
//! iptables or forwarding changes) and removes afterwards: the machine's Docker,
//! its containers and its docker0 are never touched.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::support::{
    build_images_with_env, privileged, wait_with_timeout, LiveCapture, BASE_IMAGE,
};

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

/// A dockerd of this test's own, under a directory of its own.
struct PrivateDockerd {
    dir: PathBuf,
    host: String,
    /// Its default bridge, which this test creates. A daemon must be given one:
    /// with `--bridge none`, dockerd deletes the host's `docker0` at start.
    bridge: String,
    daemon: Option<Child>,
}

/// Runs `ip` and asserts it succeeded.
fn ip(args: &[&str]) {
    let status = Command::new("ip").args(args).status().expect("run ip");
    assert!(status.success(), "ip {args:?}");
}

impl PrivateDockerd {
    fn start() -> PrivateDockerd {
        // Short: the socket's path must fit in a sockaddr_un.
        let dir = PathBuf::from(format!("/tmp/ft-dockerd-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("private dockerd dir");
        std::fs::write(dir.join("daemon.json"), "{}").expect("daemon.json");
        let host = format!("unix://{}", dir.join("docker.sock").display());
        // Interface names have at most 15 bytes. 198.18.0.0/15 is set aside for
        // benchmark networks (RFC 2544): no machine's real network is there.
        let bridge = format!("ftdkr{}", std::process::id() % 100_000);
        ip(&["link", "add", &bridge, "type", "bridge"]);
        let mut d = PrivateDockerd {
            dir,
            host,
            bridge,
            daemon: None,
        };
        ip(&["addr", "add", "198.18.233.1/24", "dev", &d.bridge]);
        ip(&["link", "set", &d.bridge, "up"]);
        d.launch();
        d
    }

    fn launch(&mut self) {
        let path = |p: &str| self.dir.join(p).display().to_string();
        let log = std::fs::File::options()
            .create(true)
            .append(true)
            .open(self.dir.join("dockerd.log"))
            .expect("dockerd.log");
        let daemon = Command::new("dockerd")
            .args(["--host", &self.host])
            .args(["--data-root", &path("data")])
            .args(["--exec-root", &path("exec")])
            .args(["--pidfile", &path("docker.pid")])
            .args(["--config-file", &path("daemon.json")])
            .args([
                "--bridge",
                &self.bridge,
                "--iptables=false",
                "--ip-forward=false",
            ])
            .args(["--ip-masq=false"])
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log fd"))
            .stderr(log)
            .spawn()
            .expect("start dockerd");
        self.daemon = Some(daemon);
        let deadline = Instant::now() + Duration::from_secs(60);
        while !self.answers() {
            assert!(
                Instant::now() < deadline,
                "private dockerd did not answer; see {}",
                self.dir.join("dockerd.log").display()
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// Stops the daemon as a service manager would: SIGTERM, then wait.
    fn stop(&mut self) {
        if let Some(mut daemon) = self.daemon.take() {
            // SAFETY: plain kill(2) on our own child's pid.
            unsafe { libc::kill(daemon.id() as i32, libc::SIGTERM) };
            wait_with_timeout(&mut daemon, Duration::from_secs(60));
        }
    }

    fn env(&self) -> [(&str, &str); 1] {
        [("DOCKER_HOST", self.host.as_str())]
    }

    fn docker(&self) -> Command {
        let mut c = Command::new("/usr/bin/docker");
        c.env("DOCKER_HOST", &self.host);
        c
    }

    fn answers(&self) -> bool {
        self.docker()
            .arg("info")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    }
}

impl Drop for PrivateDockerd {
    fn drop(&mut self) {
        self.stop();
        // The daemon unmounts what it mounted when it stops; whatever it left
        // below our directory is ours to take away.
        let mounts = std::fs::read_to_string("/proc/self/mounts").unwrap_or_default();
        let mut ours: Vec<&str> = mounts
            .lines()
            .filter_map(|l| l.split(' ').nth(1))
            .filter(|m| Path::new(m).starts_with(&self.dir))
            .collect();
        ours.sort_by_key(|m| std::cmp::Reverse(m.len()));
        for m in ours {
            let _ = Command::new("umount").args(["-l", m]).status();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
        let _ = Command::new("ip")
            .args(["link", "del", &self.bridge])
            .status();
    }
}

#[test]
#[ignore = "needs root, BPF and dockerd; run via scripts/test.sh"]
fn capture_survives_a_dockerd_restart() {
    let _guard = privileged();
    let mut dockerd = PrivateDockerd::start();
    build_images_with_env(&dockerd.env());
    let dir = tempfile::tempdir().expect("tempdir");
    let flows = dir.path().join("flows.jsonl");
    let mut live = LiveCapture::start_with_env(
        &["capture", "-o", flows.to_str().expect("utf-8")],
        &dockerd.env(),
    );

    dockerd.stop();
    assert!(
        live.wait_for("lost Docker", Duration::from_secs(30)),
        "flowtap did not notice"
    );
    dockerd.launch();
    assert!(
        live.wait_for("reconnected", Duration::from_secs(30)),
        "flowtap did not reconnect"
    );

    let name = format!("ft-restart-{}", std::process::id());
    let run = dockerd
        .docker()
        .args(["run", "--rm", "--network", "none", "--name", &name])
        .args([
            "-v",
            "/usr:/usr:ro",
            BASE_IMAGE,
            "/usr/bin/python3",
            "-c",
            PROBE,
        ])
        .output()
        .expect("docker run");
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
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
