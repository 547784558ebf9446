//! `flowtap containers`: what flowtap sees of Docker, as a table or JSON.

use std::io::{self, Write};

use anyhow::Context;
use flowtap::containers::Docker;
use flowtap::event::ContainerInfo;

use crate::cli::ContainersArgs;

pub fn run(args: ContainersArgs) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let containers = runtime.block_on(async {
        let docker = Docker::connect().await?;
        docker.running().await
    })?;
    let mut out = io::stdout().lock();
    if args.json {
        serde_json::to_writer_pretty(&mut out, &containers)?;
        writeln!(out)?;
    } else {
        out.write_all(table(&containers).as_bytes())?;
    }
    out.flush()?;
    Ok(())
}

/// Columns padded to their widest cell, like `docker ps`.
fn table(containers: &[ContainerInfo]) -> String {
    let dash = || "-".to_string();
    let mut rows = vec![["NAME", "SERVICE", "PROJECT", "CGROUP ID", "IPS"].map(String::from)];
    for c in containers {
        let ips: Vec<String> = c.ips.iter().map(ToString::to_string).collect();
        rows.push([
            c.name.to_string(),
            c.compose_service
                .as_deref()
                .map_or_else(dash, str::to_string),
            c.compose_project
                .as_deref()
                .map_or_else(dash, str::to_string),
            c.cgroup_id.map(|id| id.to_string()).unwrap_or_else(dash),
            if ips.is_empty() {
                dash()
            } else {
                ips.join(",")
            },
        ]);
    }
    let mut widths = [0usize; 5];
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut text = String::new();
    for row in &rows {
        let cells: Vec<String> = row
            .iter()
            .zip(widths)
            .map(|(cell, w)| format!("{cell:<w$}"))
            .collect();
        text.push_str(cells.join("  ").trim_end());
        text.push('\n');
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_aligns_columns_and_marks_what_is_missing() {
        let api = ContainerInfo {
            id: "a".repeat(64).into(),
            name: "demo_api_1".into(),
            compose_project: Some("demo".into()),
            compose_service: Some("api".into()),
            cgroup_id: Some(4321),
            ips: vec!["172.18.0.2".parse().unwrap(), "fd00::2".parse().unwrap()],
            pid: Some(7),
        };
        let loose = ContainerInfo {
            id: "b".repeat(64).into(),
            name: "x".into(),
            compose_project: None,
            compose_service: None,
            cgroup_id: None,
            ips: vec![],
            pid: None,
        };
        let text = table(&[api, loose]);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines,
            vec![
                "NAME        SERVICE  PROJECT  CGROUP ID  IPS",
                "demo_api_1  api      demo     4321       172.18.0.2,fd00::2",
                "x           -        -        -          -",
            ]
        );
    }

    #[test]
    fn an_empty_table_is_the_header() {
        assert_eq!(table(&[]), "NAME  SERVICE  PROJECT  CGROUP ID  IPS\n");
    }
}
