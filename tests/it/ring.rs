//! The ring buffer sized by the traffic (root, `--ring-start-mib`): small while
//! the reader keeps up, grown when a burst outruns it, and nothing lost or out
//! of order across the swaps.

use std::time::{Duration, Instant};

use serde_json::Value;

use crate::support::{privileged, Harness, LiveCapture};
use crate::truth::read_flows;

const MIB: u64 = 1 << 20;
const PAGE: u64 = 4096;

/// The sizes of flowtap's mappings of BPF maps: a ring of N bytes is mapped as
/// one page the reader writes, and one of the producer's page and the data
/// pages twice over (2 N + a page), which is what counts in its RSS.
fn bpf_map_mappings(pid: u32) -> Vec<u64> {
    std::fs::read_to_string(format!("/proc/{pid}/maps"))
        .expect("read flowtap's maps")
        .lines()
        .filter(|l| l.ends_with("anon_inode:bpf-map"))
        .filter_map(|l| {
            let (start, end) = l.split_whitespace().next()?.split_once('-')?;
            Some(u64::from_str_radix(end, 16).ok()? - u64::from_str_radix(start, 16).ok()?)
        })
        .collect()
}

fn ring_mapping(mib: u64) -> u64 {
    2 * mib * MIB + PAGE
}

/// Waits until flowtap maps exactly one ring, of `mib`.
fn wait_for_one_ring(pid: u32, mib: u64) -> Vec<u64> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let maps = bpf_map_mappings(pid);
        let rings: Vec<_> = maps.iter().filter(|&&size| size > 2 * MIB).collect();
        if rings == [&ring_mapping(mib)] || Instant::now() > deadline {
            return maps;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
#[ignore = "needs root and BPF; run via scripts/test.sh"]
fn the_ring_grows_when_a_burst_outruns_the_reader_and_loses_nothing() {
    let _guard = privileged();
    let dir = tempfile::tempdir().expect("tempdir");
    let flows = dir.path().join("flows.jsonl");
    let mut harness = Harness::program("truth.py", "bursts", &[]);
    let pid = harness.pid().to_string();
    let flows_arg = flows.to_str().expect("utf-8");
    let args = [
        "capture",
        "--pid",
        &pid,
        "--ring-start-mib",
        "8",
        "-o",
        flows_arg,
    ];
    let mut live = LiveCapture::start(&args);
    // It starts at 8 MiB.
    let maps = wait_for_one_ring(live.pid(), 8);
    assert!(maps.contains(&ring_mapping(8)), "{maps:?}");
    assert!(!maps.contains(&ring_mapping(64)), "{maps:?}");

    // Two 1 MB downloads while flowtap is stopped: about 4 MB of records (the
    // server's writes and curl's reads), which the first read after finds
    // waiting, over an eighth of the ring. It doubles at once, then goes on
    // to the most it may be.
    live.pause();
    let first = harness.step();
    live.resume();
    assert_eq!(first["statuses"], serde_json::json!([200, 200]));
    for mib in [16, 64] {
        assert!(
            live.wait_for(
                &format!("the ring buffer is now {mib} MiB"),
                Duration::from_secs(30)
            ),
            "the ring did not grow to {mib} MiB"
        );
    }
    // Each old ring is let go once drained, as the reader moves to the next.
    let maps = wait_for_one_ring(live.pid(), 64);
    assert!(maps.contains(&ring_mapping(64)), "{maps:?}");
    assert!(!maps.contains(&ring_mapping(8)), "{maps:?}");
    assert!(!maps.contains(&ring_mapping(16)), "{maps:?}");

    // Twelve more while flowtap is stopped: about 24 MB of records, three
    // times what the first ring held, none of them lost.
    live.pause();
    let result = harness.go();
    live.resume();
    let (status, stderr) = live.stop();
    assert!(status.success(), "capture failed: {status}\n{stderr}");
    assert!(stderr.contains("0 events lost"), "{stderr}");
    assert!(stderr.contains("0 bytes in gaps"), "{stderr}");
    assert!(
        stderr.contains("a ring buffer of 64 MiB at most (2 resizes)"),
        "{stderr}"
    );

    let statuses = result["statuses"].as_array().expect("statuses");
    assert_eq!(statuses.len(), 14);
    assert!(statuses.iter().all(|s| s == 200), "{statuses:?}");
    let body = std::fs::read(result["body_file"].as_str().expect("body_file")).expect("body");
    let _ = std::fs::remove_file(result["body_file"].as_str().expect("body_file"));
    let flows = read_flows(&flows);
    for observer in ["client", "server"] {
        let mine: Vec<&Value> = flows.iter().filter(|f| f["observer"] == observer).collect();
        assert_eq!(mine.len(), 14, "{observer}: {} flows", mine.len());
        for f in mine {
            assert!(f["incomplete"].is_null(), "{observer}: {}", f["incomplete"]);
            assert_eq!(f["response"]["status"], 200);
            let b = &f["response"]["body"];
            assert_eq!(b["size"], body.len(), "{observer}");
            assert_eq!(b["truncated"], false, "{observer}");
            assert!(
                b["text"].as_str().map(str::as_bytes) == Some(body.as_slice()),
                "{observer}: the body differs from what was sent"
            );
        }
    }
}
