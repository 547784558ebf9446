//! `flowtap view` in a real terminal (root): tmux runs a shell, send-keys types
//! the command, capture-pane reads what appeared, while `flowtap capture` records
//! real curl and python http.server exchanges into the file the view follows.

use std::io::Write as _;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::demo::{assert_ok, Demo};
use crate::har::{free_port, site, FETCH_ALL};
use crate::support::{build_images, flowtap_bin, privileged, wait_with_timeout, LiveCapture};

/// A private tmux server (its own socket), killed when dropped.
struct Tmux {
    socket: String,
    session: String,
}

impl Tmux {
    fn start() -> Tmux {
        let name = format!("ft-view-{}", std::process::id());
        let t = Tmux {
            socket: name.clone(),
            session: name,
        };
        let ok = t
            .cmd()
            .args([
                "new-session",
                "-d",
                "-s",
                &t.session,
                "-x",
                "200",
                "-y",
                "50",
            ])
            .args([
                "env",
                "-u",
                "NO_COLOR",
                "PS1=$ ",
                "bash",
                "--norc",
                "--noprofile",
            ])
            .status()
            .expect("run tmux");
        assert!(ok.success(), "tmux new-session");
        t
    }

    fn cmd(&self) -> Command {
        let mut c = Command::new("tmux");
        c.args(["-L", &self.socket]);
        c
    }

    fn keys(&self, keys: &[&str]) {
        let ok = self
            .cmd()
            .args(["send-keys", "-t", &self.session])
            .args(keys)
            .status()
            .expect("tmux send-keys");
        assert!(ok.success());
    }

    /// The pane's text; with `escapes`, its colours as escape sequences too.
    fn pane(&self, escapes: bool) -> String {
        let mut c = self.cmd();
        c.args(["capture-pane", "-p", "-J", "-t", &self.session]);
        if escapes {
            c.arg("-e");
        }
        let out = c.output().expect("tmux capture-pane");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Waits until every needle is in the pane; the pane on failure.
    fn wait_for(&self, needles: &[&str]) -> String {
        self.wait_until(&format!("{needles:?}"), |pane| {
            needles.iter().all(|n| pane.contains(n))
        })
    }

    /// Waits until the pane (without escapes) satisfies `done`; `what` and the
    /// pane on failure.
    fn wait_until(&self, what: &str, done: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let pane = self.pane(false);
            if done(&pane) {
                return pane;
            }
            assert!(
                Instant::now() < deadline,
                "never saw {what} in the pane:\n{pane}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = self.cmd().arg("kill-server").status();
    }
}

fn shell_quote(p: &Path) -> String {
    format!("'{}'", p.display().to_string().replace('\'', r"'\''"))
}

#[test]
#[ignore = "needs root and BPF, and tmux; run via scripts/test.sh"]
fn the_view_shows_live_exchanges_in_a_terminal_and_a_summary_at_ctrl_c() {
    let _guard = privileged();
    let dir = tempfile::tempdir().expect("tempdir");
    let site_dir = dir.path().join("site");
    std::fs::create_dir(&site_dir).expect("mkdir");
    let files = site(&site_dir);
    let names: Vec<&str> = files.iter().map(|(n, _)| *n).collect();
    let port = free_port();
    let flows = dir.path().join("flows.jsonl");
    std::fs::write(&flows, "").expect("create flows file");

    let mut sh = Command::new("sh")
        .args(["-c", FETCH_ALL])
        .env("PORT", port.to_string())
        .env("SITE", &site_dir)
        .env("FILES", names.join(" "))
        .env("MISSING", "nope.txt")
        .stdin(Stdio::piped())
        .spawn()
        .expect("spawn sh");
    let live = LiveCapture::start(&[
        "capture",
        "--pid",
        &sh.id().to_string(),
        "-o",
        flows.to_str().expect("utf-8"),
    ]);

    let tmux = Tmux::start();
    let bin = shell_quote(&flowtap_bin());
    let view = format!("{bin} view {}", shell_quote(&flows));
    tmux.keys(&[&view, "Enter"]);
    sh.stdin
        .take()
        .expect("stdin")
        .write_all(b"go\n")
        .expect("go");
    assert!(wait_with_timeout(&mut sh, Duration::from_secs(60)).success());

    // One line per exchange, merged from both ends (no [client]/[server] mark).
    let server = format!("127.0.0.1:{port}");
    let want: Vec<String> = names
        .iter()
        .map(|n| format!("curl → {server} GET /{n} 200 "))
        .chain([format!("curl → {server} GET /nope.txt 404 ")])
        .collect();
    let needles: Vec<&str> = want.iter().map(String::as_str).collect();
    let pane = tmux.wait_for(&needles);
    assert!(
        !pane.contains("[client]") && !pane.contains("[server]"),
        "{pane}"
    );
    assert!(
        pane.contains("70000") || pane.contains("68.4 KiB"),
        "{pane}"
    );
    // On a terminal the status is coloured by class: green 2xx, yellow 4xx.
    let coloured = tmux.pane(true);
    let line_of = |needle: &str| {
        coloured
            .lines()
            .find(|l| l.contains(needle) || strip(l).contains(needle))
            .map(str::to_string)
            .unwrap_or_default()
    };
    assert!(line_of("/data.json").contains("32m"), "{coloured:?}");
    assert!(line_of("/nope.txt").contains("33m"), "{coloured:?}");

    // Ctrl-C: the summary per service pair, and the shell's prompt back.
    tmux.keys(&["C-c"]);
    let summary = format!("curl → {server}: 4 requests (2xx 3, 4xx 1), p50 ");
    let pane = tmux.wait_until("the prompt back after the view", |pane| {
        pane.trim_end().ends_with('$')
    });
    eprintln!("the pane after Ctrl-C:\n{pane}");
    for line in [
        "4 exchanges shown, 4 exchanges merged, 0 flows alone",
        &summary,
    ] {
        assert!(
            pane.contains(line),
            "no {line:?} before the prompt:\n{pane}"
        );
    }
    let (status, stderr) = live.stop();
    assert!(status.success(), "{stderr}");

    // NO_COLOR turns colour off even on a terminal.
    tmux.keys(&["clear", "Enter"]);
    let _ = tmux
        .cmd()
        .args(["clear-history", "-t", &tmux.session])
        .status();
    let plain = format!(
        "NO_COLOR=1 {bin} view --no-follow {}; echo view-done",
        shell_quote(&flows)
    );
    tmux.keys(&[&plain, "Enter"]);
    tmux.wait_for(&["\nview-done", "4 exchanges shown"]);
    let pane = tmux.pane(true);
    assert!(pane.contains("GET /data.json 200"), "{pane}");
    assert!(!pane.contains("\x1b["), "{pane:?}");
}

#[test]
#[ignore = "needs root, BPF, Docker and tmux; run via scripts/test.sh"]
fn the_view_follows_the_running_demo_by_compose_service() {
    let _guard = privileged();
    build_images();
    let demo = Demo {
        project: format!("ftview{}", std::process::id()),
        out: tempfile::tempdir().expect("tempdir"),
    };
    assert_ok(
        "compose up",
        &demo.compose(&["up", "-d", "api", "web", "gosrv", "proxy"]),
    );
    let dir = tempfile::tempdir().expect("tempdir");
    let flows = dir.path().join("flows.jsonl");
    std::fs::write(&flows, "").expect("create flows file");
    let live = LiveCapture::start(&[
        "capture",
        "--compose-project",
        &demo.project,
        "-o",
        flows.to_str().expect("utf-8"),
    ]);
    let tmux = Tmux::start();
    let view = format!(
        "{} view {}",
        shell_quote(&flowtap_bin()),
        shell_quote(&flows)
    );
    tmux.keys(&[&view, "Enter"]);
    assert_ok("the demo client", &demo.compose(&["run", "--rm", "client"]));

    // Lines name both ends by compose service, merged (no [client]/[server]).
    let pane = tmux.wait_for(&[
        "client → api GET /items 200 ",
        "client → api GET /nope 404 ",
        "client → web GET /hello 200 ",
        "client → gosrv POST /echo 200 ",
        "client → proxy GET /missing 404 ",
    ]);
    assert!(
        !pane.contains("[client]") && !pane.contains("[server]"),
        "{pane}"
    );
    tmux.keys(&["C-c"]);
    // The summary is printed before the view exits, and the shell's prompt
    // only after: wait for the prompt, then check what came before it.
    let pane = tmux.wait_until("the prompt back after the view", |pane| {
        pane.trim_end().ends_with('$')
    });
    for pair in ["client → api: ", "client → proxy: "] {
        assert!(pane.contains(pair), "no summary for {pair:?}:\n{pane}");
    }
    let (status, stderr) = live.stop();
    assert!(status.success(), "{stderr}");
}

/// The text of a line without escape sequences.
fn strip(line: &str) -> String {
    anstream::adapter::strip_str(line).to_string()
}
