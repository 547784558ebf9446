//! Command-line flags (clap), turned into validated settings in a second step.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::commands::output::Format;

#[derive(Debug, Parser)]
#[command(
    name = "flowtap",
    version,
    about = "Container-aware HTTP flow capture for Linux"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Capture HTTP flows from live syscalls (needs root, or CAP_BPF + CAP_PERFMON + CAP_SYS_ADMIN).
    Capture(CaptureArgs),
    /// Run a recorded trace through the same pipeline, offline.
    Replay(ReplayArgs),
    /// List the containers flowtap sees.
    Containers(ContainersArgs),
    /// Convert a flows file (JSON Lines) to HAR 1.2, one entry per exchange.
    Har(HarArgs),
    /// Follow a flows file (or stdin) as one line per exchange.
    View(ViewArgs),
    /// Print a trace (either format) as JSON Lines, one event a line.
    Trace(TraceArgs),
}

#[derive(Debug, Args)]
pub struct TraceArgs {
    /// The trace file.
    pub trace: PathBuf,
    /// Write here ("-" or absent: stdout); a .jsonl or .json name gets JSON Lines,
    /// any other the compact format (so this also converts JSON to compact).
    #[arg(short = 'o', long = "output", value_name = "FILE")]
    pub output: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct CaptureArgs {
    /// Write flows here ("-" or absent: stdout); a `.har` name writes HAR.
    #[arg(short = 'o', long = "output", value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Output format (default: HAR for a `.har` file, else JSON Lines).
    #[arg(long, value_enum)]
    pub format: Option<Format>,
    /// One flow per exchange when both ends are traced (HAR always merges).
    #[arg(long)]
    pub merge: bool,
    /// How long a flow waits for the other end's flow of its exchange when merging.
    #[arg(long, value_name = "SECS", default_value_t = 2.0)]
    pub merge_wait: f64,
    /// Also record every raw event to this trace file, for `flowtap replay`: JSON
    /// Lines when it ends in .jsonl or .json, the compact binary format otherwise.
    #[arg(long, value_name = "TRACE")]
    pub record: Option<PathBuf>,
    /// Stop after this many seconds (default: until SIGINT/SIGTERM).
    #[arg(long, value_name = "SECS")]
    pub duration: Option<f64>,
    /// Trace every process on the host, not only containers.
    #[arg(long, conflicts_with = "pid")]
    pub all_processes: bool,
    /// Trace this process and its descendants.
    #[arg(long, value_name = "PID")]
    pub pid: Option<u32>,
    /// Trace the processes in this cgroup v2 directory (absolute path, or its
    /// numeric id as `bpf_get_current_cgroup_id()` reports it); repeatable.
    #[arg(
        long = "cgroup",
        value_name = "PATH|ID",
        conflicts_with = "all_processes"
    )]
    pub cgroups: Vec<String>,
    /// Trace only these containers (name or id); repeatable.
    #[arg(long = "container", value_name = "NAME|ID")]
    pub containers: Vec<String>,
    /// Trace only the containers of this compose project.
    #[arg(long, value_name = "NAME")]
    pub compose_project: Option<String>,
    /// Payload bytes copied per syscall (at most 4 MiB); the rest is counted, not
    /// copied, and its bodies say `truncated`. The default copies every read and
    /// write whole. Each copied byte crosses the kernel ring buffer once: under heavy
    /// traffic a large value needs a large --ring-mib, or events are lost.
    #[arg(long, value_name = "BYTES", default_value_t = flowtap::capture::MAX_PAYLOAD)]
    pub max_payload: u32,
    /// Body bytes kept per HTTP message.
    #[arg(long, value_name = "BYTES", default_value_t = 1024 * 1024)]
    pub max_body: usize,
    /// Body bytes kept for messages in progress across all connections; past it
    /// bodies are cut, counted in the summary, and their flows say so.
    #[arg(long, value_name = "BYTES", default_value_t = 256 << 20)]
    pub body_budget: usize,
    /// The most the kernel ring buffer grows to, in MiB (a power of two).
    #[arg(long, value_name = "MIB", default_value_t = 64)]
    pub ring_mib: u32,
    /// Start the kernel ring buffer at this size in MiB (a power of two, at
    /// most --ring-mib) and grow it to --ring-mib when one read drains an
    /// eighth of it or the kernel drops a record; it shrinks back after a
    /// minute of light traffic. The kernel maps the ring into flowtap twice, so
    /// this is most of an idle capture's memory. Default: 16, or --ring-mib if
    /// that is less; --ring-start-mib equal to --ring-mib makes a ring that
    /// never changes.
    #[arg(long, value_name = "MIB")]
    pub ring_start_mib: Option<u32>,
    /// Also print libbpf's own messages (its verifier log when a program does
    /// not load, its symbol lookups when uprobes attach), prefixed `flowtap: libbpf:`.
    #[arg(short, long)]
    pub verbose: bool,
}

#[derive(Debug, Args)]
pub struct ReplayArgs {
    /// The trace file to replay.
    pub trace: PathBuf,
    /// Write flows here ("-" or absent: stdout); a `.har` name writes HAR.
    #[arg(short = 'o', long = "output", value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Output format (default: HAR for a `.har` file, else JSON Lines).
    #[arg(long, value_enum)]
    pub format: Option<Format>,
    /// One flow per exchange when both ends are traced (HAR always merges).
    #[arg(long)]
    pub merge: bool,
    /// Body bytes kept per HTTP message.
    #[arg(long, value_name = "BYTES", default_value_t = 1024 * 1024)]
    pub max_body: usize,
    /// Body bytes kept for messages in progress across all connections; past it
    /// bodies are cut, counted in the summary, and their flows say so.
    #[arg(long, value_name = "BYTES", default_value_t = 256 << 20)]
    pub body_budget: usize,
    /// Only these containers' flows (name or id), as a live capture with the same
    /// flag would have traced them; repeatable.
    #[arg(long = "container", value_name = "NAME|ID")]
    pub containers: Vec<String>,
    /// Only the flows of this compose project's containers.
    #[arg(long, value_name = "NAME")]
    pub compose_project: Option<String>,
}

#[derive(Debug, Args)]
pub struct ContainersArgs {
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct HarArgs {
    /// Flows as JSON Lines ("-": stdin); merged or not.
    pub flows: PathBuf,
    /// Write the HAR here ("-" or absent: stdout).
    #[arg(short = 'o', long = "output", value_name = "FILE")]
    pub output: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ColorWhen {
    /// When stdout is a terminal and NO_COLOR is unset.
    Auto,
    Always,
    Never,
}

#[derive(Debug, Args)]
pub struct ViewArgs {
    /// Flows as JSON Lines, merged or not ("-" or absent: stdin). A file is
    /// followed as it grows, like `tail -f`.
    pub flows: Option<PathBuf>,
    /// Read the file once and stop at its end instead of following it.
    #[arg(long)]
    pub no_follow: bool,
    /// Only exchanges with this compose service, container (name or id) or
    /// shown name (a process, an ip:port) at either end; repeatable.
    #[arg(long = "service", value_name = "NAME")]
    pub services: Vec<String>,
    /// Only these statuses: a class (5xx), a code (404), or none (no response);
    /// repeatable.
    #[arg(long = "status", value_name = "CLASS|CODE")]
    pub statuses: Vec<flowtap::view::StatusMatch>,
    /// Only these methods; repeatable.
    #[arg(long = "method", value_name = "METHOD")]
    pub methods: Vec<String>,
    /// Only targets containing this.
    #[arg(long, value_name = "TEXT")]
    pub target: Option<String>,
    /// Only the exchange with this id (either end's).
    #[arg(long, value_name = "ID")]
    pub id: Option<String>,
    /// Show each exchange in full: headers, bodies (JSON pretty-printed), timings.
    #[arg(long)]
    pub detail: bool,
    /// Show the two ends' flows of an exchange apart instead of merging them.
    #[arg(long)]
    pub no_merge: bool,
    /// Colour the output.
    #[arg(long, value_enum, default_value_t = ColorWhen::Auto)]
    pub color: ColorWhen,
}
