//! The demo compose app on its own (no capture): it comes up from local images,
//! its client makes every request of its known mix and gets the expected statuses,
//! and the manifest the end-to-end test will check flows against says so.

use std::path::Path;
use std::process::{Command, Output};

use crate::support::repo_root;

/// `docker-compose` on the demo under a project name of this test's own.
struct Demo {
    project: String,
    out: tempfile::TempDir,
}

impl Demo {
    fn compose(&self, args: &[&str]) -> Output {
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

fn assert_ok(what: &str, out: &Output) {
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
    let built = Command::new(repo_root().join("scripts/build-images.sh"))
        .status()
        .expect("run build-images.sh");
    assert!(built.success());
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
