//! TLS (root): nginx with TLS on loopback called by curl, Python's http.client and
//! urllib, captured with `flowtap capture --pid` on the whole tree, so both
//! observers see each exchange in plaintext from OpenSSL's calls. Replay of the
//! trace recorded alongside gives the same flows.

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::Value;

use crate::support::replay;
use crate::support::{privileged, repo_root, wait_with_timeout, LiveCapture};

pub(crate) struct TlsRun {
    pub(crate) said: Value,
    pub(crate) flows: Vec<Value>,
    pub(crate) trace: String,
    pub(crate) stderr: String,
}

/// Runs tests/programs/tls.py under capture (and checks replay on the way).
fn capture_tls(flags: &[&str]) -> TlsRun {
    capture_harness("tls.py", flags)
}

/// Runs a TLS harness from tests/programs/ under capture of its process tree; its
/// output line is `said`. Replay of the trace must give the live flows.
pub(crate) fn capture_harness(script: &str, flags: &[&str]) -> TlsRun {
    capture_harness_with("python3", script, flags)
}

/// [`capture_harness`] with this Python.
fn capture_harness_with(python: &str, script: &str, flags: &[&str]) -> TlsRun {
    let _guard = privileged();
    let dir = tempfile::tempdir().expect("tempdir");
    let flows = dir.path().join("flows.jsonl");
    let trace = dir.path().join("t.jsonl");
    let mut child = Command::new(python)
        .arg(repo_root().join("tests/programs").join(script))
        .args(flags)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("spawn python3 {script}: {e}"));
    let mut stdin = child.stdin.take().expect("piped stdin");
    let mut stdout = BufReader::new(child.stdout.take().expect("piped stdout"));
    let mut line = String::new();
    stdout.read_line(&mut line).expect("read harness");
    assert_eq!(line.trim(), "waiting", "harness did not start");
    let pid = child.id().to_string();
    let live = LiveCapture::start(&[
        "capture",
        "--pid",
        &pid,
        "-o",
        flows.to_str().expect("utf-8"),
        "--record",
        trace.to_str().expect("utf-8"),
    ]);
    stdin.write_all(b"go\n").expect("signal harness");
    line.clear();
    stdout.read_line(&mut line).expect("read harness result");
    let status = wait_with_timeout(&mut child, Duration::from_secs(120));
    assert!(status.success(), "harness failed: {status}");
    let result: Value =
        serde_json::from_str(&line).unwrap_or_else(|e| panic!("harness said {line:?}: {e}"));
    let (status, stderr) = live.stop();
    assert!(status.success(), "{stderr}");
    assert!(stderr.contains("0 events lost"), "{stderr}");

    let replayed_text = replay(&trace, &[]);
    let live_text = std::fs::read_to_string(&flows).expect("flows");
    assert!(!live_text.is_empty(), "the live run wrote flows");
    assert_eq!(live_text, replayed_text, "replay differs from the live run");
    TlsRun {
        said: result["said"].clone(),
        flows: live_text
            .lines()
            .map(|l| serde_json::from_str(l).expect("flow is JSON"))
            .collect(),
        trace: std::fs::read_to_string(&trace).expect("trace"),
        stderr,
    }
}

/// (observer, comm, method, target, status) of a flow.
pub(crate) fn key(f: &Value) -> (String, String, String, String, u64) {
    (
        f["observer"].as_str().unwrap_or_default().to_string(),
        f["process"]["comm"]
            .as_str()
            .unwrap_or_default()
            .to_string(),
        f["request"]["method"]
            .as_str()
            .unwrap_or_default()
            .to_string(),
        f["request"]["target"]
            .as_str()
            .unwrap_or_default()
            .to_string(),
        f["response"]["status"].as_u64().unwrap_or_default(),
    )
}

fn find<'a>(run: &'a TlsRun, observer: &str, target: &str, method: &str) -> &'a Value {
    let found: Vec<&Value> = run
        .flows
        .iter()
        .filter(|f| {
            f["observer"] == observer
                && f["request"]["target"] == target
                && f["request"]["method"] == method
        })
        .collect();
    assert_eq!(
        found.len(),
        1,
        "one {observer} flow for {method} {target}: {:#?}",
        run.flows.iter().map(key).collect::<Vec<_>>()
    );
    found[0]
}

fn check_exchanges(run: &TlsRun) {
    let node = run.said.get("node_get").is_some();
    assert_eq!(
        run.said["curl_keepalive"],
        "hello over tls\nno such thing\n"
    );
    assert_eq!(run.said["curl_post"], "stored\n");
    assert_eq!(run.said["python_get"], "python got it\n");
    assert_eq!(run.said["urllib_get"], "python got it\n");
    // Six exchanges (seven with Node's), each seen by the client and by nginx:
    // nothing else (the ciphertext made no flows).
    assert_eq!(
        run.flows.len(),
        if node { 14 } else { 12 },
        "{:#?}",
        run.flows.iter().map(key).collect::<Vec<_>>()
    );
    for f in &run.flows {
        assert_eq!(f["tls"]["library"], "openssl", "{f}");
        // Read from the hellos in the clear; every client here asked for localhost.
        assert_eq!(f["tls"]["version"], "TLSv1.3", "{f}");
        assert_eq!(f["tls"]["sni"], "localhost", "{f}");
        assert!(f["incomplete"].is_null(), "{f}");
        assert_eq!(f["dst"]["port"], run_port(run), "{f}");
        let comm = f["process"]["comm"].as_str().unwrap_or_default();
        match f["observer"].as_str() {
            Some("server") => assert_eq!(comm, "nginx", "{f}"),
            Some("client") => assert!(
                comm == "curl" || comm.starts_with("python") || (node && comm == "node"),
                "{f}"
            ),
            other => panic!("observer {other:?}"),
        }
    }
    for observer in ["client", "server"] {
        let hello = find(run, observer, "/hello", "GET");
        assert_eq!(hello["response"]["status"], 200);
        assert_eq!(hello["response"]["body"]["text"], "hello over tls\n");
        let missing = find(run, observer, "/missing", "GET");
        assert_eq!(missing["response"]["status"], 404);
        assert_eq!(missing["response"]["body"]["text"], "no such thing\n");
        // Keep-alive: the 404 came second on the same connection.
        let socket = |f: &Value| {
            f["id"]
                .as_str()
                .unwrap_or_default()
                .rsplit_once('-')
                .map(|(s, n)| (s.to_string(), n.to_string()))
        };
        let (hs, hn) = socket(hello).expect("id");
        let (ms, mn) = socket(missing).expect("id");
        assert_eq!((hs.as_str(), hn.as_str()), (ms.as_str(), "0"));
        assert_eq!(mn, "1");

        let posts: Vec<&Value> = run
            .flows
            .iter()
            .filter(|f| f["observer"] == observer && f["request"]["method"] == "POST")
            .collect();
        assert_eq!(posts.len(), 2, "{observer}: {posts:#?}");
        let bodies: Vec<&str> = posts
            .iter()
            .map(|f| f["request"]["body"]["text"].as_str().unwrap_or_default())
            .collect();
        assert!(bodies.contains(&"name=flowtap&tls=yes"), "{bodies:?}");
        assert!(bodies.contains(&r#"{"from":"python"}"#), "{bodies:?}");
        for p in posts {
            assert_eq!(p["response"]["status"], 201);
            assert_eq!(p["response"]["body"]["text"], "stored\n");
        }
        let py_get = find(run, observer, "/python?via=http.client", "GET");
        let py_post = run
            .flows
            .iter()
            .find(|f| {
                f["observer"] == observer && f["request"]["body"]["text"] == r#"{"from":"python"}"#
            })
            .expect("python POST");
        let conn = |f: &Value| {
            f["id"]
                .as_str()
                .unwrap_or_default()
                .rsplit_once('-')
                .map(|(socket, _)| socket.to_string())
        };
        assert_eq!(
            conn(py_get),
            conn(py_post),
            "http.client kept its connection"
        );
        let urllib = find(run, observer, "/python?via=urllib", "GET");
        assert_eq!(urllib["response"]["body"]["text"], "python got it\n");
    }
    // The trace carries the plaintext as ssl_read/ssl_write events.
    assert!(run.trace.contains(r#""syscall":"ssl_write""#));
    assert!(run.trace.contains(r#""syscall":"ssl_read""#));
}

fn run_port(run: &TlsRun) -> Value {
    run.flows
        .iter()
        .find(|f| f["observer"] == "server")
        .map(|f| f["dst"]["port"].clone())
        .unwrap_or(Value::Null)
}

/// nginx was already running when capture started; every connection is new after.
#[test]
#[ignore = "needs root (BPF, uprobes) and nginx, curl, openssl; run via scripts/test.sh"]
fn https_to_an_nginx_running_before_capture_gives_plaintext_flows_from_both_sides() {
    let run = capture_tls(&[]);
    check_exchanges(&run);
    assert!(!run.stderr.contains("cannot be captured"), "{}", run.stderr);
}

/// Node has OpenSSL built in and drives it through memory BIOs (its own BIO
/// method): its `SSL*` is tied to its socket by the records OpenSSL wrote, so
/// its request is seen by Node and by nginx, and nothing is named as not hooked.
#[test]
#[ignore = "needs root (BPF, uprobes) and nginx, curl, openssl, node; run via scripts/test.sh"]
fn a_node_client_gives_plaintext_flows_from_both_sides() {
    let run = capture_tls(&["--node"]);
    assert_eq!(run.said["node_get"], "no such thing\n");
    check_exchanges(&run);
    assert!(!run.stderr.contains("cannot be captured"), "{}", run.stderr);
    for observer in ["client", "server"] {
        let f = find(&run, observer, "/node", "GET");
        assert_eq!(f["response"]["status"], 404, "{f:#}");
        assert_eq!(f["response"]["body"]["text"], "no such thing\n", "{f:#}");
    }
    assert_eq!(
        find(&run, "client", "/node", "GET")["process"]["comm"],
        "node"
    );
    let summary = run.stderr.lines().last().unwrap_or_default();
    assert!(
        summary.contains(", 0 processes with TLS not hooked")
            && summary.contains(", 1 memory-BIO TLS streams tied to their socket, 0 not"),
        "{summary}"
    );
}

/// HTTP/2 over TLS (ALPN h2): the plaintext goes through the HTTP/2 decoder.
#[test]
#[ignore = "needs root (BPF, uprobes) and nginx, curl, openssl; run via scripts/test.sh"]
fn http2_over_tls_from_curl_to_nginx_gives_h2_flows_from_both_sides() {
    let run = capture_tls(&["--h2"]);
    assert_eq!(run.said["curl_h2"], "hello over tls\nno such thing\n");
    let mut seen: Vec<(String, String, String, u64, String, u64)> = run
        .flows
        .iter()
        .map(|f| {
            assert_eq!(f["tls"]["library"], "openssl", "{f}");
            assert_eq!(f["tls"]["sni"], "localhost", "{f}");
            assert!(f["incomplete"].is_null(), "{f}");
            let (o, c, m, t, s) = key(f);
            let version = f["request"]["version"]
                .as_str()
                .unwrap_or_default()
                .to_string();
            let stream = f["stream_id"].as_u64().unwrap_or_default();
            (o, c, format!("{m} {t}"), s, version, stream)
        })
        .collect();
    seen.sort();
    let h2 = |o: &str, c: &str, req: &str, s: u64, stream: u64| {
        (
            o.to_string(),
            c.to_string(),
            req.to_string(),
            s,
            "HTTP/2".to_string(),
            stream,
        )
    };
    assert_eq!(
        seen,
        [
            h2("client", "curl", "GET /hello", 200, 1),
            h2("client", "curl", "GET /missing", 404, 3),
            h2("server", "nginx", "GET /hello", 200, 1),
            h2("server", "nginx", "GET /missing", 404, 3),
        ]
    );
}

/// A client with OpenSSL linked in statically (built here with `cc -static`
/// against libssl.a): no libssl.so is mapped, so its probes are found by the
/// executable's own symbols; it was already running when capture started.
#[test]
#[ignore = "needs root (BPF, uprobes) and nginx, cc, libssl-dev, openssl; run via scripts/test.sh"]
fn a_client_with_openssl_linked_statically_gives_plaintext_flows() {
    openssl_api_client(Build::Static, &[]);
}

/// The same client started under capture: found as it execs.
#[test]
#[ignore = "needs root (BPF, uprobes) and nginx, cc, libssl-dev, openssl; run via scripts/test.sh"]
fn a_client_with_openssl_linked_statically_started_under_capture_gives_plaintext_flows() {
    openssl_api_client(Build::Static, &["--late"]);
}

/// The same client built against Debian's BoringSSL, whose `libssl.so.0` has
/// OpenSSL's file name and API: its flows say `boringssl`, never `openssl`.
#[test]
#[ignore = "needs root (BPF, uprobes) and nginx, cc, android-libboringssl-dev, openssl; run via scripts/test.sh"]
fn a_client_on_boringssl_gives_plaintext_flows_that_name_boringssl() {
    openssl_api_client(Build::Boringssl, &[]);
}

/// How tests/programs/tls_client.c is built.
#[derive(Clone, Copy)]
enum Build {
    /// `-static` against OpenSSL's libssl.a.
    Static,
    /// Against Debian's BoringSSL, `libssl.so.0` in `/usr/lib/<arch>/android`.
    Boringssl,
}

fn openssl_api_client(build: Build, flags: &[&str]) {
    let dir = tempfile::tempdir().expect("tempdir");
    let (name, library) = match build {
        Build::Static => ("ftstatic", "openssl"),
        Build::Boringssl => ("ftboring", "boringssl"),
    };
    let client = dir.path().join(name);
    let mut cc = Command::new("cc");
    cc.args(["-O1", "-o"])
        .arg(&client)
        .arg(repo_root().join("tests/programs/tls_client.c"));
    match build {
        Build::Static => {
            cc.args(["-static", "-lssl", "-lcrypto"]);
        }
        Build::Boringssl => {
            let lib = boringssl_dir();
            cc.arg("-I/usr/include/android")
                .arg(format!("-L{lib}"))
                .arg(format!("-Wl,-rpath,{lib}"))
                .args(["-l:libssl.so.0", "-l:libcrypto.so.0"]);
        }
    }
    let out = cc.output().expect("run cc");
    assert!(
        out.status.success(),
        "cc: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut args = vec!["--client", client.to_str().expect("utf-8")];
    args.extend(flags);
    let run = capture_tls(&args);
    assert_eq!(run.said["tls_client"], "hello over tls\nno such thing\n");
    assert!(!run.stderr.contains("cannot be captured"), "{}", run.stderr);
    let mut seen: Vec<_> = run.flows.iter().map(key).collect();
    seen.sort();
    let flow = |o: &str, c: &str, t: &str, s: u64| {
        (
            o.to_string(),
            c.to_string(),
            "GET".to_string(),
            t.to_string(),
            s,
        )
    };
    assert_eq!(
        seen,
        [
            flow("client", name, "/hello", 200),
            flow("client", name, "/missing", 404),
            flow("server", "nginx", "/hello", 200),
            flow("server", "nginx", "/missing", 404),
        ]
    );
    for f in &run.flows {
        // nginx's side is the host's OpenSSL, whoever its client is.
        let want = if f["observer"] == "client" {
            library
        } else {
            "openssl"
        };
        assert_eq!(f["tls"]["library"], want, "{f}");
        assert_eq!(f["tls"]["sni"], "localhost", "{f}");
        assert!(f["incomplete"].is_null(), "{f}");
    }
    let client_hello = find(&run, "client", "/hello", "GET");
    assert_eq!(client_hello["response"]["body"]["text"], "hello over tls\n");
    assert_eq!(client_hello["request"]["headers"][1][1], "tls_client");
    let summary = run.stderr.lines().last().unwrap_or_default();
    assert!(
        summary.contains(", 0 TLS calls with no socket"),
        "{summary}"
    );
}

/// Where Debian's BoringSSL libraries are, for this machine's architecture.
fn boringssl_dir() -> String {
    [
        "/usr/lib/x86_64-linux-gnu/android",
        "/usr/lib/aarch64-linux-gnu/android",
    ]
    .into_iter()
    .find(|d| std::path::Path::new(d).join("libssl.so.0").exists())
    .expect("android-libboringssl is installed (scripts/setup.sh)")
    .to_string()
}

/// nginx starts after capture: its libssl is the host's, attached at start.
#[test]
#[ignore = "needs root (BPF, uprobes) and nginx, curl, openssl; run via scripts/test.sh"]
fn https_to_an_nginx_started_under_capture_gives_plaintext_flows_from_both_sides() {
    let run = capture_tls(&["--server-after"]);
    check_exchanges(&run);
}

/// A CA and a server certificate for `names`, made with the openssl CLI in `dir`.
pub(crate) fn make_certs(dir: &std::path::Path, names: &str) {
    let d = dir.to_str().expect("utf-8");
    let run = |args: &[&str]| {
        let out = Command::new("openssl")
            .args(args)
            .output()
            .expect("run openssl");
        assert!(
            out.status.success(),
            "openssl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    std::fs::write(dir.join("ext"), format!("subjectAltName={names}\n")).expect("ext");
    run(&[
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-days",
        "1",
        "-keyout",
        &format!("{d}/ca.key"),
        "-out",
        &format!("{d}/ca.crt"),
        "-subj",
        "/CN=flowtap test CA",
    ]);
    run(&[
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        &format!("{d}/server.key"),
        "-out",
        &format!("{d}/server.csr"),
        "-subj",
        "/CN=web",
    ]);
    run(&[
        "x509",
        "-req",
        "-in",
        &format!("{d}/server.csr"),
        "-CA",
        &format!("{d}/ca.crt"),
        "-CAkey",
        &format!("{d}/ca.key"),
        "-CAcreateserial",
        "-days",
        "1",
        "-out",
        &format!("{d}/server.crt"),
        "-extfile",
        &format!("{d}/ext"),
    ]);
}

const CONTAINER_NGINX_CONF: &str = "\
daemon off;
worker_processes 1;
user root;
error_log /conf/error.log;
pid /conf/nginx.pid;
events { worker_connections 64; }
http {
  access_log off;
  client_body_temp_path /conf/body;
  sendfile off;
  server {
    listen 8443 ssl;
    ssl_certificate /conf/server.crt;
    ssl_certificate_key /conf/server.key;
    location = /hello { return 200 \"hello from the web container\\n\"; }
    location = /echo { return 201 \"stored\\n\"; }
    location / { return 404 \"no such thing\\n\"; }
  }
}
";

/// Both ends in containers of one compose project: nginx with TLS, and a client
/// container (curl, then Python's http.client) started after capture; flows name
/// both by compose service and carry `tls`.
#[test]
#[ignore = "needs root (BPF, uprobes) and Docker; run via scripts/test.sh"]
fn https_between_containers_is_captured_from_both_sides_by_compose_service() {
    let _guard = privileged();
    crate::support::build_images();
    let mut cleanup = crate::docker::Cleanup::default();
    let tag = std::process::id();
    let project = format!("ft-tls-{tag}");
    let network = format!("ft-tls-net-{tag}");
    let (web, client) = (format!("ft-tls-web-{tag}"), format!("ft-tls-client-{tag}"));
    let conf = tempfile::tempdir().expect("tempdir");
    make_certs(conf.path(), "DNS:web");
    std::fs::write(conf.path().join("nginx.conf"), CONTAINER_NGINX_CONF).expect("conf");
    let conf_mount = format!("{}:/conf", conf.path().display());
    let docker = crate::docker::docker;
    docker(&["network", "create", &network]);
    cleanup.networks.push(network.clone());
    cleanup.containers.push(web.clone());
    let labels = |service: &str| {
        vec![
            "--label".to_string(),
            format!("com.docker.compose.project={project}"),
            "--label".to_string(),
            format!("com.docker.compose.service={service}"),
        ]
    };
    let mut args: Vec<String> = ["run", "-d", "--name", &web, "--network", &network]
        .iter()
        .map(|s| s.to_string())
        .collect();
    args.extend(labels("web"));
    args.extend(
        [
            "--network-alias",
            "web",
            "-v",
            "/usr:/usr:ro",
            "-v",
            &conf_mount,
        ]
        .iter()
        .map(|s| s.to_string()),
    );
    args.extend(
        [
            crate::support::BASE_IMAGE,
            "/usr/sbin/nginx",
            "-c",
            "/conf/nginx.conf",
            "-p",
            "/conf",
        ]
        .iter()
        .map(|s| s.to_string()),
    );
    docker(&args.iter().map(String::as_str).collect::<Vec<_>>());

    let dir = tempfile::tempdir().expect("tempdir");
    let flows_path = dir.path().join("flows.jsonl");
    let live = LiveCapture::start(&[
        "capture",
        "--compose-project",
        &project,
        "-o",
        flows_path.to_str().expect("utf-8"),
    ]);
    let script = "\
import http.client, ssl, time
for _ in range(100):
    try:
        ctx = ssl.create_default_context(cafile='/conf/ca.crt')
        c = http.client.HTTPSConnection('web', 8443, context=ctx, timeout=5)
        c.request('GET', '/python')
        print(c.getresponse().status)
        c.close()
        break
    except OSError:
        time.sleep(0.1)
";
    let client_cmd = format!(
        "curl -sS --retry 20 --retry-connrefused --cacert /conf/ca.crt \
         https://web:8443/hello https://web:8443/missing && \
         curl -sS --cacert /conf/ca.crt -d tls=yes https://web:8443/echo && \
         python3 -c \"{script}\""
    );
    cleanup.containers.push(client.clone());
    let mut args: Vec<String> = ["run", "--rm", "--name", &client, "--network", &network]
        .iter()
        .map(|s| s.to_string())
        .collect();
    args.extend(labels("client"));
    args.extend(
        [
            "-v",
            "/usr:/usr:ro",
            "-v",
            &conf_mount,
            crate::support::BASE_IMAGE,
        ]
        .iter()
        .map(|s| s.to_string()),
    );
    args.extend(["/usr/bin/sh".to_string(), "-c".to_string(), client_cmd]);
    let said = docker(&args.iter().map(String::as_str).collect::<Vec<_>>());
    assert!(said.contains("hello from the web container"), "{said}");
    assert!(said.contains("stored") && said.ends_with("404"), "{said}");
    let (status, stderr) = live.stop();
    assert!(status.success(), "{stderr}");
    let flows: Vec<Value> = std::fs::read_to_string(&flows_path)
        .expect("flows")
        .lines()
        .map(|l| serde_json::from_str(l).expect("flow is JSON"))
        .collect();
    let mut seen: Vec<(String, String, String, u64)> = flows
        .iter()
        .map(|f| {
            assert_eq!(f["tls"]["library"], "openssl", "{f}");
            assert_eq!(f["tls"]["sni"], "web", "{f}");
            // nginx 1.22's default protocols stop at TLS 1.2 (1.3 is enabled on the host test).
            assert_eq!(f["tls"]["version"], "TLSv1.2", "{f}");
            assert_eq!(f["src"]["container"]["compose_service"], "client", "{f}");
            assert_eq!(f["dst"]["container"]["compose_service"], "web", "{f}");
            let (o, _, m, t, s) = key(f);
            (o, m, t, s)
        })
        .collect();
    seen.sort();
    let expect = |o: &str| {
        [
            ("GET", "/hello", 200),
            ("GET", "/missing", 404),
            ("GET", "/python", 404),
            ("POST", "/echo", 201),
        ]
        .map(|(m, t, s)| (o.to_string(), m.to_string(), t.to_string(), s))
    };
    let mut want: Vec<_> = expect("client")
        .into_iter()
        .chain(expect("server"))
        .collect();
    want.sort();
    assert_eq!(seen, want, "{stderr}");
}

/// A process maps a "libssl.so.3" whose SSL_read is no function (built here): flowtap names
/// it on one line, and libbpf's own symbol-lookup warnings about it stay out of
/// stderr unless `--verbose` asks for them, prefixed as flowtap's.
#[test]
#[ignore = "needs root (BPF, uprobes) and cc, python3; run via scripts/test.sh"]
fn libbpf_messages_are_shown_only_with_verbose() {
    let _guard = privileged();
    let dir = tempfile::tempdir().expect("tempdir");
    let src = dir.path().join("fake.c");
    // The names are there (so flowtap takes it for a libssl) but as data, not
    // functions: libbpf's lookup for the uprobe fails, and says so.
    std::fs::write(&src, "int SSL_read = 1;\nint SSL_write = 1;\n").expect("write");
    let lib = dir.path().join("libssl.so.3");
    let out = Command::new("cc")
        .args(["-shared", "-fPIC", "-o"])
        .arg(&lib)
        .arg(&src)
        .output()
        .expect("run cc");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for verbose in [false, true] {
        let mut holder = Command::new("python3")
            .args([
                "-c",
                "import ctypes, sys; ctypes.CDLL(sys.argv[1]); print('loaded', flush=True); \
                 sys.stdin.readline()",
            ])
            .arg(&lib)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("spawn python3");
        let mut line = String::new();
        BufReader::new(holder.stdout.take().expect("piped stdout"))
            .read_line(&mut line)
            .expect("read");
        assert_eq!(line.trim(), "loaded");
        let pid = holder.id().to_string();
        let mut args = vec!["capture", "--pid", &pid, "-o", "/dev/null"];
        if verbose {
            args.push("--verbose");
        }
        let live = LiveCapture::start(&args);
        let (status, stderr) = live.stop();
        drop(holder.stdin.take());
        let _ = wait_with_timeout(&mut holder, Duration::from_secs(30));
        assert!(status.success(), "{stderr}");
        let named: Vec<&str> = stderr
            .lines()
            .filter(|l| l.contains("cannot be captured"))
            .collect();
        assert_eq!(named.len(), 1, "{stderr}");
        assert!(named[0].contains("no SSL_read symbol"), "{}", named[0]);
        // Every line is flowtap's own; libbpf speaks only when asked.
        assert!(
            stderr.lines().all(|l| l.starts_with("flowtap: ")),
            "{stderr}"
        );
        let libbpf: Vec<&str> = stderr
            .lines()
            .filter(|l| l.starts_with("flowtap: libbpf: "))
            .collect();
        if verbose {
            assert!(
                libbpf
                    .iter()
                    .any(|l| l.contains("'SSL_read'") && l.contains("libssl.so.3")),
                "{stderr}"
            );
        } else {
            assert!(libbpf.is_empty(), "{stderr}");
        }
    }
}

/// gRPC over TLS with python3-grpcio: grpcio hands OpenSSL memory BIOs, so its
/// SSL calls make no syscall to tie them to a socket. Their plaintext comes
/// keyed by `SSL*`, and each is tied to its socket by the first bytes of the
/// records OpenSSL wrote: both sides' gRPC calls come out as flows, in plaintext,
/// and nothing is named as not hooked or dropped.
#[test]
#[ignore = "needs root (BPF, uprobes) and python3-grpcio, openssl; run via scripts/test.sh"]
fn grpc_over_tls_from_grpcio_gives_grpc_flows_from_both_sides() {
    // Debian's python3 is the one with python3-grpcio.
    let run = capture_harness_with("/usr/bin/python3", "grpc_tls.py", &[]);
    assert_eq!(run.said["say"], "hello world");
    assert_eq!(
        run.said["count"],
        serde_json::json!(["0801", "0802", "0803"])
    );
    let port = run.said["port"]
        .as_u64()
        .expect("the harness says its port");
    for observer in ["client", "server"] {
        let say = find(&run, observer, "/demo.Echo/Say", "POST");
        let count = find(&run, observer, "/demo.Echo/Count", "POST");
        for (f, method, responses) in [(say, "Say", 1), (count, "Count", 3)] {
            assert_eq!(f["response"]["status"], 200, "{f:#}");
            assert_eq!(f["dst"]["port"], port, "{f:#}");
            assert_eq!(f["tls"]["library"], "openssl", "{f:#}");
            assert_eq!(f["tls"]["sni"], "localhost", "{f:#}");
            assert_eq!(f["grpc"]["service"], "demo.Echo", "{f:#}");
            assert_eq!(f["grpc"]["method"], method, "{f:#}");
            assert_eq!(f["grpc"]["status"], 0, "{f:#}");
            assert_eq!(f["grpc"]["response"]["count"], responses, "{f:#}");
            assert!(f["incomplete"].is_null(), "{f:#}");
        }
        // The bytes are the plaintext the calls carried.
        assert_eq!(
            say["response"]["body"]["text"], "\u{0}\u{0}\u{0}\u{0}\u{b}hello world",
            "{say:#}"
        );
    }
    assert_eq!(
        run.flows.len(),
        4,
        "{:#?}",
        run.flows.iter().map(key).collect::<Vec<_>>()
    );
    let stderr = &run.stderr;
    assert!(!stderr.contains("cannot be captured"), "{stderr}");
    let summary = stderr.lines().last().unwrap_or_default();
    // One SSL* per side, each tied; nothing refused or dropped.
    assert!(
        summary.contains(
            ", 2 memory-BIO TLS streams tied to their socket, 0 not (0 plaintext bytes dropped), 0 ambiguous matches refused"
        ),
        "{summary}"
    );
    assert!(
        run.trace.contains(r#""type":"tls_head""#),
        "no TLS heads recorded"
    );
    if let Some(dir) = std::env::var_os("FLOWTAP_RECORD_DIR") {
        let path = std::path::Path::new(&dir).join("live-grpc-tls-membio.trace.jsonl");
        std::fs::write(&path, &run.trace).expect("keeping the trace");
    }
}

/// gRPC over TLS between two grpcio containers of one compose project (the
/// server running before capture, the client started under it): both sides'
/// calls, tied to their sockets by record, name both ends by compose service.
#[test]
#[ignore = "needs root (BPF, uprobes), Docker and python3-grpcio; run via scripts/test.sh"]
fn grpc_over_tls_between_grpcio_containers_is_named_by_compose_service() {
    let _guard = privileged();
    crate::support::build_images();
    let mut cleanup = crate::docker::Cleanup::default();
    let tag = std::process::id();
    let project = format!("ft-grpc-tls-{tag}");
    let network = format!("ft-grpc-tls-net-{tag}");
    let (api, client) = (
        format!("ft-grpc-tls-api-{tag}"),
        format!("ft-grpc-tls-client-{tag}"),
    );
    let conf = tempfile::tempdir().expect("tempdir");
    make_certs(conf.path(), "DNS:api");
    let conf_mount = format!("{}:/conf:ro", conf.path().display());
    let programs = format!("{}:/prog:ro", repo_root().join("tests/programs").display());
    let docker = crate::docker::docker;
    docker(&["network", "create", &network]);
    cleanup.networks.push(network.clone());
    let run_args = |name: &str, service: &str, detach: bool| -> Vec<String> {
        let mut args = vec!["run".to_string()];
        args.push(if detach { "-d" } else { "--rm" }.to_string());
        for a in [
            "--name",
            name,
            "--network",
            &network,
            "--network-alias",
            service,
            "--label",
            &format!("com.docker.compose.project={project}"),
            "--label",
            &format!("com.docker.compose.service={service}"),
            "-v",
            "/usr:/usr:ro",
            "-v",
            &conf_mount,
            "-v",
            &programs,
            crate::support::BASE_IMAGE,
            "/usr/bin/python3",
            "/prog/grpc_tls.py",
        ] {
            args.push(a.to_string());
        }
        args
    };
    cleanup.containers.push(api.clone());
    let mut args = run_args(&api, "api", true);
    args.extend(["serve", "/conf", "50051"].map(String::from));
    docker(&args.iter().map(String::as_str).collect::<Vec<_>>());

    let dir = tempfile::tempdir().expect("tempdir");
    let flows_path = dir.path().join("flows.jsonl");
    let live = LiveCapture::start(&[
        "capture",
        "--compose-project",
        &project,
        "-o",
        flows_path.to_str().expect("utf-8"),
    ]);
    cleanup.containers.push(client.clone());
    let mut args = run_args(&client, "client", false);
    args.extend(["call", "/conf", "api:50051"].map(String::from));
    let said = docker(&args.iter().map(String::as_str).collect::<Vec<_>>());
    let said: Value = serde_json::from_str(&said).unwrap_or_else(|e| panic!("{said:?}: {e}"));
    assert_eq!(said["said"]["say"], "hello world");
    assert_eq!(
        said["said"]["count"],
        serde_json::json!(["0801", "0802", "0803"])
    );
    let (status, stderr) = live.stop();
    assert!(status.success(), "{stderr}");
    assert!(!stderr.contains("plaintext of process"), "{stderr}");
    let flows: Vec<Value> = std::fs::read_to_string(&flows_path)
        .expect("flows")
        .lines()
        .map(|l| serde_json::from_str(l).expect("flow is JSON"))
        .collect();
    let mut seen: Vec<(String, String, u64)> = flows
        .iter()
        .map(|f| {
            assert_eq!(f["tls"]["library"], "openssl", "{f}");
            assert_eq!(f["tls"]["sni"], "api", "{f}");
            assert_eq!(f["src"]["container"]["compose_service"], "client", "{f}");
            assert_eq!(f["dst"]["container"]["compose_service"], "api", "{f}");
            assert_eq!(f["dst"]["port"], 50051, "{f}");
            assert_eq!(f["grpc"]["status"], 0, "{f}");
            assert!(f["incomplete"].is_null(), "{f}");
            let (o, _, _, t, s) = key(f);
            (o, t, s)
        })
        .collect();
    seen.sort();
    let want: Vec<(String, String, u64)> = ["client", "server"]
        .iter()
        .flat_map(|o| {
            ["/demo.Echo/Count", "/demo.Echo/Say"].map(|t| (o.to_string(), t.to_string(), 200))
        })
        .collect();
    assert_eq!(seen, want, "{stderr}");
}
