//! Capture truth on real programs (root): whole bodies at the default settings,
//! and no byte in a trace or flow that was not on the socket.

use std::path::Path;

use flowtap::event::{Direction, Event};
use serde_json::Value;

use crate::support::{privileged, read_trace, Harness, LiveCapture};

pub struct Run {
    pub result: Value,
    pub flows: Vec<Value>,
    pub events: Vec<Event>,
    /// The recorded trace, kept until the run is dropped.
    pub trace: std::path::PathBuf,
    _dir: tempfile::TempDir,
}

pub fn read_flows(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .expect("read flows")
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("flow is not JSON ({e}): {l}")))
        .collect()
}

/// Runs `program scenario` under `flowtap capture --pid` with `flags`, keeping
/// flows and the trace; asserts the kernel lost nothing.
pub fn run(program: &str, scenario: &str, flags: &[&str]) -> Run {
    let _guard = privileged();
    run_harness(Harness::program(program, scenario, &[]), flags)
}

/// As [`run`], for a harness already started (the caller holds `privileged()`).
pub fn run_harness(harness: Harness, flags: &[&str]) -> Run {
    run_harness_with(harness, flags, |_, harness| harness.go())
}

/// As [`run_harness`], with `go` running the scenario beside the live capture.
fn run_harness_with(
    harness: Harness,
    flags: &[&str],
    go: impl FnOnce(&LiveCapture, Harness) -> Value,
) -> Run {
    let dir = tempfile::tempdir().expect("tempdir");
    let (flows, trace) = (dir.path().join("flows.jsonl"), dir.path().join("t.jsonl"));
    let pid = harness.pid().to_string();
    let mut args = vec![
        "capture",
        "--pid",
        &pid,
        "-o",
        flows.to_str().expect("utf-8"),
        "--record",
        trace.to_str().expect("utf-8"),
    ];
    args.extend_from_slice(flags);
    let live = LiveCapture::start(&args);
    let result = go(&live, harness);
    let (status, stderr) = live.stop();
    assert!(status.success(), "capture failed: {status}\n{stderr}");
    assert!(stderr.contains("0 events lost"), "{stderr}");
    Run {
        result,
        flows: read_flows(&flows),
        events: read_trace(&trace),
        trace,
        _dir: dir,
    }
}

fn body_file(result: &Value) -> Vec<u8> {
    std::fs::read(result["body_file"].as_str().expect("body_file")).expect("read body")
}

/// Every data record of the trace, per socket and direction, copied in full.
fn assert_nothing_uncaptured(events: &[Event]) {
    for e in events {
        if let Event::Data(d) = e {
            assert!(
                !d.truncated && d.payload.len() as u64 == d.count,
                "a {:?} of {} bytes was cut to {}",
                d.syscall,
                d.count,
                d.payload.len()
            );
        }
    }
}

fn flow<'a>(flows: &'a [Value], observer: &str, target: &str) -> &'a Value {
    let found: Vec<_> = flows
        .iter()
        .filter(|f| f["observer"] == observer && f["request"]["target"] == target)
        .collect();
    assert_eq!(found.len(), 1, "{observer} {target}: {flows:#?}");
    found[0]
}

#[test]
#[ignore = "needs root and BPF; run via scripts/test.sh"]
fn a_200_kib_download_by_curl_is_whole_at_default_settings() {
    let run = run("truth.py", "download", &[]);
    assert_eq!(run.result["status"], 200);
    let body = String::from_utf8(body_file(&run.result)).expect("text body");
    assert_nothing_uncaptured(&run.events);
    for observer in ["client", "server"] {
        let f = flow(&run.flows, observer, "/file");
        let b = &f["response"]["body"];
        assert_eq!(b["size"], body.len(), "{observer}");
        assert_eq!(b["truncated"], false, "{observer}");
        assert!(b["text"] == body.as_str(), "{observer}: body differs");
        assert!(f["incomplete"].is_null(), "{observer}: {}", f["incomplete"]);
    }
}

#[test]
#[ignore = "needs root and BPF; run via scripts/test.sh"]
fn a_2_mib_upload_read_in_large_reads_is_whole_at_default_settings() {
    let run = run("truth.py", "upload", &[]);
    assert_eq!(run.result["status"], 200);
    let body = body_file(&run.result);
    assert_eq!(run.result["reply"], format!("got {}", body.len()));
    assert_nothing_uncaptured(&run.events);
    // rfile.read(2 MiB) reads straight into one buffer, as large as the socket has.
    let server = flow(&run.flows, "server", "/upload");
    for f in [server, flow(&run.flows, "client", "/upload")] {
        let b = &f["request"]["body"];
        assert_eq!(b["size"], body.len());
        // --max-body (1 MiB) keeps the first mebibyte, byte for byte.
        let kept = b["text"].as_str().expect("text body").as_bytes();
        assert_eq!(kept, &body[..1 << 20]);
        assert_eq!(b["truncated"], true, "2 MiB is past --max-body");
        assert!(f["incomplete"].is_null(), "{}", f["incomplete"]);
    }
}

#[test]
#[ignore = "needs root and BPF; run via scripts/test.sh"]
fn max_payload_at_its_largest_value_loads_and_captures() {
    let largest = flowtap::capture::MAX_PAYLOAD.to_string();
    let run = run("truth.py", "download", &["--max-payload", &largest]);
    let body = String::from_utf8(body_file(&run.result)).expect("text body");
    assert_nothing_uncaptured(&run.events);
    let f = flow(&run.flows, "client", "/file");
    assert!(f["response"]["body"]["text"] == body.as_str());
}

#[test]
#[ignore = "needs root and BPF; run via scripts/test.sh"]
fn a_small_max_payload_counts_the_rest_and_says_truncated() {
    let run = run("truth.py", "download", &["--max-payload", "65536"]);
    let f = flow(&run.flows, "client", "/file");
    assert_eq!(f["response"]["body"]["size"], 200 * 1024);
    assert_eq!(f["response"]["body"]["truncated"], true);
}

/// No data record and no flow holds `tag`: bytes that were never on a socket.
fn assert_no_foreign_bytes(run: &Run, tag: &str) {
    let tag = tag.as_bytes();
    for e in &run.events {
        if let Event::Data(d) = e {
            assert!(
                !d.payload.as_slice().windows(tag.len()).any(|w| w == tag),
                "file bytes recorded as socket data: {d:?}"
            );
        }
    }
    for f in &run.flows {
        assert!(
            !f.to_string()
                .as_bytes()
                .windows(tag.len())
                .any(|w| w == tag),
            "file bytes in a flow: {f}"
        );
    }
}

#[test]
#[ignore = "needs root and BPF; run via scripts/test.sh"]
fn a_file_dup2ed_over_a_socket_fd_is_not_the_socket() {
    let run = run("truth.py", "dup2", &[]);
    let tag = run.result["tag"].as_str().expect("tag").to_string();
    assert_no_foreign_bytes(&run, &tag);
    let before = flow(&run.flows, "client", "/before");
    assert_eq!(
        before["response"]["status"], 200,
        "the socket itself was traced"
    );
}

#[test]
#[ignore = "needs root and BPF; run via scripts/test.sh"]
fn a_close_on_exec_socket_is_gone_after_exec() {
    let _guard = privileged();
    let dir = tempfile::tempdir().expect("tempdir");
    let cat = go_build("firstuse.go", dir.path());
    let mut harness = std::process::Command::new("python3");
    harness
        .arg(crate::support::repo_root().join("tests/programs/truth.py"))
        .arg("exec")
        .env("FT_GO", &cat);
    let run = run_harness(Harness::spawn(harness), &[]);
    let tag = run.result["tag"].as_str().expect("tag").to_string();
    assert_no_foreign_bytes(&run, &tag);
    // After exec, the Go runtime and cat read files at the socket's old number:
    // nothing of theirs is socket data.
    let key = (
        run.result["pid"].as_u64().expect("pid") as u32,
        run.result["fd"].as_i64().expect("fd") as i32,
    );
    for e in &run.events {
        if let Event::Data(d) = e {
            if (d.task.pid, d.fd) == key {
                let p = d.payload.as_slice();
                assert!(
                    p.starts_with(b"GET /before-exec ") || p.starts_with(b"HTTP/1.1 200 OK"),
                    "not the socket's bytes: {d:?}"
                );
            }
        }
    }
    let before = flow(&run.flows, "client", "/before-exec");
    assert_eq!(
        before["response"]["status"], 200,
        "the socket itself was traced"
    );
}

#[test]
#[ignore = "needs root and BPF; run via scripts/test.sh"]
fn two_threads_first_using_a_socket_announce_it_once() {
    let _guard = privileged();
    let dir = tempfile::tempdir().expect("tempdir");
    let bin = go_build("firstuse.go", dir.path());
    let run = run_harness(Harness::spawn(std::process::Command::new(bin)), &[]);
    // Clients and server are threads of the harness process itself.
    let pid = run.result["harness_pid"].as_u64().expect("harness_pid") as u32;
    let sent_each = run.result["sent_each"].as_u64().expect("sent_each");
    for fd in run.result["fds"].as_array().expect("fds") {
        let fd = fd.as_i64().expect("fd") as i32;
        let mut announced = 0;
        let mut sent = Vec::new();
        for e in &run.events {
            match e {
                Event::Socket(s) if (s.task.pid, s.fd) == (pid, fd) => announced += 1,
                Event::Data(d)
                    if (d.task.pid, d.fd) == (pid, fd) && d.direction() == Direction::Send =>
                {
                    assert_eq!(announced, 1, "data on fd {fd} before its announcement");
                    sent.push((d.pos, d.count));
                }
                _ => {}
            }
        }
        assert_eq!(announced, 1, "fd {fd} announced once");
        sent.sort();
        let mut at = 0;
        for (pos, count) in &sent {
            assert_eq!(*pos, at, "fd {fd}: positions overlap or skip: {sent:?}");
            at += count;
        }
        assert_eq!(at, sent_each, "fd {fd}: both threads' bytes, once each");
    }
}

/// Builds a stdlib-only Go program from tests/programs/ (GOPATH mode, as
/// scripts/build-images.sh builds the demo's Go server).
fn go_build(source: &str, dir: &Path) -> std::path::PathBuf {
    let out = dir.join(source.trim_end_matches(".go"));
    let status = std::process::Command::new("go")
        .args(["build", "-o"])
        .arg(&out)
        .arg(
            crate::support::repo_root()
                .join("tests/programs")
                .join(source),
        )
        .env("GO111MODULE", "off")
        .env("CGO_ENABLED", "0")
        .env("GOCACHE", "/tmp/flowtap-gocache")
        .env("GOPATH", "/tmp/flowtap-gopath")
        .status()
        .expect("run go build");
    assert!(status.success(), "go build {source}");
    out
}

/// Checks the file exchanges of a server that sends bodies with sendfile: it did
/// (the trace has sendfile records), and every exchange is right: method, target,
/// status, and a body that is byte for byte the file's; the keep-alive
/// connection's exchanges come in request order.
fn check_file_flows(run: &Run, server_comm: &str) {
    let sendfiles = run
        .events
        .iter()
        .filter(|e| matches!(e, Event::Data(d) if d.syscall == flowtap::event::Syscall::Sendfile))
        .count();
    assert!(sendfiles > 0, "{server_comm} sent bodies with sendfile");
    let files: std::collections::HashMap<String, Vec<u8>> = run.result["files"]
        .as_object()
        .expect("files")
        .iter()
        .map(|(k, v)| {
            let path = v.as_str().expect("path");
            (k.clone(), std::fs::read(path).expect("read served file"))
        })
        .collect();
    let targets = |key: &str| -> Vec<String> {
        run.result[key]
            .as_array()
            .expect("targets")
            .iter()
            .map(|t| t.as_str().expect("target").to_string())
            .collect()
    };
    let (new, keepalive) = (targets("new"), targets("keepalive"));
    for observer in ["client", "server"] {
        let flows: Vec<&Value> = run
            .flows
            .iter()
            .filter(|f| f["observer"] == observer)
            .collect();
        assert_eq!(
            flows.len(),
            new.len() + keepalive.len(),
            "{observer}: {flows:#?}"
        );
        let mut by_conn: std::collections::BTreeMap<u64, Vec<&Value>> = Default::default();
        for f in &flows {
            if observer == "server" {
                assert_eq!(f["process"]["comm"], server_comm);
            }
            assert_eq!(f["request"]["method"], "GET", "{f}");
            assert_eq!(f["response"]["status"], 200, "{f}");
            assert!(f["incomplete"].is_null(), "{f}");
            let target = f["request"]["target"].as_str().expect("target");
            let file = &files[target];
            let body = &f["response"]["body"];
            assert_eq!(body["size"], file.len(), "{observer} {target}: {body}");
            // The server's bodies went out with sendfile and were read back from
            // the file, which is still there and unchanged.
            assert_eq!(body["truncated"], false, "{observer} {target}: {body}");
            assert!(
                body["text"].as_str().map(str::as_bytes) == Some(file.as_slice()),
                "{observer} {target}: the body is not the file"
            );
            by_conn
                .entry(f["src"]["port"].as_u64().expect("client port"))
                .or_default()
                .push(f);
        }
        let mut orders: Vec<Vec<String>> = by_conn
            .values()
            .map(|fs| {
                fs.iter()
                    .map(|f| f["request"]["target"].as_str().unwrap_or("").to_string())
                    .collect()
            })
            .collect();
        orders.sort();
        let mut want: Vec<Vec<String>> = new.iter().map(|t| vec![t.clone()]).collect();
        want.push(keepalive.clone());
        want.sort();
        assert_eq!(
            orders, want,
            "{observer}: exchanges per connection, in order"
        );
    }
}

#[test]
#[ignore = "needs root, BPF and nginx; run via scripts/test.sh"]
fn nginx_with_sendfile_on_frames_every_exchange() {
    let run = run("truth.py", "nginx", &[]);
    check_file_flows(&run, "nginx");
}

#[test]
#[ignore = "needs root, BPF and Go; run via scripts/test.sh"]
fn go_file_server_frames_every_exchange() {
    let _guard = privileged();
    let dir = tempfile::tempdir().expect("tempdir");
    let server = go_build("firstuse.go", dir.path());
    let mut harness = std::process::Command::new("python3");
    harness
        .arg(crate::support::repo_root().join("tests/programs/truth.py"))
        .arg("gofiles")
        .env("FT_GO", &server);
    // flowtap is stopped while the scenario runs, so the server has exited
    // before a single sendfile record is read: its files are found all the same.
    let run = run_harness_with(Harness::spawn(harness), &[], |live, harness| {
        live.pause();
        let result = harness.go();
        live.resume();
        result
    });
    check_file_flows(&run, "firstuse");
}

#[test]
#[ignore = "needs root and BPF; run via scripts/test.sh"]
fn a_sendfile_body_is_read_back_only_from_the_unchanged_file() {
    let run = run("truth.py", "filegone", &[]);
    let read =
        |key: &str, target: &str| std::fs::read(run.result[key][target].as_str().expect("path"));
    let sendfiles: Vec<_> = run
        .events
        .iter()
        .filter_map(|e| match e {
            Event::Data(d) if d.syscall == flowtap::event::Syscall::Sendfile => Some(d),
            _ => None,
        })
        .collect();
    assert!(sendfiles.len() >= 4, "the server sent with sendfile");
    for target in [
        "/same.txt",
        "/deleted.txt",
        "/replaced.txt",
        "/renamed-over.txt",
        "/rewritten.txt",
    ] {
        let sent = read("sent", target).expect("the bytes sent");
        // The client read the bytes itself: its body is whole whatever happened.
        // (Not compared for the rewritten file: TCP sendfile hands the page cache
        // to the socket, so a rewrite right after the call can reach the wire.)
        let client = &flow(&run.flows, "client", target)["response"]["body"];
        assert_eq!(client["truncated"], false, "{target}");
        assert_eq!(client["size"], sent.len(), "{target}");
        if target != "/rewritten.txt" {
            assert!(
                client["text"].as_str().map(str::as_bytes) == Some(sent.as_slice()),
                "{target}: the client's body is what was sent"
            );
        }
        let server = &flow(&run.flows, "server", target)["response"]["body"];
        assert_eq!(server["size"], sent.len(), "{target}");
        let text = server["text"].as_str().unwrap_or("").as_bytes();
        match target {
            "/same.txt" => {
                assert_eq!(server["truncated"], false, "{target}");
                assert!(text == sent.as_slice(), "{target}: the body is the file");
            }
            "/deleted.txt" | "/replaced.txt" | "/renamed-over.txt" => {
                // The path no longer names the inode that was sent from.
                assert_eq!(server["truncated"], true, "{target}");
                assert!(text.is_empty(), "{target}: no bytes from another file");
            }
            _ => {
                // Rewritten in place after the send: read back before the rewrite
                // (then it is what the file held at the call) or refused for its
                // new mtime, never the new bytes.
                let now = read("now", target).expect("the file now");
                assert_ne!(now, sent);
                if server["truncated"] == false {
                    assert!(text == sent.as_slice(), "{target}: the bytes at the call");
                } else {
                    assert!(text.is_empty(), "{target}: nothing read from the new file");
                }
            }
        }
    }
    // The bytes read back are in the trace: replay needs no file, and gives the
    // live run's flows once every file is gone.
    for dir in ["sent", "now"] {
        for path in run.result[dir].as_object().expect("paths").values() {
            let _ = std::fs::remove_file(path.as_str().expect("path"));
        }
    }
    let replayed: Vec<Value> = crate::support::replay(&run.trace, &[])
        .lines()
        .map(|l| serde_json::from_str(l).expect("flow is JSON"))
        .collect();
    assert!(replayed == run.flows, "replay gives the live run's flows");
}

#[test]
#[ignore = "needs root, BPF and Go; run via scripts/test.sh"]
fn io_uring_set_up_by_a_traced_process_is_said_once_and_counted() {
    let _guard = privileged();
    let dir = tempfile::tempdir().expect("tempdir");
    let go = go_build("firstuse.go", dir.path());
    let mut harness = std::process::Command::new("python3");
    harness
        .arg(crate::support::repo_root().join("tests/programs/truth.py"))
        .arg("uring")
        .env("FT_GO", &go);
    let harness = Harness::spawn(harness);
    let pid = harness.pid().to_string();
    let live = LiveCapture::start(&["capture", "--pid", &pid, "-o", "/dev/null"]);
    harness.go();
    let (status, stderr) = live.stop();
    assert!(status.success(), "{stderr}");
    assert_eq!(
        stderr.matches("set up io_uring").count(),
        1,
        "one line: {stderr}"
    );
    assert!(
        stderr.contains("1 io_uring instances unseen"),
        "counted in the summary: {stderr}"
    );
}

#[test]
#[ignore = "needs root, BPF and Go; run via scripts/test.sh"]
fn sendmmsg_and_recvmmsg_carry_their_payloads() {
    let _guard = privileged();
    let dir = tempfile::tempdir().expect("tempdir");
    let go = go_build("firstuse.go", dir.path());
    let mut harness = std::process::Command::new("python3");
    harness
        .arg(crate::support::repo_root().join("tests/programs/truth.py"))
        .arg("mmsg")
        .env("FT_GO", &go);
    let run = run_harness(Harness::spawn(harness), &[]);
    let mut sent = Vec::new();
    let mut received = Vec::new();
    for e in &run.events {
        if let Event::Data(d) = e {
            if d.task.comm != "firstuse" {
                continue;
            }
            match d.syscall {
                flowtap::event::Syscall::Sendmmsg => sent.push(d),
                flowtap::event::Syscall::Recvmmsg => received.push(d),
                _ => {}
            }
        }
    }
    let bytes = |ds: &[&flowtap::event::Data]| -> Vec<u8> {
        ds.iter()
            .flat_map(|d| d.payload.as_slice().to_vec())
            .collect()
    };
    assert_eq!(sent.len(), 2, "one record per message");
    assert_eq!(bytes(&sent), b"GET /mmsg HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(
        bytes(&received),
        b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
    );
    let f = flow(&run.flows, "client", "/mmsg");
    assert_eq!(f["response"]["status"], 200);
}

/// The iovecs of one writev or sendmsg are gathered into records of up to a
/// kernel chunk (16 KiB), not one record per iovec, and never across calls:
/// nginx's head and body, one writev, are one record. The bytes are exactly
/// what was sent, and both pipelined responses parse.
#[test]
#[ignore = "needs root and BPF; run via scripts/test.sh"]
fn the_iovecs_of_one_call_share_records_of_up_to_a_chunk() {
    let run = run("truth.py", "writev", &[]);
    let iovecs: Vec<u64> = run.result["iovecs"]
        .as_array()
        .expect("iovecs")
        .iter()
        .map(|v| v.as_u64().expect("length"))
        .collect();
    let total: u64 = iovecs.iter().sum();
    assert_eq!(
        run.result["sent"].as_u64(),
        Some(total),
        "one writev sent it all"
    );
    let of = |syscall: flowtap::event::Syscall| -> Vec<&flowtap::event::Data> {
        run.events
            .iter()
            .filter_map(|e| match e {
                Event::Data(d) if d.syscall == syscall => Some(d),
                _ => None,
            })
            .collect()
    };
    let writev = of(flowtap::event::Syscall::Writev);
    let counts: Vec<u64> = writev.iter().map(|d| d.count).collect();
    assert_eq!(counts, [16 << 10, total - (16 << 10)], "{iovecs:?}");
    let sendmsg = of(flowtap::event::Syscall::Sendmsg);
    let payloads: Vec<&[u8]> = sendmsg.iter().map(|d| d.payload.as_slice()).collect();
    assert_eq!(
        payloads,
        [
            &b"GET /one HTTP/1.1\r\nHost: x\r\n\r\n"[..],
            &b"GET /two HTTP/1.1\r\nHost: x\r\n\r\n"[..],
        ],
        "one record per call"
    );
    for d in writev.iter().chain(&sendmsg) {
        assert!(!d.truncated && d.payload.len() as u64 == d.count, "{d:?}");
    }
    for observer in ["client", "server"] {
        let one = flow(&run.flows, observer, "/one");
        assert_eq!(one["response"]["body"]["text"], run.result["body"], "{one}");
        let two = flow(&run.flows, observer, "/two");
        assert_eq!(two["response"]["body"]["text"], "ok", "{two}");
    }
}

#[test]
#[ignore = "needs root and BPF; run via scripts/test.sh"]
fn capture_joining_busy_keep_alive_connections_captures_every_later_exchange() {
    let run = run("truth.py", "midstream", &[]);
    let last: Vec<u64> = run.result["last"]
        .as_array()
        .expect("last")
        .iter()
        .map(|v| v.as_u64().expect("index"))
        .collect();
    for observer in ["client", "server"] {
        for (k, last) in last.iter().enumerate() {
            let prefix = format!("/c{k}/");
            let mut seen: Vec<(u64, bool)> = Vec::new();
            for f in run.flows.iter().filter(|f| f["observer"] == observer) {
                let target = f["request"]["target"].as_str().unwrap_or("");
                let Some(rest) = target.strip_prefix(&prefix) else {
                    continue;
                };
                let get = rest.ends_with("/g");
                let i: u64 = rest.trim_end_matches("/g").parse().expect("index");
                let want = if get {
                    format!("got:{target}")
                } else {
                    format!("echo:body-{k}-{i}")
                };
                assert_eq!(
                    f["response"]["body"]["text"], want,
                    "{observer}: mispaired or lost: {f}"
                );
                assert!(f["incomplete"].is_null(), "{observer}: {f}");
                seen.push((i, get));
            }
            seen.sort();
            let Some(&(first, first_get)) = seen.first() else {
                panic!("{observer}: nothing of client {k}");
            };
            // From the first exchange seen whole on, every one is there.
            let mut want: Vec<(u64, bool)> = (first..=*last)
                .flat_map(|i| [(i, false), (i, true)])
                .collect();
            if first_get {
                want.remove(0); // capture joined during that POST
            }
            assert_eq!(seen, want, "{observer}, client {k}");
            assert!(seen.len() > 4, "{observer}, client {k}: a real series");
        }
    }
}

/// nginx in a container (files on its overlayfs root, paths below that root):
/// its sendfile bodies are read back through /proc/PID/root and are the files.
#[test]
#[ignore = "needs root, BPF, Docker and nginx; run via scripts/test.sh"]
fn nginx_in_a_container_sendfile_bodies_are_read_through_its_root() {
    use crate::docker::{docker, unique, Cleanup, IMAGE};
    let _guard = privileged();
    crate::support::build_images();
    let mut cleanup = Cleanup::default();
    let name = unique("sendfile");
    cleanup.containers.push(name.clone());
    docker(&[
        "run",
        "-d",
        "--name",
        &name,
        "-v",
        "/usr:/usr:ro",
        IMAGE,
        "/usr/bin/sleep",
        "300",
    ]);
    let setup = "mkdir -p /srv/www /srv/tmp \
        && head -c 153600 /dev/urandom | base64 -w 76 > /srv/www/big.txt \
        && head -c 1024 /srv/www/big.txt > /srv/www/small.txt \
        && printf 'daemon on; master_process off; worker_processes 1; error_log stderr; \
pid /srv/nginx.pid; events { worker_connections 64; } http { sendfile on; \
access_log off; client_body_temp_path /srv/tmp; proxy_temp_path /srv/tmp; \
fastcgi_temp_path /srv/tmp; uwsgi_temp_path /srv/tmp; scgi_temp_path /srv/tmp; \
server { listen 127.0.0.1:8080; root /srv/www; } }' > /srv/nginx.conf \
        && nginx -c /srv/nginx.conf -p /srv";
    docker(&["exec", &name, "sh", "-c", setup]);
    let dir = tempfile::tempdir().expect("tempdir");
    let flows_path = dir.path().join("flows.jsonl");
    let live = LiveCapture::start(&[
        "capture",
        "--container",
        &name,
        "-o",
        flows_path.to_str().expect("utf-8"),
    ]);
    let url = |t: &str| format!("http://127.0.0.1:8080{t}");
    let (small, big) = (url("/small.txt"), url("/big.txt"));
    for u in [&small, &big] {
        docker(&["exec", &name, "curl", "-sS", "-o", "/dev/null", u]);
    }
    docker(&[
        "exec",
        &name,
        "curl",
        "-sS",
        "-o",
        "/dev/null",
        &big,
        "-o",
        "/dev/null",
        &small,
        "-o",
        "/dev/null",
        &big,
    ]);
    let (status, stderr) = live.stop();
    assert!(
        status.success() && stderr.contains("0 events lost"),
        "{stderr}"
    );
    let flows = read_flows(&flows_path);
    let server: Vec<&Value> = flows.iter().filter(|f| f["observer"] == "server").collect();
    assert_eq!(server.len(), 5, "{stderr}");
    for f in server {
        let target = f["request"]["target"].as_str().expect("target");
        let file = docker(&["exec", &name, "cat", &format!("/srv/www{target}")]);
        let body = &f["response"]["body"];
        assert_eq!(f["process"]["comm"], "nginx");
        assert!(f["incomplete"].is_null(), "{target}: {}", f["incomplete"]);
        assert_eq!(body["truncated"], false, "{target}");
        // docker() trims the output: compare without the final newline.
        assert_eq!(
            body["text"].as_str().map(str::trim_end),
            Some(file.as_str()),
            "{target}"
        );
    }
}
