//! Command-line flags (clap), turned into validated settings in a second step.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

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
}

#[derive(Debug, Args)]
pub struct CaptureArgs {
    /// Write flows here as JSON Lines ("-" or absent: stdout).
    #[arg(short = 'o', long = "output", value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Also record every raw event to this trace file, for `flowtap replay`.
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
    /// Payload bytes captured per syscall; the rest is counted, not copied.
    #[arg(long, value_name = "BYTES", default_value_t = 64 * 1024)]
    pub max_payload: u32,
    /// Body bytes kept per HTTP message.
    #[arg(long, value_name = "BYTES", default_value_t = 1024 * 1024)]
    pub max_body: usize,
    /// Body bytes kept for messages in progress across all connections; past it
    /// bodies are cut, counted in the summary, and their flows say so.
    #[arg(long, value_name = "BYTES", default_value_t = 256 << 20)]
    pub body_budget: usize,
    /// Kernel ring buffer size in MiB (a power of two).
    #[arg(long, value_name = "MIB", default_value_t = 64)]
    pub ring_mib: u32,
}

#[derive(Debug, Args)]
pub struct ReplayArgs {
    /// The trace file to replay.
    pub trace: PathBuf,
    /// Write flows here as JSON Lines ("-" or absent: stdout).
    #[arg(short = 'o', long = "output", value_name = "FILE")]
    pub output: Option<PathBuf>,
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
