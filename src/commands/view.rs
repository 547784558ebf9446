//! `flowtap view [FLOWS.jsonl|-]`: follows a flows file (like `tail -f`) or reads
//! stdin, and prints one line per exchange as it completes; a summary per service
//! pair at the end (end of input, SIGINT or SIGTERM).

use std::fs::File;
use std::io::{self, BufRead, BufReader, Write};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use flowtap::merge::{MergeConfig, Merger};
use flowtap::record::{ReadError, Record, RecordReader};
use flowtap::view::{self, Filter, Summary};

use super::har::MAX_LINE;
use crate::cli::{ColorWhen, ViewArgs};

const POLL: Duration = Duration::from_millis(100);
/// Records read ahead of the printing.
const READ_AHEAD: usize = 64;

enum Input {
    Record(Box<Record>),
    Error(ReadError),
    End { oversized: u64 },
}

pub fn run(args: ViewArgs) -> anyhow::Result<()> {
    let stop = Arc::new(AtomicBool::new(false));
    for signal in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(signal, stop.clone()).context("installing signal handlers")?;
    }
    let path = args.flows.clone().filter(|p| p != Path::new("-"));
    let follow = path.is_some() && !args.no_follow;
    let input: Box<dyn BufRead + Send> = match &path {
        Some(p) => Box::new(BufReader::new(
            File::open(p).with_context(|| format!("opening {}", p.display()))?,
        )),
        None => Box::new(BufReader::new(io::stdin())),
    };
    let (tx, rx) = mpsc::sync_channel(READ_AHEAD);
    std::thread::Builder::new()
        .name("view-reader".into())
        .spawn(move || read(input, follow, tx))
        .context("starting the reader thread")?;

    let choice = match args.color {
        ColorWhen::Auto => anstream::ColorChoice::Auto,
        ColorWhen::Always => anstream::ColorChoice::Always,
        ColorWhen::Never => anstream::ColorChoice::Never,
    };
    let stdout = io::stdout();
    let width = terminal_size::terminal_size_of(&stdout).map(|(w, _)| usize::from(w.0));
    let mut out = anstream::AutoStream::new(stdout.lock(), choice);
    let filter = Filter {
        services: args.services.clone(),
        statuses: args.statuses.clone(),
        methods: args.methods.clone(),
        target: args.target.clone(),
        id: args.id.clone(),
    };
    // A file read once has nothing late; a followed one waits for twins a while.
    let mut merger = (!args.no_merge).then(|| {
        Merger::new(MergeConfig {
            wait_ns: (follow || path.is_none()).then_some(2_000_000_000),
            ..MergeConfig::default()
        })
    });
    let started = Instant::now();
    let now = || u64::try_from(started.elapsed().as_nanos()).unwrap_or(u64::MAX);
    let mut summary = Summary::default();
    let mut decided = Vec::new();
    let mut shown = 0u64;
    let mut oversized = 0;
    loop {
        if stop.load(Ordering::Relaxed) {
            break;
        }
        match rx.recv_timeout(POLL) {
            Ok(Input::Record(r)) => match (&mut merger, *r) {
                (Some(m), Record::One(f)) => m.offer(f, now(), &mut decided),
                (_, r) => decided.push(r),
            },
            Ok(Input::Error(e)) => return Err(e).context("reading flows"),
            Ok(Input::End { oversized: n }) => {
                oversized = n;
                break;
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {}
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
        }
        if let Some(m) = &mut merger {
            m.expire(now(), &mut decided);
        }
        shown += show(&mut out, &mut decided, &filter, &args, width, &mut summary)?;
    }
    if let Some(m) = &mut merger {
        m.finish(&mut decided);
    }
    shown += show(&mut out, &mut decided, &filter, &args, width, &mut summary)?;
    out.flush()?;
    drop(out);
    let mut err = anstream::AutoStream::new(io::stderr().lock(), choice);
    let skipped = match oversized {
        0 => String::new(),
        n => format!(", {n} lines over {MAX_LINE} bytes skipped"),
    };
    let merged = merger
        .map(|m| format!(", {}", m.stats()))
        .unwrap_or_default();
    writeln!(err, "flowtap: {shown} exchanges shown{merged}{skipped}")?;
    write!(err, "{}", summary.render())?;
    Ok(())
}

fn show(
    out: &mut impl Write,
    decided: &mut Vec<Record>,
    filter: &Filter,
    args: &ViewArgs,
    width: Option<usize>,
    summary: &mut Summary,
) -> io::Result<u64> {
    let mut shown = 0;
    for r in decided.drain(..) {
        if !filter.matches(&r) {
            continue;
        }
        summary.add(&r);
        shown += 1;
        if args.detail {
            writeln!(out, "{}", view::detail(&r))?;
        } else {
            writeln!(out, "{}", view::line(&r, width))?;
        }
    }
    out.flush()?;
    Ok(shown)
}

/// The reader thread: records as they come; at the end of the data, waits for
/// more when following a file.
fn read(input: Box<dyn BufRead + Send>, follow: bool, tx: mpsc::SyncSender<Input>) {
    let mut reader = RecordReader::new(input, MAX_LINE);
    loop {
        let msg = match reader.next_record() {
            Ok(Some(r)) => Input::Record(Box::new(r)),
            Ok(None) if follow => {
                std::thread::sleep(POLL);
                continue;
            }
            Ok(None) => Input::End {
                oversized: reader.oversized,
            },
            Err(e) => Input::Error(e),
        };
        let last = !matches!(msg, Input::Record(_));
        if tx.send(msg).is_err() || last {
            return;
        }
    }
}
