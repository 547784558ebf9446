//! flowtap's scripts and tests run on developers' own machines: they may stop,
//! kill or unmount only what they started themselves. This reads them for the
//! ways of doing otherwise that have crept in before: killing by name, stopping
//! or disabling a service through systemd, and starting a dockerd with
//! `--bridge none` (which deletes the host's docker0).

use std::path::{Path, PathBuf};

use crate::support::repo_root;

/// Every file below `dir`, recursively.
fn files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            files(&path, out);
        } else {
            out.push(path);
        }
    }
}

/// What a line does that it must not, if anything. Comments are skipped.
fn rude(line: &str) -> Option<&'static str> {
    let code = line.trim_start();
    if code.starts_with('#') || code.starts_with("//") {
        return None;
    }
    let words: Vec<&str> = code
        .split(|c: char| !(c.is_ascii_alphanumeric() || c == '-' || c == '_'))
        .filter(|w| !w.is_empty())
        .collect();
    if words.iter().any(|w| *w == "pkill" || *w == "killall") {
        return Some("kills processes by name");
    }
    if words.windows(2).any(|w| w == ["--bridge", "none"]) {
        return Some("a dockerd without a bridge deletes the host's docker0");
    }
    let systemctl = words.iter().position(|w| *w == "systemctl")?;
    let verb = words[systemctl + 1..]
        .iter()
        .find(|w| !w.starts_with('-'))
        .copied();
    matches!(verb, Some("stop" | "disable" | "kill" | "mask" | "restart"))
        .then_some("stops, disables or restarts a system service")
}

#[test]
fn scripts_and_tests_never_kill_by_name_or_stop_services() {
    let root = repo_root();
    let mut all = Vec::new();
    for dir in ["scripts", "tests", ".ci"] {
        files(&root.join(dir), &mut all);
    }
    assert!(all.len() > 10, "read the scripts and tests: {all:?}");
    let this = root.join(file!().trim_start_matches("./"));
    let mut found = Vec::new();
    for path in all.iter().filter(|p| **p != this) {
        let Ok(text) = std::fs::read_to_string(path) else {
            continue;
        };
        for (n, line) in text.lines().enumerate() {
            if let Some(why) = rude(line) {
                found.push(format!(
                    "{}:{}: {why}: {}",
                    path.display(),
                    n + 1,
                    line.trim()
                ));
            }
        }
    }
    assert!(found.is_empty(), "{}", found.join("\n"));
}

#[test]
fn the_check_recognises_what_it_forbids() {
    assert!(rude("pkill -x nginx || true").is_some());
    assert!(rude("  killall dockerd").is_some());
    assert!(rude(r#"Command::new("pkill").args(["-TERM", "-x", "dockerd"])"#).is_some());
    assert!(rude("systemctl disable --now nginx").is_some());
    assert!(rude("systemctl --quiet stop docker").is_some());
    assert!(rude("systemctl start docker.service").is_none());
    assert!(
        rude("kill -INT \"$capture_pid\"").is_none(),
        "our own child"
    );
    assert!(rude("# pkill would be rude").is_none());
    assert!(rude(r#".args(["--bridge", "none", "--iptables=false"])"#).is_some());
    assert!(rude("dockerd --bridge=none &").is_some());
    assert!(rude(r#".args(["--bridge", &self.bridge])"#).is_none());
}
