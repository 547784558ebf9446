//! Go crypto/tls (root): tests/programs/gotls.py runs Go clients and servers,
//! caddy (a stripped Go binary) and nginx/curl on loopback under `flowtap capture
//! --pid` on its tree. Every exchange is seen in plaintext from both ends, Go's
//! from the crypto/tls uprobes; a Go conn on a wrapper is named as not hooked and
//! gives no client flow.

use serde_json::Value;

use crate::tls::{capture_harness, key, TlsRun};

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
    assert_eq!(
        run.flows.len(),
        21,
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

    // The wrapped conn: nginx saw it; the Go side is named once and made nothing.
    let wrapped = exchange(&run, &said["ports"]["nginx"], "GET", "/hello?wrapped");
    assert_eq!(wrapped.len(), 1, "{wrapped:#?}");
    assert_eq!(wrapped[0]["observer"], "server");
    assert_eq!(said["wrapped"], "hello over tls\n");
    let named: Vec<&str> = run
        .stderr
        .lines()
        .filter(|l| l.contains("cannot be captured"))
        .collect();
    assert_eq!(named.len(), 1, "{}", run.stderr);
    assert!(
        named[0].contains("(gotls)") && named[0].contains("not a *net.TCPConn"),
        "{}",
        named[0]
    );
    assert!(
        run.stderr.contains(" 1 processes with TLS not hooked"),
        "{}",
        run.stderr
    );

    assert!(run.trace.contains(r#""syscall":"go_tls_write""#));
    assert!(run.trace.contains(r#""syscall":"go_tls_read""#));
}
