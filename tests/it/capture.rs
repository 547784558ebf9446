//! Live kernel capture (root): real processes on loopback, recorded with
//! `flowtap capture --pid … --record`, and the trace checked event by event.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::path::Path;
use std::process::Command;

use flowtap::event::{Data, Direction, Event, Syscall};
use serde_json::Value;

use crate::support::{
    build_images, flowtap_bin, privileged, python_container, read_trace, Harness, LiveCapture,
};

type SocketKey = (u32, i32);

/// Runs a harness scenario under `flowtap capture --pid` and returns what the
/// harness did and the recorded trace.
fn capture(scenario: &str, flags: &[&str]) -> (Value, Vec<Event>) {
    let _guard = privileged();
    run_capture(scenario, flags, &[])
}

fn run_capture(scenario: &str, flags: &[&str], capture_flags: &[&str]) -> (Value, Vec<Event>) {
    run_capture_with_env(scenario, flags, capture_flags, &[])
}

fn run_capture_with_env(
    scenario: &str,
    flags: &[&str],
    capture_flags: &[&str],
    env: &[(&str, &str)],
) -> (Value, Vec<Event>) {
    let dir = tempfile::tempdir().expect("tempdir");
    let trace = dir.path().join("trace.jsonl");
    Harness::start(scenario, flags).record_with_env(&trace, capture_flags, env)
}

fn port(v: &Value, key: &str) -> u16 {
    v[key]
        .as_u64()
        .unwrap_or_else(|| panic!("harness result has no {key}: {v}")) as u16
}

/// The socket that accepted the client's connection, checked against both views.
fn accepted(events: &[Event], client_port: u16, server_port: u16) -> SocketKey {
    let accept = events
        .iter()
        .find_map(|e| match e {
            Event::Accept(a) if a.peer.map(|p| p.port()) == Some(client_port) => Some(a),
            _ => None,
        })
        .unwrap_or_else(|| panic!("no accept from client port {client_port}"));
    let sock = accept.sock.expect("accept carries the kernel's view");
    assert_eq!(sock.local.map(|a| a.port()), Some(server_port));
    assert_eq!(sock.peer, accept.peer);
    (accept.task.pid, accept.fd)
}

fn connected(events: &[Event], server: SocketAddr) -> SocketKey {
    let connect = events
        .iter()
        .find_map(|e| match e {
            Event::Connect(c) if c.peer == Some(server) => Some(c),
            _ => None,
        })
        .unwrap_or_else(|| panic!("no connect to {server}"));
    assert!(
        connect.is_pending_or_ok(),
        "connect failed: {}",
        connect.result
    );
    (connect.task.pid, connect.fd)
}

fn getsockname(events: &[Event], key: SocketKey) -> Option<SocketAddr> {
    events.iter().find_map(|e| match e {
        Event::Getsockname(g) if (g.task.pid, g.fd) == key => Some(g.local),
        _ => None,
    })
}

fn closed(events: &[Event], key: SocketKey) -> bool {
    events
        .iter()
        .any(|e| matches!(e, Event::Close(c) if (c.task.pid, c.fd) == key))
}

fn data(events: &[Event], key: SocketKey, dir: Direction) -> Vec<&Data> {
    let mut out: Vec<&Data> = events
        .iter()
        .filter_map(|e| match e {
            Event::Data(d) if (d.task.pid, d.fd) == key && d.direction() == dir => Some(d),
            _ => None,
        })
        .collect();
    out.sort_by_key(|d| d.pos);
    out
}

/// The bytes of one direction, checking that positions run without a gap and
/// that nothing was truncated.
fn stream(events: &[Event], key: SocketKey, dir: Direction) -> Vec<u8> {
    let mut bytes = Vec::new();
    for d in data(events, key, dir) {
        assert_eq!(
            d.pos,
            bytes.len() as u64,
            "gap or overlap in {dir:?} of {key:?}"
        );
        assert!(
            !d.truncated && d.payload.len() as u64 == d.count,
            "unexpected truncation"
        );
        bytes.extend_from_slice(d.payload.as_slice());
    }
    bytes
}

fn body(result: &Value) -> Vec<u8> {
    std::fs::read(result["body_file"].as_str().expect("body_file")).expect("read body")
}

/// Checks one request/response exchange end to end and returns the two sockets.
fn check_exchange(
    result: &Value,
    events: &[Event],
    host: &str,
    reply_prefix: &[u8],
) -> (SocketKey, SocketKey) {
    let (client_port, server_port) = (port(result, "client_port"), port(result, "server_port"));
    let server_addr: SocketAddr = format!("{host}:{server_port}").parse().expect("addr");
    let server = accepted(events, client_port, server_port);
    let client = connected(events, server_addr);

    let request = stream(events, client, Direction::Send);
    let body = body(result);
    assert!(
        request.ends_with(&body),
        "the client's request does not end with its body"
    );
    assert_eq!(
        stream(events, server, Direction::Recv),
        request,
        "server received other bytes"
    );
    let response = stream(events, server, Direction::Send);
    let mut expected_tail = reply_prefix.to_vec();
    expected_tail.extend_from_slice(&body);
    assert!(
        response.ends_with(&expected_tail),
        "the response does not echo the body"
    );
    assert_eq!(
        stream(events, client, Direction::Recv),
        response,
        "client received other bytes"
    );
    assert!(
        closed(events, server) && closed(events, client),
        "both sockets are closed"
    );
    assert_eq!(
        getsockname(events, client).map(|a| a.port()),
        Some(client_port),
        "client getsockname"
    );
    (client, server)
}

#[test]
#[ignore = "needs root and BPF; run via scripts/test.sh"]
fn python_client_and_server() {
    let (result, events) = capture("python", &[]);
    assert!(
        matches!(events.first(), Some(Event::Clock { .. })),
        "a trace starts with the clock"
    );
    assert!(
        matches!(events.last(), Some(Event::Loss { lost: 0, .. })),
        "and ends with the loss count"
    );
    let (_, server) = check_exchange(&result, &events, "127.0.0.1", b"echo:");
    let local = getsockname(&events, server).expect("http.server calls getsockname after accept4");
    assert_eq!(
        local,
        format!("127.0.0.1:{}", port(&result, "server_port"))
            .parse()
            .unwrap()
    );
}

#[test]
#[ignore = "needs root and BPF; run via scripts/test.sh"]
fn curl_client() {
    let (result, events) = capture("curl", &[]);
    assert_eq!(result["status"], 200);
    let (client, _) = check_exchange(&result, &events, "127.0.0.1", b"echo:");
    let comm = events.iter().find_map(|e| match e {
        Event::Connect(c) if (c.task.pid, c.fd) == client => Some(c.task.comm.clone()),
        _ => None,
    });
    assert_eq!(comm.as_deref(), Some("curl"));
}

/// Before Linux 6.2 there is no bpf_rdonly_cast, and the programs read the
/// kernel's structs with a helper call per field instead of plain loads
/// (bpf/tcpsock.bpf.h). That path must load and see the same bytes.
#[test]
#[ignore = "needs root and BPF; run via scripts/test.sh"]
fn without_typed_casts_the_programs_load_and_see_the_same_bytes() {
    let _guard = privileged();
    let pretend = [("FLOWTAP_PRETEND_MISSING", "bpf_rdonly_cast")];
    let (result, events) = run_capture_with_env("curl", &[], &[], &pretend);
    assert_eq!(result["status"], 200);
    check_exchange(&result, &events, "127.0.0.1", b"echo:");
}

#[test]
#[ignore = "needs root and BPF; run via scripts/test.sh"]
fn vectored_and_msg_syscalls() {
    let (result, events) = capture("raw", &[]);
    let (client, server) = check_exchange(&result, &events, "127.0.0.1", b"raw-reply:");
    let syscalls = |key, dir| {
        data(&events, key, dir)
            .iter()
            .map(|d| d.syscall)
            .collect::<HashSet<_>>()
    };
    assert_eq!(
        syscalls(client, Direction::Send),
        HashSet::from([Syscall::Writev])
    );
    assert_eq!(
        syscalls(server, Direction::Recv),
        HashSet::from([Syscall::Readv])
    );
    assert_eq!(
        syscalls(server, Direction::Send),
        HashSet::from([Syscall::Sendmsg])
    );
    assert_eq!(
        syscalls(client, Direction::Recv),
        HashSet::from([Syscall::Recvmsg])
    );
}

#[test]
#[ignore = "needs root and BPF; run via scripts/test.sh"]
fn ipv6_loopback() {
    let (result, events) = capture("python", &["--ipv6"]);
    let (client, _) = check_exchange(&result, &events, "[::1]", b"echo:");
    assert!(getsockname(&events, client).is_some_and(|a| a.is_ipv6()));
}

#[test]
#[ignore = "needs root and BPF; run via scripts/test.sh"]
fn v4_mapped_peer_is_reported_as_v4() {
    // The server listens on "::" (dual stack); the client comes over IPv4.
    let (result, events) = capture("python", &["--dual-stack"]);
    let server = accepted(
        &events,
        port(&result, "client_port"),
        port(&result, "server_port"),
    );
    let accept_peer = events.iter().find_map(|e| match e {
        Event::Accept(a) if (a.task.pid, a.fd) == server => a.peer,
        _ => None,
    });
    assert_eq!(
        accept_peer,
        Some(
            format!("127.0.0.1:{}", port(&result, "client_port"))
                .parse()
                .unwrap()
        )
    );
}

#[test]
#[ignore = "needs root and BPF; run via scripts/test.sh"]
fn one_mebibyte_write_counts_exactly_and_marks_truncation() {
    let _guard = privileged();
    let (result, events) = run_capture("big", &[], &["--max-payload", "65536"]);
    const MIB: u64 = 1 << 20;
    const CAP: u64 = 64 * 1024;
    assert_eq!(result["written"], MIB);
    let body = body(&result);
    let client = connected(
        &events,
        format!("127.0.0.1:{}", port(&result, "server_port"))
            .parse()
            .unwrap(),
    );
    let sent = data(&events, client, Direction::Send);
    assert_eq!(
        sent.iter().map(|d| d.count).sum::<u64>(),
        MIB,
        "counts add up to the write"
    );
    let mut pos = 0;
    for d in &sent {
        assert_eq!(d.pos, pos, "positions are contiguous");
        let captured = d.payload.as_slice();
        assert_eq!(
            captured,
            &body[pos as usize..pos as usize + captured.len()],
            "captured bytes are exact"
        );
        assert_eq!(d.truncated, (captured.len() as u64) < d.count);
        pos += d.count;
    }
    let captured: u64 = sent.iter().map(|d| d.payload.len() as u64).sum();
    assert_eq!(
        captured, CAP,
        "exactly the cap was copied from the one write"
    );
    let tail = sent.last().expect("events");
    assert!(
        tail.truncated && tail.pos == CAP && tail.count == MIB - CAP,
        "truncation is marked at the cap"
    );

    // The server's reads, whatever their sizes, add up and are exact where copied.
    let server = accepted(
        &events,
        client_local_port(&events, client),
        port(&result, "server_port"),
    );
    let received = data(&events, server, Direction::Recv);
    assert_eq!(received.iter().map(|d| d.count).sum::<u64>(), MIB);
    for d in received {
        let p = d.pos as usize;
        assert_eq!(d.payload.as_slice(), &body[p..p + d.payload.len()]);
    }
}

fn client_local_port(events: &[Event], client: SocketKey) -> u16 {
    events
        .iter()
        .find_map(|e| match e {
            Event::Connect(c) if (c.task.pid, c.fd) == client => c.sock.and_then(|s| s.local),
            _ => None,
        })
        .expect("connect carries the kernel's local address")
        .port()
}

#[test]
#[ignore = "needs root and BPF; run via scripts/test.sh"]
fn files_pipes_unix_and_udp_produce_no_data_events() {
    let (result, events) = capture("noise", &[]);
    let tag = result["tag"].as_str().expect("tag").as_bytes().to_vec();
    let tcp: HashSet<SocketKey> = events
        .iter()
        .filter_map(|e| match e {
            Event::Accept(a) => Some((a.task.pid, a.fd)),
            Event::Connect(c) => Some((c.task.pid, c.fd)),
            Event::Socket(s) => Some((s.task.pid, s.fd)),
            _ => None,
        })
        .collect();
    let mut tcp_payload = false;
    for e in &events {
        if let Event::Data(d) = e {
            assert!(
                tcp.contains(&(d.task.pid, d.fd)),
                "data on a non-TCP fd: {d:?}"
            );
            assert!(
                !d.payload.as_slice().windows(tag.len()).any(|w| w == tag),
                "non-TCP I/O leaked: {d:?}"
            );
            tcp_payload |= d.payload.as_slice() == b"TCP-HELLO";
        }
    }
    assert!(tcp_payload, "the TCP message itself was captured");
}

/// Where tracefs can be mounted: flowtap's own mount point and debugfs's.
const TRACEFS_DIRS: [&str; 2] = ["/sys/kernel/tracing", "/sys/kernel/debug/tracing"];

/// The tracefs lines of a mount table.
fn tracefs_mounts(mountinfo: &str) -> Vec<String> {
    mountinfo
        .lines()
        .filter(|l| l.contains(" - tracefs "))
        .map(str::to_string)
        .collect()
}

fn own_tracefs_mounts() -> Vec<String> {
    tracefs_mounts(&std::fs::read_to_string("/proc/thread-self/mountinfo").expect("mountinfo"))
}

fn host_tracefs_mounts() -> Vec<String> {
    tracefs_mounts(&std::fs::read_to_string("/proc/1/mountinfo").expect("pid 1 mountinfo"))
}

/// Runs `f` on a thread of its own in a private mount namespace without tracefs:
/// a fresh machine as flowtap sees it, while the host's mounts stay as they are.
/// Processes the thread starts inherit the namespace.
fn without_tracefs<T: Send>(f: impl FnOnce() -> T + Send) -> T {
    std::thread::scope(|scope| {
        scope
            .spawn(|| {
                // SAFETY: plain syscalls on NUL-terminated literals; they affect
                // only this thread, which the scope ends.
                unsafe {
                    assert_eq!(libc::unshare(libc::CLONE_NEWNS), 0, "unshare -m");
                    assert_eq!(
                        libc::mount(
                            std::ptr::null(),
                            c"/".as_ptr(),
                            std::ptr::null(),
                            libc::MS_REC | libc::MS_PRIVATE,
                            std::ptr::null(),
                        ),
                        0,
                        "make the namespace private"
                    );
                }
                for dir in TRACEFS_DIRS {
                    while Path::new(dir).join("events").exists() {
                        let status = Command::new("umount").arg(dir).status().expect("umount");
                        assert!(status.success(), "umount {dir} in the private namespace");
                    }
                }
                assert!(own_tracefs_mounts().is_empty());
                f()
            })
            .join()
            .expect("the private-namespace thread")
    })
}

#[test]
#[ignore = "needs root and BPF; run via scripts/test.sh"]
fn attaches_without_tracefs_and_leaves_the_mounts_as_they_were() {
    let _guard = privileged();
    let host_before = host_tracefs_mounts();
    let (left_behind, (result, events)) = without_tracefs(|| {
        let captured = run_capture("python", &[], &[]);
        (own_tracefs_mounts(), captured)
    });
    check_exchange(&result, &events, "127.0.0.1", b"echo:");
    assert_eq!(
        left_behind,
        Vec::<String>::new(),
        "flowtap mounted tracefs where its caller can see it"
    );
    assert_eq!(
        host_tracefs_mounts(),
        host_before,
        "the host's mounts changed"
    );
}

#[test]
#[ignore = "needs root and BPF; run via scripts/test.sh"]
fn interleaved_captures_all_attach() {
    let _guard = privileged();
    let mut traced = Command::new("sleep").arg("60").spawn().expect("sleep");
    let pid = traced.id().to_string();
    let outcomes = without_tracefs(|| {
        // Each starts while the one before is attaching, running or stopping.
        let captures: Vec<_> = (0..8)
            .map(|i| {
                let child = Command::new(flowtap_bin())
                    .args(["capture", "--pid", &pid, "-o", "/dev/null", "--duration"])
                    .arg(if i % 2 == 0 { "1" } else { "0.3" })
                    .stdout(std::process::Stdio::null())
                    .stderr(std::process::Stdio::piped())
                    .spawn()
                    .expect("spawn flowtap");
                std::thread::sleep(std::time::Duration::from_millis(150));
                child
            })
            .collect();
        let outcomes: Vec<_> = captures
            .into_iter()
            .map(|c| c.wait_with_output().expect("wait for flowtap"))
            .collect();
        (outcomes, own_tracefs_mounts())
    });
    let _ = traced.kill();
    let _ = traced.wait();
    let (outcomes, left_behind) = outcomes;
    for (i, out) in outcomes.iter().enumerate() {
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "capture {i} failed: {stderr}");
        assert!(
            stderr.contains("ready"),
            "capture {i} never attached: {stderr}"
        );
    }
    assert!(left_behind.is_empty(), "{left_behind:?}");
}

#[test]
#[ignore = "needs root (to drop to another user); run via scripts/test.sh"]
fn without_privileges_says_what_is_needed() {
    let out = Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups", "--"])
        .arg(flowtap_bin())
        .args(["capture", "--all-processes", "--duration", "1"])
        .output()
        .expect("run setpriv");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "stderr: {stderr}");
    assert_eq!(
        stderr.lines().count(),
        1,
        "one sentence, no backtrace or libbpf log: {stderr}"
    );
    assert!(
        stderr.contains("needs root") && stderr.contains("CAP_BPF"),
        "{stderr}"
    );
    assert!(!stderr.contains("panicked"));
}

#[test]
#[ignore = "needs root and BPF; run via scripts/test.sh"]
fn connection_open_before_capture_is_captured_from_its_next_syscall() {
    let (result, events) = capture("preopen", &[]);
    assert_eq!(result["status"], 200);
    let server_port = port(&result, "server_port");
    // Both ends are announced by the kernel's view when first used, with addresses.
    let ends: Vec<_> = events
        .iter()
        .filter_map(|e| match e {
            Event::Socket(s) if s.sock.peer.is_some() => Some(s),
            _ => None,
        })
        .collect();
    let client = ends
        .iter()
        .find(|s| s.sock.peer.map(|p| p.port()) == Some(server_port))
        .expect("client end");
    let server = ends
        .iter()
        .find(|s| s.sock.local.map(|l| l.port()) == Some(server_port))
        .expect("server end");
    assert_eq!(client.sock.local, server.sock.peer);
    let request = stream(&events, (client.task.pid, client.fd), Direction::Send);
    assert!(
        request.starts_with(b"GET /after HTTP/1.1\r\n"),
        "only the request made after start"
    );
    assert_eq!(
        stream(&events, (server.task.pid, server.fd), Direction::Recv),
        request
    );
}

/// A fresh cgroup v2 directory, removed on drop once its processes are gone.
struct TestCgroup(std::path::PathBuf);

impl TestCgroup {
    fn new() -> TestCgroup {
        let unified = Path::new("/sys/fs/cgroup/unified");
        let root = if unified.join("cgroup.procs").exists() {
            unified
        } else {
            Path::new("/sys/fs/cgroup")
        };
        let dir = root.join(format!("flowtap-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("create a cgroup");
        TestCgroup(dir)
    }

    fn add(&self, pid: u32) {
        std::fs::write(self.0.join("cgroup.procs"), pid.to_string())
            .expect("move a process into the cgroup");
    }

    fn id(&self) -> u64 {
        use std::os::unix::fs::MetadataExt;
        std::fs::metadata(&self.0).expect("stat cgroup").ino()
    }
}

impl Drop for TestCgroup {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir(&self.0);
    }
}

#[test]
#[ignore = "needs root and BPF; run via scripts/test.sh"]
fn cgroup_filter_traces_only_that_cgroup() {
    let _guard = privileged();
    let cgroup = TestCgroup::new();
    let dir = tempfile::tempdir().expect("tempdir");
    let trace = dir.path().join("trace.jsonl");
    let harness = Harness::start("python", &[]);
    cgroup.add(harness.pid());
    let cgroup_arg = cgroup.0.to_str().expect("utf-8 path").to_string();
    let live = LiveCapture::start(&[
        "capture",
        "--cgroup",
        &cgroup_arg,
        "--record",
        trace.to_str().unwrap(),
    ]);
    // A connection from outside the cgroup, made during the capture, must not appear.
    let outsider = Command::new("curl")
        .args(["-s", "http://127.0.0.1:9/"])
        .spawn()
        .expect("spawn curl");
    let outsider_pid = outsider.id();
    let result = harness.go();
    let _ = outsider.wait_with_output();
    let (status, stderr) = live.stop();
    assert!(status.success(), "{stderr}");
    let events = read_trace(&trace);
    check_exchange(&result, &events, "127.0.0.1", b"echo:");
    for e in &events {
        let Some(task) = e.task() else { continue };
        assert_eq!(
            task.cgroup,
            cgroup.id(),
            "event from outside the cgroup: {e:?}"
        );
        assert_ne!(task.pid, outsider_pid);
    }
}

#[test]
#[ignore = "needs root and BPF; run via scripts/test.sh"]
fn without_docker_containers_are_an_error_and_processes_a_warning() {
    let _guard = privileged();
    let run = |args: &[&str]| {
        Command::new(flowtap_bin())
            .args(args)
            .env("DOCKER_HOST", "unix:///nonexistent/docker.sock")
            .output()
            .expect("run flowtap")
    };
    for args in [
        &["capture", "--duration", "1"][..],
        &[
            "capture",
            "--all-processes",
            "--container",
            "x",
            "--duration",
            "1",
        ],
    ] {
        let out = run(args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {stderr}");
        assert_eq!(stderr.lines().count(), 1, "{stderr}");
        assert!(
            stderr.contains("need") && stderr.contains("Docker"),
            "{stderr}"
        );
    }
    let out = run(&[
        "capture",
        "--all-processes",
        "--duration",
        "1",
        "-o",
        "/dev/null",
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr
            .lines()
            .next()
            .is_some_and(|l| l.contains("warning") && l.contains("Docker")),
        "{stderr}"
    );
    assert!(
        stderr.contains("ready") && stderr.contains("flows written"),
        "{stderr}"
    );
}

/// The cgroup v2 id of this test process (the harness runs in the same cgroup).
fn own_cgroup_id() -> u64 {
    use std::os::unix::fs::MetadataExt;
    let text = std::fs::read_to_string("/proc/self/cgroup").expect("/proc/self/cgroup");
    let path = text
        .lines()
        .find_map(|l| l.strip_prefix("0::"))
        .expect("a cgroup v2 line");
    let unified = Path::new("/sys/fs/cgroup/unified");
    let root = if unified.join("cgroup.procs").exists() {
        unified
    } else {
        Path::new("/sys/fs/cgroup")
    };
    std::fs::metadata(root.join(path.trim_start_matches('/')))
        .expect("stat own cgroup")
        .ino()
}

#[test]
#[ignore = "needs root, BPF and Docker; run via scripts/test.sh"]
fn process_scopes_leave_containers_alone() {
    let _guard = privileged();
    build_images();
    // A container busy with loopback HTTP for the whole capture.
    const BUSY: &str = "import http.server, threading, urllib.request, time\n\
        s = http.server.HTTPServer(('127.0.0.1', 8080), http.server.SimpleHTTPRequestHandler)\n\
        threading.Thread(target=s.serve_forever, daemon=True).start()\n\
        end = time.time() + 20\n\
        while time.time() < end:\n\
        \x20   urllib.request.urlopen('http://127.0.0.1:8080/').read()\n\
        \x20   time.sleep(0.05)\n";
    let name = format!("flowtap-busy-{}", std::process::id());
    python_container(&name, &["-d"], BUSY);
    let (result, events) = run_capture("python", &[], &[]);
    let _ = Command::new("/usr/bin/docker")
        .args(["rm", "-f", &name])
        .output();
    check_exchange(&result, &events, "127.0.0.1", b"echo:");
    let own = own_cgroup_id();
    for e in &events {
        if let Event::Data(d) = e {
            assert_eq!(
                d.task.cgroup, own,
                "--pid traced a process outside its tree: {d:?}"
            );
        }
    }
}

#[test]
#[ignore = "needs root and BPF; run via scripts/test.sh"]
fn a_child_cgroup_of_a_traced_cgroup_is_traced_and_named_as_it() {
    let _guard = privileged();
    let cgroup = TestCgroup::new();
    let inner = TestCgroup(cgroup.0.join("inner"));
    std::fs::create_dir_all(&inner.0).expect("create a child cgroup");
    let dir = tempfile::tempdir().expect("tempdir");
    let trace = dir.path().join("trace.jsonl");
    let harness = Harness::start("python", &[]);
    inner.add(harness.pid());
    let cgroup_arg = cgroup.0.to_str().expect("utf-8 path").to_string();
    let live = LiveCapture::start(&[
        "capture",
        "--cgroup",
        &cgroup_arg,
        "--record",
        trace.to_str().unwrap(),
    ]);
    let result = harness.go();
    let (status, stderr) = live.stop();
    assert!(status.success(), "{stderr}");
    let events = read_trace(&trace);
    check_exchange(&result, &events, "127.0.0.1", b"echo:");
    for e in &events {
        let Some(task) = e.task() else { continue };
        assert_eq!(
            task.cgroup,
            cgroup.id(),
            "named by the traced cgroup, not its child: {e:?}"
        );
    }
    drop(inner);
}
