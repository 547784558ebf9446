//! HTTP/2 and gRPC from real programs (nghttpd, nghttp, curl, h2load, python
//! grpcio, python h2) on loopback under `flowtap capture --pid`: every stream a
//! flow, from both observers, checked against what the programs did.

use std::collections::BTreeMap;
use std::process::Command;

use serde_json::Value;

use crate::support::{privileged, repo_root, Harness, LiveCapture};

/// Runs `tests/programs/http2.py SCENARIO` under capture; returns its report and
/// the flows. `FLOWTAP_RECORD_DIR` keeps the trace (scripts/record-fixtures.sh).
fn capture(scenario: &str) -> (Value, Vec<Value>) {
    let _guard = privileged();
    let dir = tempfile::tempdir().expect("tempdir");
    let flows = dir.path().join("flows.jsonl");
    let trace = match std::env::var_os("FLOWTAP_RECORD_DIR") {
        Some(d) => std::path::PathBuf::from(d).join(format!("live-h2-{scenario}.trace.jsonl")),
        None => dir.path().join("trace.jsonl"),
    };
    let mut cmd = Command::new("/usr/bin/python3");
    cmd.arg(repo_root().join("tests/programs/http2.py"))
        .arg(scenario);
    let harness = Harness::spawn(cmd);
    let pid = harness.pid().to_string();
    let live = LiveCapture::start(&[
        "capture",
        "--pid",
        &pid,
        "-o",
        flows.to_str().expect("utf-8 path"),
        "--record",
        trace.to_str().expect("utf-8 path"),
    ]);
    let report = harness.go();
    let (status, stderr) = live.stop();
    assert!(status.success(), "capture failed: {status}\n{stderr}");
    assert!(stderr.contains(" 0 events lost"), "events lost:\n{stderr}");
    let text = std::fs::read_to_string(&flows).expect("flows written");
    let flows = text
        .lines()
        .map(|l| serde_json::from_str(l).expect("a flow is JSON"))
        .collect();
    (report, flows)
}

/// Flows of one observer on the scenario's port.
fn seen_by<'f>(flows: &'f [Value], observer: &str, port: u64) -> Vec<&'f Value> {
    flows
        .iter()
        .filter(|f| f["observer"] == observer && f["dst"]["port"] == port)
        .collect()
}

fn text(body: &Value) -> &str {
    body["text"].as_str().unwrap_or_default()
}

#[test]
#[ignore = "needs root, BPF and nghttp2/grpcio/h2; run via scripts/test.sh"]
fn nghttp_against_nghttpd_every_stream_a_flow_from_both_ends() {
    let (report, flows) = capture("nghttp");
    let port = report["port"].as_u64().expect("port");
    for (observer, comm) in [("client", "nghttp"), ("server", "nghttpd")] {
        let mine = seen_by(&flows, observer, port);
        // nghttp: GET /a, /missing, /big on one connection (streams 13, 15, 17
        // after its PRIORITY-only streams 3–11), then a POST on another.
        assert_eq!(mine.len(), 4, "{observer}: {mine:#?}");
        let by_target: BTreeMap<(String, String), &Value> = mine
            .iter()
            .map(|f| {
                let r = &f["request"];
                (
                    (
                        r["method"].as_str().unwrap_or_default().to_string(),
                        r["target"].as_str().unwrap_or_default().to_string(),
                    ),
                    *f,
                )
            })
            .collect();
        let get = by_target[&("GET".into(), "/a".into())];
        assert_eq!(get["process"]["comm"], comm);
        assert_eq!(get["request"]["version"], "HTTP/2");
        assert_eq!(get["response"]["status"], 200);
        assert_eq!(text(&get["response"]["body"]), "hello from nghttpd\n");
        assert_eq!(get["stream_id"], 13);
        assert_eq!(get["authority"], format!("127.0.0.1:{port}"));
        assert_eq!(get["incomplete"], Value::Null);
        let missing = by_target[&("GET".into(), "/missing".into())];
        assert_eq!(missing["response"]["status"], 404);
        assert_eq!(missing["stream_id"], 15);
        let big = by_target[&("GET".into(), "/big".into())];
        assert_eq!(big["response"]["body"]["size"], 65536);
        assert_eq!(big["response"]["body"]["truncated"], false);
        let post = by_target[&("POST".into(), "/a".into())];
        assert_eq!(text(&post["request"]["body"]), "posted by nghttp\n");
        assert_eq!(post["response"]["status"], 200);
        for f in &mine {
            assert_eq!(f["incomplete"], Value::Null, "{f}");
        }
    }
}

#[test]
#[ignore = "needs root, BPF and nghttp2/grpcio/h2; run via scripts/test.sh"]
fn curl_prior_knowledge_get_and_post() {
    let (report, flows) = capture("curl");
    let port = report["port"].as_u64().expect("port");
    for observer in ["client", "server"] {
        let mine = seen_by(&flows, observer, port);
        assert_eq!(mine.len(), 2, "{observer}: {mine:#?}");
        assert_eq!(mine[0]["request"]["method"], "GET");
        assert_eq!(
            text(&mine[0]["response"]["body"]),
            report["get"].as_str().expect("curl's output")
        );
        assert_eq!(mine[1]["request"]["method"], "POST");
        assert_eq!(text(&mine[1]["request"]["body"]), "curl body");
        for f in &mine {
            assert_eq!(f["stream_id"], 1);
            assert_eq!(f["response"]["version"], "HTTP/2");
            assert_eq!(f["incomplete"], Value::Null, "{f}");
        }
    }
}

#[test]
#[ignore = "needs root, BPF and nghttp2/grpcio/h2; run via scripts/test.sh"]
fn h2load_1000_requests_4_connections_10_streams_each_all_flows() {
    let (report, flows) = capture("h2load");
    let port = report["port"].as_u64().expect("port");
    let said = report["h2load"][0].as_str().unwrap_or_default();
    assert!(said.contains("1000 succeeded"), "h2load said {said:?}");
    for observer in ["client", "server"] {
        let mine = seen_by(&flows, observer, port);
        assert_eq!(mine.len(), 1000, "{observer}");
        let complete = mine
            .iter()
            .filter(|f| f["incomplete"].is_null() && f["response"]["status"] == 200)
            .count();
        assert_eq!(complete, 1000, "{observer}");
        let connections: std::collections::HashSet<_> =
            mine.iter().map(|f| f["src"]["port"].as_u64()).collect();
        assert_eq!(connections.len(), 4, "{observer}");
    }
}

#[test]
#[ignore = "needs root, BPF and nghttp2/grpcio/h2; run via scripts/test.sh"]
fn grpc_python_unary_streaming_both_ways_gzip_and_not_found() {
    let (report, flows) = capture("grpc");
    let port = report["port"].as_u64().expect("port");
    assert_eq!(report["client"]["get"][0], 5, "{report}");
    for observer in ["client", "server"] {
        let mine = seen_by(&flows, observer, port);
        let call = |method: &str| {
            mine.iter()
                .find(|f| f["grpc"]["method"] == method)
                .unwrap_or_else(|| panic!("{observer}: no {method} call in {mine:#?}"))
        };
        let say = mine
            .iter()
            .find(|f| f["grpc"]["method"] == "Say" && f["grpc"]["request"]["encoding"].is_null())
            .expect("a plain Say call");
        assert_eq!(say["grpc"]["service"], "demo.Echo");
        assert_eq!(say["grpc"]["status"], 0);
        assert_eq!(say["grpc"]["request"]["count"], 1);
        assert_eq!(say["grpc"]["request"]["messages"][0], "d29ybGQ=");
        let reply = report["client"]["say"].as_str().expect("say");
        assert_eq!(say["grpc"]["response"]["sizes"][0], reply.len() / 2);
        let count = call("Count");
        assert_eq!(count["grpc"]["response"]["count"], 3);
        assert_eq!(
            count["grpc"]["response"]["messages"],
            serde_json::json!(["CAE=", "CAI=", "CAM="])
        );
        assert_eq!(count["grpc"]["status"], 0);
        // gzip: the message as sent is smaller than the 140 bytes it inflates to.
        let zipped = mine
            .iter()
            .find(|f| f["grpc"]["request"]["encoding"] == "gzip")
            .expect("a gzip-compressed Say call");
        let sent = zipped["grpc"]["request"]["sizes"][0].as_u64().unwrap_or(0);
        assert!(sent > 0 && sent < 140, "{zipped}");
        use base64::Engine;
        let inflated = base64::engine::general_purpose::STANDARD
            .decode(
                zipped["grpc"]["request"]["messages"][0]
                    .as_str()
                    .unwrap_or_default(),
            )
            .expect("base64");
        assert_eq!(inflated, b"zipped ".repeat(20));
        assert_eq!(zipped["grpc"]["status"], 0);
        // Client-streaming: three messages in, one out; bidirectional: two each way.
        let total = call("Total");
        assert_eq!(total["grpc"]["request"]["count"], 3);
        assert_eq!(
            total["grpc"]["request"]["sizes"],
            serde_json::json!([2, 3, 1])
        );
        assert_eq!(total["grpc"]["response"]["messages"][0], "CAY=");
        let chat = call("Chat");
        assert_eq!(chat["grpc"]["request"]["count"], 2);
        assert_eq!(chat["grpc"]["response"]["count"], 2);
        assert_eq!(
            chat["grpc"]["response"]["messages"],
            serde_json::json!(["cmU6eA==", "cmU6eXo="])
        );
        let get = call("Get");
        assert_eq!(get["grpc"]["status"], 5);
        assert_eq!(get["grpc"]["message"], "no such key");
        assert_eq!(mine.len(), 6, "{observer}: one flow per call");
        for f in [say, count, get, zipped, total, chat] {
            assert_eq!(f["incomplete"], Value::Null, "{f}");
            assert_eq!(f["request"]["version"], "HTTP/2");
        }
    }
}

#[test]
#[ignore = "needs root, BPF and nghttp2/grpcio/h2; run via scripts/test.sh"]
fn upgrade_h2c_nghttp_against_python_h2() {
    let (report, flows) = capture("upgrade");
    let port = report["port"].as_u64().expect("port");
    for observer in ["client", "server"] {
        let mine = seen_by(&flows, observer, port);
        assert_eq!(mine.len(), 2, "{observer}: {mine:#?}");
        let first = mine.iter().find(|f| f["stream_id"] == 1).expect("stream 1");
        assert_eq!(first["request"]["target"], "/first");
        assert_eq!(first["response"]["status"], 200);
        assert_eq!(first["response"]["version"], "HTTP/2");
        assert_eq!(text(&first["response"]["body"]), "answer to upgrade");
        assert_eq!(first["tunnel"], Value::Null);
        let second = mine
            .iter()
            .find(|f| f["stream_id"] != 1)
            .expect("a second stream");
        assert_eq!(second["request"]["target"], "/second");
        assert_eq!(text(&second["response"]["body"]), "answer to /second");
        for f in &mine {
            assert_eq!(f["incomplete"], Value::Null, "{f}");
        }
    }
}

#[test]
#[ignore = "needs root, BPF and nghttp2/grpcio/h2; run via scripts/test.sh"]
fn joined_open_connection_resolves_new_entries_and_reports_old_ones() {
    let (report, flows) = capture("joined");
    let port = report["port"].as_u64().expect("port");
    for observer in ["client", "server"] {
        let mine = seen_by(&flows, observer, port);
        assert_eq!(mine.len(), 2, "{observer}: {mine:#?}");
        for f in &mine {
            let headers = f["request"]["headers"].as_array().expect("headers");
            // x-after was inserted after attach: it resolves, on both requests.
            assert!(
                headers
                    .iter()
                    .any(|h| h[0] == "x-after" && h[1] == "inserted-after-attach"),
                "{f}"
            );
            // x-before was inserted before: never guessed.
            assert!(!headers.iter().any(|h| h[0] == "x-before"), "{f}");
            assert!(headers.iter().any(|h| h[0] == "(unknown)"), "{f}");
            let why = f["incomplete"].as_str().unwrap_or_default();
            assert!(why.contains("HPACK entries from before capture"), "{f}");
            assert_eq!(f["response"]["status"], 200);
        }
    }
}

#[test]
#[ignore = "needs root, BPF and nghttp2/grpcio/h2; run via scripts/test.sh"]
fn node_http2_client_against_nghttpd_and_curl_against_node_http2_server() {
    let (report, flows) = capture("node");
    let port = report["port"].as_u64().expect("port");
    for (observer, comm) in [("client", "node"), ("server", "nghttpd")] {
        let mine = seen_by(&flows, observer, port);
        assert_eq!(mine.len(), 3, "{observer}: {mine:#?}");
        // Node sends the three at once; flows come as the streams finish.
        let mut answers: Vec<(u64, String)> = report["node_client"]
            .as_array()
            .expect("node's answers")
            .iter()
            .map(|a| {
                (
                    a[0].as_u64().unwrap_or(0),
                    a[1].as_str().unwrap_or("").to_string(),
                )
            })
            .collect();
        let mut seen: Vec<(u64, String)> = mine
            .iter()
            .map(|f| {
                assert_eq!(f["process"]["comm"], comm);
                assert_eq!(f["incomplete"], Value::Null, "{f}");
                (
                    f["response"]["status"].as_u64().unwrap_or(0),
                    text(&f["response"]["body"]).to_string(),
                )
            })
            .collect();
        answers.sort();
        seen.sort();
        assert_eq!(seen, answers, "{observer}");
        assert!(mine
            .iter()
            .any(|f| f["request"]["method"] == "POST"
                && text(&f["request"]["body"]) == "posted by node"));
    }
    let node_port = report["node_port"].as_u64().expect("node port");
    for (observer, comm) in [("client", "curl"), ("server", "node")] {
        let mine = seen_by(&flows, observer, node_port);
        assert_eq!(mine.len(), 1, "{observer}: {mine:#?}");
        assert_eq!(mine[0]["process"]["comm"], comm);
        assert_eq!(mine[0]["request"]["target"], "/n");
        assert_eq!(text(&mine[0]["request"]["body"]), "from curl");
        assert_eq!(
            text(&mine[0]["response"]["body"]),
            report["curl"].as_str().unwrap_or_default()
        );
        assert_eq!(mine[0]["incomplete"], Value::Null);
    }
}

#[test]
#[ignore = "needs root, BPF, nghttp2, Node and Go with golang-golang-x-net-dev; run via scripts/test.sh"]
fn go_h2c_client_against_node_and_curl_upgrade_against_go_h2c_server() {
    let (report, flows) = capture("go");
    let port = report["port"].as_u64().expect("port");
    let answers = report["go_client"].as_array().expect("go's answers");
    for (observer, comm) in [("client", "h2c"), ("server", "node")] {
        let mine = seen_by(&flows, observer, port);
        // Go asks one after another on one connection, on rising odd streams
        // (x/net 0.7 starts at 3).
        assert_eq!(mine.len(), 3, "{observer}: {mine:#?}");
        for (i, (f, answer)) in mine.iter().zip(answers).enumerate() {
            assert_eq!(f["process"]["comm"], comm);
            let id = f["stream_id"].as_u64().unwrap_or(0);
            assert_eq!(id % 2, 1, "{f}");
            if i > 0 {
                assert!(id > mine[i - 1]["stream_id"].as_u64().unwrap_or(0));
            }
            assert_eq!(f["response"]["status"], answer[0]);
            assert_eq!(
                text(&f["response"]["body"]),
                answer[1].as_str().unwrap_or_default()
            );
            assert_eq!(f["incomplete"], Value::Null, "{f}");
        }
        assert_eq!(text(&mine[2]["request"]["body"]), "posted by go");
    }
    let go_port = report["go_port"].as_u64().expect("go port");
    for (observer, comm) in [("client", "curl"), ("server", "h2c")] {
        let mine = seen_by(&flows, observer, go_port);
        // Two curls, each upgrading its own connection: stream 1 both times.
        assert_eq!(mine.len(), 2, "{observer}: {mine:#?}");
        for f in &mine {
            assert_eq!(f["process"]["comm"], comm);
            assert_eq!(f["stream_id"], 1);
            assert_eq!(f["request"]["version"], "HTTP/2");
            assert_eq!(f["response"]["version"], "HTTP/2");
            assert_eq!(f["tunnel"], Value::Null);
            assert_eq!(f["incomplete"], Value::Null, "{f}");
        }
        assert_eq!(text(&mine[0]["request"]["body"]), "upgrade body");
        assert_eq!(
            text(&mine[0]["response"]["body"]),
            report["curl"].as_str().unwrap_or_default()
        );
        assert_eq!(mine[1]["response"]["status"], 404);
        assert_eq!(
            text(&mine[1]["response"]["body"]),
            report["curl_404"].as_str().unwrap_or_default()
        );
    }
}

/// `docker-compose` on fixtures/h2-compose under a project name of our own.
struct Compose {
    project: String,
    www: tempfile::TempDir,
}

impl Compose {
    fn run(&self, args: &[&str]) -> std::process::Output {
        Command::new("docker-compose")
            .arg("-f")
            .arg(repo_root().join("fixtures/h2-compose/docker-compose.yml"))
            .args(["-p", &self.project, "--profile", "client"])
            .args(args)
            .env("H2_WWW", self.www.path())
            .output()
            .expect("run docker-compose")
    }

    fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "docker-compose {args:?}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }
}

impl Drop for Compose {
    fn drop(&mut self) {
        let _ = self.run(&["down", "--remove-orphans", "-t", "1"]);
    }
}

#[test]
#[ignore = "needs root, BPF, Docker, nghttp2 and grpcio; run via scripts/test.sh"]
fn compose_services_talk_h2c_and_grpc_and_flows_name_them() {
    let _guard = privileged();
    crate::support::build_images();
    let www = tempfile::tempdir().expect("tempdir");
    std::fs::write(www.path().join("a"), "hello from a container\n").expect("www");
    let compose = Compose {
        project: format!("ft-h2-{}", std::process::id()),
        www,
    };
    compose.ok(&["up", "-d", "h2srv", "grpcsrv"]);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while !compose.ok(&["logs", "grpcsrv"]).contains("ready") {
        assert!(std::time::Instant::now() < deadline, "grpcsrv never ready");
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("flows.jsonl");
    let live = LiveCapture::start(&[
        "capture",
        "--compose-project",
        &compose.project,
        "-o",
        out.to_str().expect("utf-8 path"),
    ]);
    let said = compose.ok(&["run", "--rm", "client"]);
    std::thread::sleep(std::time::Duration::from_secs(1));
    let (status, stderr) = live.stop();
    assert!(
        status.success() && stderr.contains(" 0 events lost"),
        "{stderr}"
    );
    assert!(
        said.contains("\"get\": [5, \"no such key\"]"),
        "client said {said}"
    );
    let flows: Vec<Value> = std::fs::read_to_string(&out)
        .expect("flows")
        .lines()
        .map(|l| serde_json::from_str(l).expect("JSON"))
        .collect();
    let service = |f: &Value, end: &str| f[end]["container"]["compose_service"].clone();
    for observer in ["client", "server"] {
        let h2: Vec<&Value> = flows
            .iter()
            .filter(|f| f["observer"] == observer && service(f, "dst") == "h2srv")
            .collect();
        assert_eq!(h2.len(), 3, "{observer}: {h2:#?}");
        let find = |method: &str, target: &str| {
            h2.iter()
                .find(|f| f["request"]["method"] == method && f["request"]["target"] == target)
                .unwrap_or_else(|| panic!("{observer}: no {method} {target}"))
        };
        assert_eq!(
            text(&find("GET", "/a")["response"]["body"]),
            "hello from a container\n"
        );
        assert_eq!(find("GET", "/missing")["response"]["status"], 404);
        assert_eq!(
            text(&find("POST", "/a")["request"]["body"]),
            "hello from a container\n"
        );
        for f in &h2 {
            assert_eq!(service(f, "src"), "client");
            assert_eq!(f["request"]["version"], "HTTP/2");
            assert_eq!(f["authority"], "h2srv:8080");
            assert_eq!(f["incomplete"], Value::Null, "{f}");
        }
        let calls: Vec<&Value> = flows
            .iter()
            .filter(|f| f["observer"] == observer && service(f, "dst") == "grpcsrv")
            .collect();
        assert_eq!(calls.len(), 6, "{observer}: {calls:#?}");
        assert!(calls.iter().all(|f| service(f, "src") == "client"));
        let get = calls
            .iter()
            .find(|f| f["grpc"]["method"] == "Get")
            .expect("the NOT_FOUND call");
        assert_eq!(get["grpc"]["status"], 5);
        assert_eq!(get["grpc"]["service"], "demo.Echo");
    }
}
