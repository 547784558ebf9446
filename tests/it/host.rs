//! Hosts unlike ours: what flowtap says when the clock, the kernel or the cgroup
//! hierarchy is not what it needs. Each case reproduces the condition.

use std::process::{Command, Output};

use crate::support::{build_images, flowtap_bin, privileged, python_container};

/// Exit code 1 and exactly one line on stderr that contains every `needle`.
fn assert_one_sentence(out: &Output, needles: &[&str]) {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "stderr: {stderr}");
    assert_eq!(stderr.lines().count(), 1, "one line: {stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    for needle in needles {
        assert!(stderr.contains(needle), "{needle:?} in {stderr}");
    }
}

#[test]
fn a_huge_duration_is_a_clear_error() {
    // 1e300 s is no Duration; 1e19 s is one, but no Instant can be that far ahead.
    for secs in ["1e300", "1e19", "inf", "0", "-3"] {
        let out = Command::new(flowtap_bin())
            .args(["capture", "--all-processes"])
            .arg(format!("--duration={secs}"))
            .output()
            .expect("run flowtap");
        assert_one_sentence(&out, &["--duration"]);
    }
}

#[test]
#[ignore = "needs root (the privilege check comes first); run via scripts/test.sh"]
fn each_missing_kernel_feature_is_named_in_one_sentence() {
    for (feature, words) in [
        ("btf", "BTF"),
        ("ringbuf", "ring buffer"),
        ("task_storage", "task storage"),
        ("bpf_loop", "bpf_loop"),
        ("bpf_task_pt_regs", "bpf_task_pt_regs"),
    ] {
        let out = Command::new(flowtap_bin())
            .args(["capture", "--all-processes", "--duration", "1"])
            .env("FLOWTAP_PRETEND_MISSING", feature)
            .output()
            .expect("run flowtap");
        assert_one_sentence(&out, &[words, "Linux 5.17 or later"]);
        assert!(!String::from_utf8_lossy(&out.stderr).contains("ready"));
    }
}

/// Runs `flowtap capture --duration 2` (containers traced) in a private mount
/// namespace after `setup` (shell) changed what it sees of the cgroup hierarchy.
fn capture_in_namespace(unshare: &[&str], setup: &str) -> Output {
    Command::new("unshare")
        .args(unshare)
        .args(["--mount", "--propagation", "private", "sh", "-c"])
        .arg(format!(
            "{setup} && exec \"$FLOWTAP\" capture --duration 2 -o /dev/null"
        ))
        .env("FLOWTAP", flowtap_bin())
        .output()
        .expect("run unshare")
}

struct Sleeper(&'static str);

impl Sleeper {
    fn start(name: &'static str) -> Sleeper {
        let _ = Command::new("/usr/bin/docker")
            .args(["rm", "-f", name])
            .output();
        python_container(
            name,
            &["-d", "--network", "none"],
            "import time; time.sleep(60)",
        );
        Sleeper(name)
    }
}

impl Drop for Sleeper {
    fn drop(&mut self) {
        let _ = Command::new("/usr/bin/docker")
            .args(["rm", "-f", self.0])
            .output();
    }
}

#[test]
#[ignore = "needs root, BPF and Docker; run via scripts/test.sh"]
fn containers_hidden_by_a_cgroup_namespace_are_an_error_not_an_empty_capture() {
    let _guard = privileged();
    build_images();
    let _sleeper = Sleeper::start("ft-rob-cgns");
    // In a cgroup namespace rooted below the root, a fresh cgroup2 mount shows
    // only that subtree, as inside a container: no container directory is visible.
    let cgroup = std::path::Path::new("/sys/fs/cgroup/unified/ft-rob-cgns");
    let _ = std::fs::create_dir(cgroup);
    let out = Command::new("sh")
        .arg("-c")
        .arg(
            "echo $$ > /sys/fs/cgroup/unified/ft-rob-cgns/cgroup.procs && exec unshare --cgroup \
             --mount --propagation private sh -c 'umount /sys/fs/cgroup/unified && \
             mount -t cgroup2 cgroup2 /sys/fs/cgroup/unified && \
             exec \"$FLOWTAP\" capture --duration 2 -o /dev/null'",
        )
        .env("FLOWTAP", flowtap_bin())
        .output()
        .expect("run unshare");
    let _ = std::fs::remove_dir(cgroup);
    assert_one_sentence(&out, &["cgroup namespace", "running container"]);
    assert!(!String::from_utf8_lossy(&out.stderr).contains("ready"));
}

#[test]
#[ignore = "needs root, BPF and Docker; run via scripts/test.sh"]
fn a_host_without_cgroup2_cannot_trace_containers_and_says_so() {
    let _guard = privileged();
    // Only in this private mount namespace: the host keeps its mount.
    let out = capture_in_namespace(&[], "umount /sys/fs/cgroup/unified");
    assert_one_sentence(&out, &["cgroup v1 only"]);
}
