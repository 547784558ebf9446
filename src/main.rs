//! The `flowtap` binary: parse flags, run the command, print errors once.

mod cli;
mod commands;

use std::io;
use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    flowtap::heap::configure();
    let cli = cli::Cli::parse();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            // A closed stdout (`flowtap … | head`) is a normal way to stop.
            if err.chain().any(|c| {
                c.downcast_ref::<io::Error>()
                    .is_some_and(|e| e.kind() == io::ErrorKind::BrokenPipe)
            }) {
                return ExitCode::SUCCESS;
            }
            eprintln!("flowtap: {err:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: cli::Cli) -> anyhow::Result<()> {
    match cli.command {
        cli::Command::Capture(args) => commands::capture::run(args),
        cli::Command::Replay(args) => commands::replay::run(args),
        cli::Command::Containers(args) => commands::list_containers::run(args),
        cli::Command::Trace(args) => commands::trace::run(args),
        cli::Command::Har(args) => commands::har::run(args),
        cli::Command::View(args) => commands::view::run(args),
    }
}
