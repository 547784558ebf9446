//! libbpf's own messages (its verifier log, ELF symbol lookups) go through
//! flowtap's stderr with a `flowtap: libbpf:` prefix, and only with `--verbose`:
//! otherwise a load that fails is told in flowtap's one line, not in a page of log.

use std::sync::atomic::{AtomicBool, Ordering};

use libbpf_rs::PrintLevel;

static VERBOSE: AtomicBool = AtomicBool::new(false);

/// Shows libbpf's messages down to its debug level from now on.
pub fn set_verbose(verbose: bool) {
    VERBOSE.store(verbose, Ordering::Relaxed);
    route();
}

/// Takes libbpf's printing over (idempotent; the capture calls it before loading).
pub(crate) fn route() {
    libbpf_rs::set_print(Some((PrintLevel::Debug, print)));
}

fn print(_level: PrintLevel, message: String) {
    if VERBOSE.load(Ordering::Relaxed) {
        for line in message.lines() {
            // libbpf names itself at the start of most messages already.
            let line = line.strip_prefix("libbpf: ").unwrap_or(line);
            eprintln!("flowtap: libbpf: {line}");
        }
    }
}
