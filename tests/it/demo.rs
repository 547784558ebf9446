//! The demo compose app on its own (no capture): it comes up from local images,
//! its client makes every request of its known mix and gets the expected statuses,
//! and the manifest the end-to-end test will check flows against says so.

use std::path::Path;
use std::process::{Command, Output};

use crate::support::{build_images, repo_root};

/// `docker-compose` on the demo under a project name of this test's own.
pub struct Demo {
    pub project: String,
    pub out: tempfile::TempDir,
}

impl Demo {
    pub fn compose(&self, args: &[&str]) -> Output {
        let file = repo_root().join("fixtures/demo/docker-compose.yml");
        Command::new("docker-compose")
            .arg("-f")
            .arg(&file)
            .args(["-p", &self.project, "--profile", "client"])
            .args(args)
            .env("DEMO_OUT", self.out.path())
            .output()
            .expect("run docker-compose")
    }
}

impl Drop for Demo {
    fn drop(&mut self) {
        let _ = self.compose(&["down", "--remove-orphans", "-t", "1"]);
    }
}

pub fn assert_ok(what: &str, out: &Output) {
    assert!(
        out.status.success(),
        "{what} failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
#[ignore = "needs Docker; run via scripts/test.sh"]
fn the_demo_client_gets_every_expected_status() {
    build_images();
    let demo = Demo {
        project: format!("flowtapit{}", std::process::id()),
        out: tempfile::tempdir().unwrap(),
    };
    assert_ok(
        "compose up",
        &demo.compose(&["up", "-d", "api", "web", "gosrv", "proxy"]),
    );
    assert_ok("the client", &demo.compose(&["run", "--rm", "client"]));

    let manifest: serde_json::Value = serde_json::from_slice(
        &std::fs::read(Path::new(demo.out.path()).join("manifest.json")).unwrap(),
    )
    .unwrap();
    let requests = manifest["requests"].as_array().unwrap();
    let count = |f: &dyn Fn(&serde_json::Value) -> bool| requests.iter().filter(|r| f(r)).count();
    assert!(requests.len() >= 20, "{} requests", requests.len());
    for r in requests {
        assert_eq!(r["status"], r["expected_status"], "{r}");
        assert!(r["error"].is_null(), "{r}");
    }
    // The mix the issue asks for is really there.
    for method in ["GET", "POST", "PUT", "DELETE"] {
        assert!(count(&|r| r["method"] == method) > 0, "no {method}");
    }
    for service in ["api", "web", "gosrv", "proxy"] {
        assert!(
            count(&|r| r["service"] == service) > 0,
            "nothing to {service}"
        );
    }
    for tool in ["curl", "http.client"] {
        assert!(count(&|r| r["tool"] == tool) > 0, "nothing with {tool}");
    }
    assert!(count(&|r| r["status"] == 404) >= 2);
    assert!(count(&|r| r["chunked"] == true) >= 2);
    assert!(count(&|r| r["response_body"]["size"] == 2 * 1024 * 1024) >= 2);
    // A keep-alive series: several requests on one connection.
    let mut per_connection = std::collections::HashMap::<String, usize>::new();
    for r in requests {
        *per_connection
            .entry(r["connection"].as_str().unwrap().to_string())
            .or_default() += 1;
    }
    assert!(
        per_connection.values().any(|&n| n >= 3),
        "{per_connection:?}"
    );
}

mod end_to_end {
    //! The end-to-end scenario: flowtap captures the demo while its client
    //! runs, and every request the client made must be in the flows, named by
    //! compose service on both observers, with nginx's hop as two exchanges; a
    //! restarted container keeps being captured; `--container` excludes the rest.

    use std::path::Path;

    use serde_json::Value;

    use super::{assert_ok, Demo};
    use crate::support::{build_images, privileged, LiveCapture};

    fn read_jsonl(path: &Path) -> Vec<Value> {
        std::fs::read_to_string(path)
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
            .lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
            .collect()
    }

    fn service(endpoint: &Value) -> &str {
        endpoint["container"]["compose_service"]
            .as_str()
            .unwrap_or("<none>")
    }

    /// Where nginx sends a proxied target, per fixtures/demo/proxy/nginx.conf.
    fn upstream(target: &str) -> Option<(&'static str, String)> {
        [("/api/", "api"), ("/web/", "web"), ("/go/", "gosrv")]
            .into_iter()
            .find_map(|(prefix, svc)| {
                target
                    .strip_prefix(prefix)
                    .map(|rest| (svc, format!("/{rest}")))
            })
    }

    /// Takes the first flow matching `pred` out of `pool`.
    fn take(pool: &mut Vec<Value>, pred: impl Fn(&Value) -> bool) -> Option<Value> {
        pool.iter().position(pred).map(|i| pool.remove(i))
    }

    fn exchange_is(
        f: &Value,
        observer: &str,
        src: &str,
        dst: &str,
        method: &str,
        target: &str,
    ) -> bool {
        f["observer"] == observer
            && service(&f["src"]) == src
            && service(&f["dst"]) == dst
            && f["request"]["method"] == method
            && f["request"]["target"] == target
    }

    fn container_id(demo: &Demo, svc: &str) -> String {
        let out = demo.compose(&["ps", "-q", svc]);
        assert_ok("compose ps", &out);
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    #[test]
    #[ignore = "needs root, BPF and Docker; run via scripts/test.sh"]
    fn capture_names_every_exchange_of_the_demo() {
        let _guard = privileged();
        build_images();
        let demo = Demo {
            project: format!("ftcap{}", std::process::id()),
            out: tempfile::tempdir().expect("tempdir"),
        };
        assert_ok(
            "compose up",
            &demo.compose(&["up", "-d", "api", "web", "gosrv", "proxy"]),
        );
        let api_id = container_id(&demo, "api");
        assert_eq!(api_id.len(), 64, "compose ps gave {api_id:?}");

        let dir = tempfile::tempdir().expect("tempdir");
        let (all_flows, api_flows) = (dir.path().join("all.jsonl"), dir.path().join("api.jsonl"));
        let all = LiveCapture::start(&[
            "capture",
            "--compose-project",
            &demo.project,
            "-o",
            all_flows.to_str().unwrap(),
        ]);
        let only_api = LiveCapture::start(&[
            "capture",
            "--container",
            &api_id[..12],
            "-o",
            api_flows.to_str().unwrap(),
        ]);

        assert_ok("the client", &demo.compose(&["run", "--rm", "client"]));
        // Restart the API mid-capture (it gets a new cgroup), then talk to it again.
        assert_ok("restart api", &demo.compose(&["restart", "-t", "1", "api"]));
        let after = demo.compose(&[
            "run",
            "--rm",
            "client",
            "/usr/bin/curl",
            "-sS",
            "--retry",
            "30",
            "--retry-connrefused",
            "--retry-delay",
            "1",
            "http://api:8000/items?after=restart",
        ]);
        assert_ok("a request after the restart", &after);
        std::thread::sleep(std::time::Duration::from_secs(1));
        let (status, stderr) = all.stop();
        assert!(
            status.success() && stderr.contains(" 0 events lost"),
            "{stderr}"
        );
        let (status, api_stderr) = only_api.stop();
        assert!(status.success(), "{api_stderr}");

        let manifest: Value =
            serde_json::from_slice(&std::fs::read(demo.out.path().join("manifest.json")).unwrap())
                .unwrap();
        let requests = manifest["requests"].as_array().expect("requests");
        let mut pool = read_jsonl(&all_flows);
        let total = pool.len();

        for r in requests {
            let (method, target, svc) = (
                r["method"].as_str().unwrap(),
                r["target"].as_str().unwrap(),
                r["service"].as_str().unwrap(),
            );
            for observer in ["client", "server"] {
                let f = take(&mut pool, |f| {
                    exchange_is(f, observer, "client", svc, method, target)
                })
                .unwrap_or_else(|| {
                    panic!("no {observer}-side flow client→{svc} {method} {target}")
                });
                let who = if observer == "client" { "client" } else { svc };
                assert_eq!(service(&f["process"]), who, "{f}");
                assert_eq!(f["response"]["status"], r["status"], "{f}");
                assert_eq!(
                    f["request"]["body"]["size"], r["request_body"]["size"],
                    "{method} {target}"
                );
                assert_eq!(
                    f["response"]["body"]["size"], r["response_body"]["size"],
                    "{method} {target}"
                );
                if let Some(text) = r["response_body"]["text"].as_str() {
                    assert_eq!(f["response"]["body"]["text"], text, "{method} {target}");
                }
                if let Some(text) = r["request_body"]["text"].as_str() {
                    assert_eq!(f["request"]["body"]["text"], text, "{method} {target}");
                }
            }
            // A proxied request is also nginx's own exchange with its upstream.
            if let (Some(true), Some((up, up_target))) =
                (r["via_proxy"].as_bool(), upstream(target))
            {
                for observer in ["client", "server"] {
                    let f = take(&mut pool, |f| {
                        exchange_is(f, observer, "proxy", up, method, &up_target)
                    })
                    .unwrap_or_else(|| {
                        panic!("no {observer}-side hop proxy→{up} {method} {up_target}")
                    });
                    assert_eq!(f["response"]["status"], r["status"], "{f}");
                }
            }
        }
        // After the restart the new API process is still captured, server side too.
        for observer in ["client", "server"] {
            let f = take(&mut pool, |f| {
                exchange_is(f, observer, "client", "api", "GET", "/items?after=restart")
            })
            .unwrap_or_else(|| {
                let same_target: Vec<_> = pool
                    .iter()
                    .filter(|f| f["request"]["target"] == "/items?after=restart")
                    .collect();
                panic!(
                    "no {observer}-side flow after the restart; with that target: {same_target:#?}"
                )
            });
            assert_eq!(f["response"]["status"], 200);
        }
        assert!(
            pool.is_empty(),
            "{} flows beyond the client's requests: {pool:#?}",
            pool.len()
        );

        // --container: only the API's own syscalls, all of them.
        let api_only = read_jsonl(&api_flows);
        assert!(!api_only.is_empty());
        for f in &api_only {
            assert_eq!(
                service(&f["process"]),
                "api",
                "flow from an excluded container: {f}"
            );
            assert_eq!(f["observer"], "server");
        }
        let api_served = read_jsonl(&all_flows)
            .iter()
            .filter(|f| service(&f["process"]) == "api")
            .count();
        assert_eq!(
            api_only.len(),
            api_served,
            "the API-only capture saw all of the API's exchanges"
        );
        assert!(total > requests.len() * 2);
    }
}
