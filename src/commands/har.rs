//! `flowtap har FLOWS.jsonl -o out.har`: a flows file as HAR 1.2, the two halves
//! of each exchange merged into one entry.

use std::fs::File;
use std::io::{self, BufRead, BufReader};
use std::path::Path;

use anyhow::Context as _;
use flowtap::merge::Merger;
use flowtap::record::RecordReader;
use flowtap::sink::{Har, Sink};

use super::replay::OFFLINE_MERGE;
use crate::cli::HarArgs;

/// Longest flows line read; longer ones are skipped and counted.
pub const MAX_LINE: usize = 256 << 20;

pub fn run(args: HarArgs) -> anyhow::Result<()> {
    let input: Box<dyn BufRead> = if args.flows == Path::new("-") {
        Box::new(io::stdin().lock())
    } else {
        let file =
            File::open(&args.flows).with_context(|| format!("opening {}", args.flows.display()))?;
        Box::new(BufReader::new(file))
    };
    let mut reader = RecordReader::new(input, MAX_LINE);
    let mut har = Har::create(args.output.as_deref()).with_context(|| match &args.output {
        Some(p) => format!("creating {}", p.display()),
        None => "opening stdout".to_string(),
    })?;
    let mut merger = Merger::new(OFFLINE_MERGE);
    let mut decided = Vec::new();
    let mut read = 0u64;
    loop {
        let record = reader
            .next_record()
            .with_context(|| format!("reading {}", args.flows.display()))?;
        let Some(record) = record else { break };
        read += 1;
        match record {
            flowtap::record::Record::One(flow) => merger.offer(flow, 0, &mut decided),
            both => decided.push(both),
        }
        for r in decided.drain(..) {
            har.write_record(&r)?;
        }
    }
    merger.finish(&mut decided);
    for r in decided.drain(..) {
        har.write_record(&r)?;
    }
    har.finish()?;
    let skipped = match reader.oversized {
        0 => String::new(),
        n => format!(", {n} lines over {MAX_LINE} bytes skipped"),
    };
    eprintln!(
        "flowtap: {read} flows read, {} entries written, {}{skipped}",
        har.entries(),
        merger.stats()
    );
    Ok(())
}
