//! Go crypto/tls (root): tests/programs/gotls.py runs Go clients and servers,
//! caddy (a stripped Go binary) and nginx/curl on loopback under `flowtap capture
//! --pid` on its tree. Every exchange is seen in plaintext from both ends, Go's
//! from the crypto/tls uprobes; a Go conn on a wrapper is named as not hooked and
//! gives no client flow. Go ends in compose containers are named by service.

use std::process::Command;

use serde_json::Value;

use crate::support::{privileged, repo_root, LiveCapture};
use crate::tls::{capture_harness, key, make_certs, TlsRun};

/// The flows of one exchange, by destination port, method and target.
fn exchange<'a>(run: &'a TlsRun, port: &Value, method: &str, target: &str) -> Vec<&'a Value> {
    run.flows
        .iter()
        .filter(|f| {
            f["dst"]["port"] == *port
                && f["request"]["method"] == method
                && f["request"]["target"] == target
        })
        .collect()
}

/// The client's and the server's flow of one exchange, each once, with the same
/// request and response bodies byte for byte, from the libraries named.
fn both_sides<'a>(
    run: &'a TlsRun,
    server: &str,
    method: &str,
    target: &str,
    libraries: (&str, &str),
) -> (&'a Value, &'a Value) {
    let port = &run.said["ports"][server];
    let flows = exchange(run, port, method, target);
    let all = || run.flows.iter().map(key).collect::<Vec<_>>();
    assert_eq!(
        flows.len(),
        2,
        "{method} {target} on {server}: {:#?}",
        all()
    );
    let by = |observer: &str| {
        flows
            .iter()
            .copied()
            .find(|f| f["observer"] == observer)
            .unwrap_or_else(|| panic!("{observer} of {method} {target} on {server}: {:#?}", all()))
    };
    let (client, server_side) = (by("client"), by("server"));
    assert_eq!(client["tls"]["library"], libraries.0, "{client}");
    assert_eq!(server_side["tls"]["library"], libraries.1, "{server_side}");
    for part in ["request", "response"] {
        assert_eq!(
            client[part]["body"], server_side[part]["body"],
            "{part} body of {method} {target} on {server}"
        );
    }
    assert_eq!(client["src"]["port"], server_side["src"]["port"]);
    (client, server_side)
}

fn text(f: &Value, part: &str) -> String {
    f[part]["body"]["text"]
        .as_str()
        .unwrap_or_else(|| panic!("{part} body is text: {f}"))
        .to_string()
}

#[test]
#[ignore = "needs root (BPF, uprobes), go, nginx, caddy, curl, openssl; run via scripts/test.sh"]
fn go_crypto_tls_clients_and_servers_give_plaintext_flows_from_both_sides() {
    let run = capture_harness("gotls.py", &[]);
    let said = &run.said;
    let grpc: Vec<&Value> = run
        .flows
        .iter()
        .filter(|f| f["dst"]["port"] == said["ports"]["grpc"])
        .collect();
    // Twenty-one HTTP exchange flows, and the two gRPC calls' from both sides.
    assert_eq!(
        grpc.len(),
        4,
        "{:#?}",
        grpc.iter().map(|f| key(f)).collect::<Vec<_>>()
    );
    assert_eq!(
        run.flows.len(),
        21 + grpc.len(),
        "{:#?}",
        run.flows.iter().map(key).collect::<Vec<_>>()
    );
    for f in &run.flows {
        assert!(f["incomplete"].is_null(), "{f}");
        assert_eq!(f["tls"]["sni"], "localhost", "{f}");
    }

    // A Go client that was running when capture started, against nginx: three
    // exchanges on one kept-alive connection.
    let mut client_ports = Vec::new();
    for (method, target, name, status) in [
        ("GET", "/hello", "get", 200),
        ("POST", "/echo", "post", 201),
        ("GET", "/missing", "missing", 404),
    ] {
        let (client, server) = both_sides(&run, "nginx", method, target, ("go", "openssl"));
        assert_eq!(client["process"]["comm"], "gotls");
        assert_eq!(server["process"]["comm"], "nginx");
        assert_eq!(client["response"]["status"], status);
        assert_eq!(text(client, "response"), said["go_nginx"][name]["body"]);
        client_ports.push(client["src"]["port"].clone());
    }
    assert!(
        client_ports.windows(2).all(|w| w[0] == w[1]),
        "{client_ports:?}"
    );
    let (post, _) = both_sides(&run, "nginx", "POST", "/echo", ("go", "openssl"));
    assert_eq!(text(post, "request"), "posted by go\n");

    // A Go client exec'd under capture, from the same file, against the Go server.
    for (method, target, name) in [
        ("GET", "/hello", "get"),
        ("POST", "/echo", "post"),
        ("GET", "/missing", "missing"),
    ] {
        let (client, server) = both_sides(&run, "go", method, target, ("go", "go"));
        assert_eq!(client["process"]["comm"], "gotls");
        assert_eq!(server["process"]["comm"], "gotls");
        assert_eq!(client["request"]["version"], "HTTP/1.1");
        assert_eq!(text(server, "response"), said["go_go"][name]["body"]);
    }

    // HTTP/2 (ALPN h2) from curl to the Go server and to caddy.
    for (server, comm, said_as) in [
        ("go", "gotls", "curl_h2_go"),
        ("caddy", "caddy", "curl_h2_caddy"),
    ] {
        let (hello, hello_server) = both_sides(&run, server, "GET", "/hello?h2", ("openssl", "go"));
        let (missing, _) = both_sides(&run, server, "GET", "/missing?h2", ("openssl", "go"));
        assert_eq!(hello_server["process"]["comm"], comm);
        assert_eq!(hello["request"]["version"], "HTTP/2");
        assert_eq!(missing["response"]["status"], 404);
        assert_eq!(
            text(hello, "response") + &text(missing, "response"),
            said[said_as].as_str().unwrap_or_default()
        );
    }

    // gRPC over TLS from a Go client (grpc-go on crypto/tls) to grpcio: the
    // client's side from the Go probes, grpcio's from OpenSSL on memory BIOs
    // (tied to its socket by record), with the calls' status and messages.
    assert_eq!(said["grpc"]["say"], "hello world");
    assert_eq!(said["grpc"]["get_status"], "NotFound");
    for observer in ["client", "server"] {
        let side: Vec<&&Value> = grpc.iter().filter(|f| f["observer"] == observer).collect();
        assert_eq!(side.len(), 2, "{observer}: {grpc:#?}");
        let call = |method: &str| {
            side.iter()
                .find(|f| f["grpc"]["method"] == method)
                .unwrap_or_else(|| panic!("{observer} {method}: {grpc:#?}"))
        };
        let (say, get) = (call("Say"), call("Get"));
        if observer == "client" {
            assert_eq!(say["process"]["comm"], "gogrpc");
            assert_eq!(say["tls"]["library"], "go");
        } else {
            assert_eq!(say["tls"]["library"], "openssl");
        }
        assert_eq!(say["request"]["version"], "HTTP/2");
        assert_eq!(say["grpc"]["service"], "demo.Echo");
        assert_eq!(say["grpc"]["status"], 0, "{say}");
        // "world" and "hello world", base64.
        assert_eq!(say["grpc"]["request"]["messages"][0], "d29ybGQ=", "{say}");
        assert_eq!(
            say["grpc"]["response"]["messages"][0], "aGVsbG8gd29ybGQ=",
            "{say}"
        );
        assert_eq!(get["grpc"]["status"], 5, "{get}");
    }

    // The wrapped conn: nginx saw it; the Go side is named once and made nothing.
    // Nothing else is named.
    let wrapped = exchange(&run, &said["ports"]["nginx"], "GET", "/hello?wrapped");
    assert_eq!(wrapped.len(), 1, "{wrapped:#?}");
    assert_eq!(wrapped[0]["observer"], "server");
    assert_eq!(said["wrapped"], "hello over tls\n");
    let named: Vec<&str> = run
        .stderr
        .lines()
        .filter(|l| l.contains("cannot be captured"))
        .collect();
    let go_named: Vec<&&str> = named.iter().filter(|l| l.contains("(gotls)")).collect();
    assert_eq!(go_named.len(), 1, "{}", run.stderr);
    assert!(
        go_named[0].contains("not a *net.TCPConn"),
        "{}",
        go_named[0]
    );
    assert_eq!(named.len(), 1, "only gotls is named:\n{}", run.stderr);
    assert!(
        !run.stderr.contains("plaintext of process"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr
            .contains(&format!(" {} processes with TLS not hooked", named.len())),
        "{}",
        run.stderr
    );

    assert!(run.trace.contains(r#""syscall":"go_tls_write""#));
    assert!(run.trace.contains(r#""syscall":"go_tls_read""#));
}

/// Builds tests/programs/go/src/gotls into `dir` (static: it runs in containers
/// that mount only the host's /usr).
fn build_gotls(dir: &std::path::Path) {
    let status = Command::new("go")
        .args(["build", "-o"])
        .arg(dir.join("gotls"))
        .arg("gotls")
        .current_dir(dir)
        .env("GO111MODULE", "off")
        .env("CGO_ENABLED", "0")
        .env("GOCACHE", "/tmp/flowtap-gocache")
        .env("GOPATH", repo_root().join("tests/programs/go"))
        .status()
        .expect("run go build");
    assert!(status.success(), "go build gotls");
}

/// Both ends Go, in containers of one compose project: a Go TLS server running
/// before capture and a Go client container started under it (the same file, so
/// its probes are attached from its first call); flows name both by compose
/// service.
#[test]
#[ignore = "needs root (BPF, uprobes), go and Docker; run via scripts/test.sh"]
fn go_tls_between_containers_is_captured_from_both_sides_by_compose_service() {
    let _guard = privileged();
    crate::support::build_images();
    let mut cleanup = crate::docker::Cleanup::default();
    let tag = std::process::id();
    let project = format!("ft-gotls-{tag}");
    let network = format!("ft-gotls-net-{tag}");
    let (api, client) = (
        format!("ft-gotls-api-{tag}"),
        format!("ft-gotls-client-{tag}"),
    );
    let conf = tempfile::tempdir().expect("tempdir");
    make_certs(conf.path(), "DNS:api");
    build_gotls(conf.path());
    let conf_mount = format!("{}:/conf", conf.path().display());
    let docker = crate::docker::docker;
    docker(&["network", "create", &network]);
    cleanup.networks.push(network.clone());
    let run = |name: &str, service: &str, detach: bool, cmd: &[&str]| {
        let project_label = format!("com.docker.compose.project={project}");
        let service_label = format!("com.docker.compose.service={service}");
        let mut args = vec!["run", if detach { "-d" } else { "--rm" }, "-i"];
        args.extend([
            "--name",
            name,
            "--network",
            &network,
            "--network-alias",
            service,
        ]);
        args.extend(["--label", &project_label, "--label", &service_label]);
        args.extend([
            "-v",
            "/usr:/usr:ro",
            "-v",
            &conf_mount,
            crate::support::BASE_IMAGE,
        ]);
        args.extend(cmd);
        docker(&args)
    };
    cleanup.containers.push(api.clone());
    run(
        &api,
        "api",
        true,
        &[
            "/conf/gotls",
            "server",
            ":8443",
            "/conf/server.crt",
            "/conf/server.key",
        ],
    );
    let mut listening = false;
    for _ in 0..200 {
        if docker(&["logs", &api]).contains("listening") {
            listening = true;
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    assert!(listening, "the Go server in {api} did not listen");

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
    let said = run(
        &client,
        "client",
        false,
        &[
            "/usr/bin/sh",
            "-c",
            "echo go | /conf/gotls client https://api:8443 /conf/ca.crt",
        ],
    );
    let said: Value = serde_json::from_str(said.lines().last().unwrap_or_default())
        .unwrap_or_else(|e| panic!("the client said {said:?}: {e}"));
    assert_eq!(said["post"]["body"], "posted by go\n");
    let (status, stderr) = live.stop();
    assert!(status.success(), "{stderr}");
    assert!(!stderr.contains("cannot be captured"), "{stderr}");
    let flows: Vec<Value> = std::fs::read_to_string(&flows_path)
        .expect("flows")
        .lines()
        .map(|l| serde_json::from_str(l).expect("flow is JSON"))
        .collect();
    let mut seen: Vec<_> = flows
        .iter()
        .map(|f| {
            assert_eq!(f["tls"]["library"], "go", "{f}");
            assert_eq!(f["tls"]["sni"], "api", "{f}");
            assert_eq!(f["src"]["container"]["compose_service"], "client", "{f}");
            assert_eq!(f["dst"]["container"]["compose_service"], "api", "{f}");
            assert_eq!(f["process"]["comm"], "gotls", "{f}");
            assert!(f["incomplete"].is_null(), "{f}");
            let (o, _, m, t, s) = key(f);
            let body = f["request"]["body"]["text"].as_str().map(str::to_string);
            (o, m, t, s, body)
        })
        .collect();
    seen.sort();
    let expect = |o: &str| {
        [
            ("GET", "/hello", 200, ""),
            ("GET", "/missing", 404, ""),
            ("POST", "/echo", 201, "posted by go\n"),
        ]
        .map(|(m, t, s, b)| {
            (
                o.to_string(),
                m.to_string(),
                t.to_string(),
                s,
                Some(b.to_string()),
            )
        })
    };
    let mut want: Vec<_> = expect("client")
        .into_iter()
        .chain(expect("server"))
        .collect();
    want.sort();
    assert_eq!(seen, want, "{stderr}");
}
