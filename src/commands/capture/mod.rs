//! `flowtap capture`: live events from the kernel, recorded and turned into flows.

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use flowtap::capture::{Capture, CaptureConfig, Scope};
use flowtap::clock;
use flowtap::containers::{ContainerFeed, FeedError};
use flowtap::event::EventBatch;
use flowtap::merge::MergeConfig;
use flowtap::pipeline::{self, Pipeline};
use flowtap::selection::{CgroupFilter, Selector};
use flowtap::session::Session;
use flowtap::trace::{TraceFormat, TraceWriter};

use super::output::Output;
use crate::cli::CaptureArgs;

/// Batches of events buffered between the capture thread and this one: a
/// batch holds at most about 1 MiB (capture::poller), so this bounds them to
/// about 32 MiB; past it the capture thread waits and the kernel's ring fills.
const CHANNEL_DEPTH: usize = 32;
/// The ring's start size by default. The kernel maps a ring into flowtap
/// twice, so this is most of an idle capture's memory (README, Memory
/// budgets); 16 MiB took a 26 MB burst from idle on a 2-core machine while the
/// ring grew (tests/it/reorder_live.rs), where 8 MiB did not.
const RING_START_BYTES: u32 = 16 << 20;
const TICK: Duration = Duration::from_millis(100);
/// Batches taken in one go before flows are let out and a stop request is checked.
const BURST: usize = 8;
/// How far behind the clock events may still arrive: the pipeline's deadlines are
/// only advanced to `now - SLACK`, so a late event never finds its socket released.
const SLACK_NS: u64 = 200_000_000;

pub fn run(args: CaptureArgs) -> anyhow::Result<()> {
    flowtap::capture::set_verbose(args.verbose);
    let config = capture_config(&args)?;
    let duration = args.duration.map(capture_duration).transpose()?;
    let stop = stop_on_signals()?;
    let recorder = args.record.as_deref().map(open_trace).transpose()?;
    if !(args.merge_wait.is_finite() && args.merge_wait >= 0.0) {
        bail!("--merge-wait must be a number of seconds");
    }
    let merge = MergeConfig {
        wait_ns: Some((args.merge_wait * 1e9) as u64),
        ..MergeConfig::default()
    };
    let mut sink = Output::open(
        args.output.as_deref(),
        args.format,
        args.merge.then_some(merge),
        merge,
    )?;
    let flows = Pipeline::new(
        pipeline::Config {
            max_body: args.max_body,
            body_budget: args.body_budget,
            ..Default::default()
        },
        &mut sink,
    );

    let cgroups = args
        .cgroups
        .iter()
        .map(|c| cgroup_id(c))
        .collect::<anyhow::Result<Vec<_>>>()?;

    let selector = Selector::new(args.containers.clone(), args.compose_project.clone());
    // Containers are traced by default, or when selected; otherwise Docker only names.
    let traces_containers =
        config.scope == Scope::Cgroups && cgroups.is_empty() || !selector.is_all();

    let (tx, rx) = mpsc::sync_channel(CHANNEL_DEPTH);
    let container_events = tx.clone();
    let mut capture = Capture::start(config, tx)?;
    for id in cgroups {
        capture.filters().trace_cgroup(id)?;
    }
    let mut feed = follow_docker(
        &selector,
        traces_containers.then(|| capture.filters()),
        container_events,
    )?;
    // The containers seen at start are in the filters now: hook their TLS first.
    capture.look_for_tls();
    eprintln!(
        "flowtap: ready, capturing{}",
        args.duration
            .map(|s| format!(" for {s}s"))
            .unwrap_or_default()
    );

    let deadline = duration.and_then(|d| Instant::now().checked_add(d));
    let mut consumer = Session::live(selector, recorder, flows);
    loop {
        if stop.load(Ordering::Relaxed) || deadline.is_some_and(|d| Instant::now() >= d) {
            // The channel closes once both the kernel and the Docker side are done.
            if let Some(feed) = feed.take() {
                feed.stop();
            }
            capture.request_stop();
        }
        match rx.recv_timeout(TICK) {
            Ok(batch) => {
                // With what else is already waiting (a bounded share, so that a stop
                // request is still seen under load), then the flows are let out.
                let waiting = rx.try_iter().take(BURST);
                for event in std::iter::once(batch).chain(waiting).flatten() {
                    consumer.take(event)?;
                }
                consumer.caught_up()?;
            }
            // Quiet for a tick: nothing older than the slack is still on its way.
            Err(mpsc::RecvTimeoutError::Timeout) => {
                consumer.quiet_until(clock::monotonic_ns().saturating_sub(SLACK_NS))?
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
        }
    }
    let stats = capture.figures()?;
    let mut summary = consumer.finish()?;
    summary.pipeline.flows_written = sink.written();
    eprintln!(
        "flowtap: {summary}, {} undecodable records, {} io_uring instances unseen, {} processes with TLS not hooked, {} TLS calls with no socket, {} sendfile bodies read from their files, {} not, a ring buffer of {} MiB at most ({} resizes){}",
        stats.decode_errors,
        stats.io_urings,
        stats.tls_unhookable,
        stats.tls_unmapped,
        stats.sendfile_filled,
        stats.sendfile_unfilled,
        stats.ring_largest >> 20,
        stats.ring_resizes,
        sink.merge_summary()
    );
    // The flows and the summary are out; detaching the probes takes seconds.
    capture.join()?;
    Ok(())
}

/// `--duration`, checked so that no value can overflow the deadline later.
fn capture_duration(secs: f64) -> anyhow::Result<Duration> {
    Duration::try_from_secs_f64(secs)
        .ok()
        .filter(|d| !d.is_zero() && Instant::now().checked_add(*d).is_some())
        .with_context(|| {
            format!("--duration {secs}: give a positive number of seconds the clock can reach")
        })
}

/// Starts following Docker. With a `filter`, containers are what is traced and
/// no Docker is an error; without, Docker only names containers and its absence
/// is a warning.
fn follow_docker<F>(
    selector: &Selector,
    filter: Option<Arc<F>>,
    events: mpsc::SyncSender<EventBatch>,
) -> anyhow::Result<Option<ContainerFeed>>
where
    F: CgroupFilter + Send + Sync + 'static,
    F::Error: std::error::Error + Send + Sync + 'static,
{
    let traces = filter.is_some();
    match ContainerFeed::start(selector.clone(), filter, events) {
        Ok(feed) => Ok(Some(feed)),
        Err(e @ FeedError::Docker(_)) if !traces => {
            eprintln!("flowtap: warning: {e}; containers will not be named");
            Ok(None)
        }
        Err(e @ FeedError::Docker(_)) => Err(e).context(if selector.is_all() {
            "tracing containers needs Docker (or use --all-processes, --pid or --cgroup)"
        } else {
            "--container and --compose-project need Docker"
        }),
        Err(e) => Err(e.into()),
    }
}

fn capture_config(args: &CaptureArgs) -> anyhow::Result<CaptureConfig> {
    let scope = if args.all_processes {
        Scope::AllProcesses
    } else if let Some(pid) = args.pid {
        if !Path::new(&format!("/proc/{pid}")).exists() {
            bail!("--pid {pid}: no such process");
        }
        Scope::ProcessTrees(vec![pid])
    } else {
        Scope::Cgroups
    };
    let mebibytes = |flag: &str, mib: u32| {
        mib.checked_mul(1 << 20)
            .filter(|b| b.is_power_of_two())
            .with_context(|| format!("{flag} must be a power of two below 4096"))
    };
    let ring_max_bytes = mebibytes("--ring-mib", args.ring_mib)?;
    let ring_start_bytes = match args.ring_start_mib {
        Some(mib) => mebibytes("--ring-start-mib", mib)?,
        None => RING_START_BYTES.min(ring_max_bytes),
    };
    Ok(CaptureConfig {
        scope,
        max_payload: args.max_payload,
        ring_start_bytes,
        ring_max_bytes,
    })
}

/// A cgroup's id (the inode of its cgroup v2 directory) from a path or the id itself.
fn cgroup_id(arg: &str) -> anyhow::Result<u64> {
    use std::os::unix::fs::MetadataExt;
    if let Ok(id) = arg.parse::<u64>() {
        return Ok(id);
    }
    let path = Path::new(arg);
    if !path.is_absolute() {
        bail!("--cgroup {arg}: give an absolute path to a cgroup v2 directory, or its numeric id");
    }
    let meta = std::fs::metadata(path).with_context(|| format!("--cgroup {arg}"))?;
    if !meta.is_dir() || !path.join("cgroup.procs").exists() {
        bail!("--cgroup {arg}: not a cgroup directory");
    }
    Ok(meta.ino())
}

fn open_trace(path: &Path) -> anyhow::Result<TraceWriter<std::fs::File>> {
    TraceWriter::create(path, TraceFormat::for_path(path))
        .with_context(|| format!("creating trace file {}", path.display()))
}

/// A flag raised by the first SIGINT or SIGTERM; a second one ends the process.
fn stop_on_signals() -> anyhow::Result<Arc<AtomicBool>> {
    use signal_hook::consts::{SIGINT, SIGTERM};
    let stop = Arc::new(AtomicBool::new(false));
    for signal in [SIGINT, SIGTERM] {
        signal_hook::flag::register_conditional_shutdown(signal, 1, stop.clone())
            .context("installing signal handlers")?;
        signal_hook::flag::register(signal, stop.clone()).context("installing signal handlers")?;
    }
    Ok(stop)
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;
    use crate::cli::{Cli, Command};

    fn config(flags: &[&str]) -> anyhow::Result<CaptureConfig> {
        let args = ["flowtap", "capture", "--all-processes"]
            .iter()
            .chain(flags);
        match Cli::try_parse_from(args)?.command {
            Command::Capture(args) => capture_config(&args),
            _ => unreachable!("parsed as capture"),
        }
    }

    #[test]
    fn the_ring_starts_at_16_mib_and_grows_to_ring_mib() {
        let c = config(&[]).unwrap();
        assert_eq!((c.ring_start_bytes, c.ring_max_bytes), (16 << 20, 64 << 20));
        let c = config(&["--ring-mib", "256"]).unwrap();
        assert_eq!(
            (c.ring_start_bytes, c.ring_max_bytes),
            (16 << 20, 256 << 20)
        );
        // A smaller most is also where it starts: a ring that never changes.
        let c = config(&["--ring-mib", "8"]).unwrap();
        assert_eq!((c.ring_start_bytes, c.ring_max_bytes), (8 << 20, 8 << 20));
        let c = config(&["--ring-start-mib", "64"]).unwrap();
        assert_eq!((c.ring_start_bytes, c.ring_max_bytes), (64 << 20, 64 << 20));
        assert!(config(&["--ring-start-mib", "12"]).is_err());
    }
}
