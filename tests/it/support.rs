//! Helpers shared by the integration tests: the flowtap binary, live captures
//! around a process, the exchange harness, and trace reading.

#![allow(dead_code)] // each test module uses its own share of these

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use flowtap::event::Event;
use flowtap::trace::TraceReader;

/// The flowtap binary cargo built for these tests.
pub fn flowtap_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_flowtap"))
}

/// The repository root.
pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

static PRIVILEGED: Mutex<()> = Mutex::new(());

/// Serialises tests that load BPF programs or touch tracefs: one of them unmounts
/// tracefs, which must not happen under another capture.
pub fn privileged() -> MutexGuard<'static, ()> {
    PRIVILEGED
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// A running `flowtap capture`, started and waited for until it says `ready`.
pub struct LiveCapture {
    child: Child,
    stderr: Receiver<String>,
    reader: Option<std::thread::JoinHandle<()>>,
    seen: Vec<String>,
}

impl LiveCapture {
    pub fn start(args: &[&str]) -> LiveCapture {
        Self::start_with_env(args, &[])
    }

    /// As [`start`](Self::start), with these environment variables set too.
    pub fn start_with_env(args: &[&str], env: &[(&str, &str)]) -> LiveCapture {
        let mut child = Command::new(flowtap_bin())
            .args(args)
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn flowtap");
        let stderr = child.stderr.take().expect("piped stderr");
        let (tx, rx) = mpsc::channel();
        let reader = std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut capture = LiveCapture {
            child,
            stderr: rx,
            reader: Some(reader),
            seen: Vec::new(),
        };
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            match capture.stderr.recv_timeout(Duration::from_millis(200)) {
                Ok(line) => {
                    let ready = line.contains("ready");
                    capture.seen.push(line);
                    if ready {
                        return capture;
                    }
                }
                Err(mpsc::RecvTimeoutError::Timeout) if Instant::now() < deadline => {
                    if let Ok(Some(status)) = capture.child.try_wait() {
                        panic!(
                            "flowtap exited with {status} before ready:\n{}",
                            capture.seen.join("\n")
                        );
                    }
                }
                Err(_) => panic!("flowtap never said ready:\n{}", capture.seen.join("\n")),
            }
        }
    }

    /// Waits until flowtap writes a stderr line containing `needle`.
    pub fn wait_for(&mut self, needle: &str, limit: Duration) -> bool {
        if self.seen.iter().any(|l| l.contains(needle)) {
            return true;
        }
        let deadline = Instant::now() + limit;
        while let Some(left) = deadline.checked_duration_since(Instant::now()) {
            match self.stderr.recv_timeout(left) {
                Ok(line) => {
                    let found = line.contains(needle);
                    self.seen.push(line);
                    if found {
                        return true;
                    }
                }
                Err(_) => return false,
            }
        }
        false
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Stops flowtap (SIGSTOP): the kernel side goes on filling the ring buffer,
    /// and nothing reads it until [`resume`](Self::resume).
    pub fn pause(&self) {
        // SAFETY: plain kill(2) on our own child's pid.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGSTOP) };
    }

    /// Lets flowtap go on (SIGCONT) after [`pause`](Self::pause).
    pub fn resume(&self) {
        // SAFETY: plain kill(2) on our own child's pid.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGCONT) };
    }

    /// Stops it with SIGINT and returns its exit status and everything it wrote to stderr.
    pub fn stop(mut self) -> (ExitStatus, String) {
        // SAFETY: plain kill(2) on our own child's pid.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGINT) };
        let status = wait_with_timeout(&mut self.child, Duration::from_secs(60));
        // The reader ends when the pipe closes, which flowtap's exit just did.
        if let Some(reader) = self.reader.take() {
            let _ = reader.join();
        }
        self.seen.extend(self.stderr.try_iter());
        (status, self.seen.join("\n"))
    }
}

impl Drop for LiveCapture {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn wait_with_timeout(child: &mut Child, timeout: Duration) -> ExitStatus {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(status) = child.try_wait().expect("wait for child") {
            return status;
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            panic!("process {} did not exit within {timeout:?}", child.id());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// tests/programs/exchange.py: real client and server processes on loopback that
/// wait for `go` so that a capture can be attached to them first.
pub struct Harness {
    child: Child,
    stdin: ChildStdin,
    /// Taken while a step's answer is awaited.
    stdout: Option<BufReader<ChildStdout>>,
}

impl Harness {
    pub fn start(scenario: &str, flags: &[&str]) -> Harness {
        let mut cmd = Command::new("python3");
        cmd.arg(repo_root().join("tests/programs/exchange.py"))
            .arg(scenario)
            .args(flags);
        Harness::spawn(cmd)
    }

    /// Another Python program in tests/programs/ that speaks the same protocol.
    pub fn program(program: &str, scenario: &str, flags: &[&str]) -> Harness {
        let mut cmd = Command::new("python3");
        cmd.arg(repo_root().join("tests/programs").join(program))
            .arg(scenario)
            .args(flags);
        Harness::spawn(cmd)
    }

    /// Any program that speaks the same protocol: "waiting", a line in, one
    /// JSON line out.
    pub fn spawn(mut cmd: Command) -> Harness {
        let mut child = cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("spawn the harness");
        let stdin = child.stdin.take().expect("piped stdin");
        let mut stdout = BufReader::new(child.stdout.take().expect("piped stdout"));
        let mut line = String::new();
        stdout.read_line(&mut line).expect("read harness");
        assert_eq!(line.trim(), "waiting", "harness did not start");
        Harness {
            child,
            stdin,
            stdout: Some(stdout),
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Runs the scenario under `flowtap capture --pid` (with `capture_flags`),
    /// recording to `trace`, which must lose nothing: what the harness reports
    /// it did, and the recorded events.
    pub fn record(self, trace: &Path, capture_flags: &[&str]) -> (serde_json::Value, Vec<Event>) {
        self.record_with_env(trace, capture_flags, &[])
    }

    /// As [`record`](Self::record), with these environment variables set for the capture.
    pub fn record_with_env(
        self,
        trace: &Path,
        capture_flags: &[&str],
        env: &[(&str, &str)],
    ) -> (serde_json::Value, Vec<Event>) {
        let pid = self.pid().to_string();
        let trace_arg = trace.to_str().expect("utf-8 temp path");
        let mut args = vec!["capture", "--pid", &pid, "--record", trace_arg];
        args.extend_from_slice(capture_flags);
        let live = LiveCapture::start_with_env(&args, env);
        let result = self.go();
        let (status, stderr) = live.stop();
        assert!(status.success(), "capture failed: {status}\n{stderr}");
        assert!(
            stderr.contains("0 events lost"),
            "the kernel dropped events:\n{stderr}"
        );
        (result, read_trace(trace))
    }

    /// Runs the scenario and returns what the harness reports it did.
    /// A scenario that never reports is a failure after two minutes, not a
    /// test run that hangs.
    pub fn go(mut self) -> serde_json::Value {
        let result = self.step();
        let status = wait_with_timeout(&mut self.child, Duration::from_secs(120));
        assert!(status.success(), "harness failed: {status}");
        result
    }

    /// Sends `go` and returns the JSON line the harness answers with, for a
    /// scenario in several steps; [`go`](Self::go) is the last.
    pub fn step(&mut self) -> serde_json::Value {
        self.stdin.write_all(b"go\n").expect("signal harness");
        self.stdin.flush().expect("signal harness");
        let (tx, rx) = mpsc::channel();
        let mut stdout = self
            .stdout
            .take()
            .expect("the harness answered its last step");
        std::thread::spawn(move || {
            let mut line = String::new();
            let read = stdout.read_line(&mut line).map(|_| line);
            let _ = tx.send((read, stdout));
        });
        let line = match rx.recv_timeout(Duration::from_secs(120)) {
            Ok((read, stdout)) => {
                self.stdout = Some(stdout);
                read.expect("read harness result")
            }
            Err(_) => {
                let _ = self.child.kill();
                let _ = self.child.wait();
                panic!("the harness reported nothing within 120 s");
            }
        };
        serde_json::from_str(&line).unwrap_or_else(|e| panic!("harness said {line:?}: {e}"))
    }
}

/// The local base image every test container runs (scripts/build-images.sh).
pub const BASE_IMAGE: &str = "flowtap-base:2";

/// Builds the local images the Docker tests run (idempotent).
pub fn build_images() {
    build_images_with_env(&[]);
}

/// As [`build_images`], e.g. for another daemon through `DOCKER_HOST`.
pub fn build_images_with_env(env: &[(&str, &str)]) {
    let built = Command::new(repo_root().join("scripts/build-images.sh"))
        .envs(env.iter().copied())
        .status()
        .expect("run scripts/build-images.sh");
    assert!(built.success(), "building the test images failed");
}

/// `docker run --rm` of a Python script in the base image (the host's /usr
/// mounted read-only); `flags` go before the image, e.g. `-d`. Asserts it started.
pub fn python_container(name: &str, flags: &[&str], script: &str) -> std::process::Output {
    let out = Command::new("/usr/bin/docker")
        .args(["run", "--rm", "--name", name, "-v", "/usr:/usr:ro"])
        .args(flags)
        .args([BASE_IMAGE, "/usr/bin/python3", "-c", script])
        .output()
        .expect("run docker");
    assert!(
        out.status.success(),
        "container {name}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// The flows `flowtap replay TRACE ARGS…` writes to stdout; asserts it succeeded.
pub fn replay(trace: &Path, args: &[&str]) -> String {
    let out = Command::new(flowtap_bin())
        .arg("replay")
        .arg(trace)
        .args(args)
        .output()
        .expect("run flowtap replay");
    assert!(
        out.status.success(),
        "replay of {}: {}",
        trace.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("flows are UTF-8")
}

pub fn read_trace(path: &Path) -> Vec<Event> {
    TraceReader::open(path)
        .expect("open trace")
        .collect::<Result<Vec<_>, _>>()
        .expect("trace parses")
}
