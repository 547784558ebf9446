//! Where a command's flows go: a file or stdout, JSON Lines or HAR (by `--format`
//! or the file's extension), merged first when asked (always for HAR, which
//! carries one entry per exchange). Counts what reached the file.

use std::cell::Cell;
use std::path::Path;
use std::rc::Rc;

use anyhow::Context as _;
use flowtap::flow::Flow;
use flowtap::merge::{MergeConfig, MergeStats, MergedFlow, Merging};
use flowtap::sink::{Har, JsonLines, Sink, SinkError};

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Jsonl,
    Har,
}

impl Format {
    /// As given, or from the output's extension (`.har`), or JSON Lines.
    pub fn resolve(given: Option<Format>, path: Option<&Path>) -> Format {
        given.unwrap_or_else(|| match path.and_then(|p| p.extension()) {
            Some(ext) if ext.eq_ignore_ascii_case("har") => Format::Har,
            _ => Format::Jsonl,
        })
    }
}

pub struct Output {
    sink: Box<dyn Sink>,
    written: Rc<Cell<u64>>,
    merge: Option<Rc<Cell<MergeStats>>>,
}

impl Output {
    /// `merge`: merge halves with this config (HAR always merges, with
    /// `merge_default` then).
    pub fn open(
        path: Option<&Path>,
        format: Option<Format>,
        merge: Option<MergeConfig>,
        merge_default: MergeConfig,
    ) -> anyhow::Result<Output> {
        let what = || match path {
            Some(p) if p != Path::new("-") => format!("creating {}", p.display()),
            _ => "opening stdout".to_string(),
        };
        let written = Rc::new(Cell::new(0));
        let format = Format::resolve(format, path);
        let file: Box<dyn Sink> = match format {
            Format::Jsonl => Box::new(JsonLines::create(path).with_context(what)?),
            Format::Har => Box::new(Har::create(path).with_context(what)?),
        };
        let counted = Box::new(Counted {
            inner: file,
            written: written.clone(),
        });
        let merge = match format {
            Format::Har => Some(merge.unwrap_or(merge_default)),
            Format::Jsonl => merge,
        };
        Ok(match merge {
            None => Output {
                sink: counted,
                written,
                merge: None,
            },
            Some(config) => {
                let stats = Rc::new(Cell::new(MergeStats::default()));
                Output {
                    sink: Box::new(Reported {
                        inner: Merging::new(config, counted),
                        stats: stats.clone(),
                    }),
                    written,
                    merge: Some(stats),
                }
            }
        })
    }

    /// Records that reached the output (a merged flow is one).
    pub fn written(&self) -> u64 {
        self.written.get()
    }

    /// `, N exchanges merged, M flows alone (…)` when merging, else nothing.
    pub fn merge_summary(&self) -> String {
        self.merge
            .as_ref()
            .map(|s| format!(", {}", s.get()))
            .unwrap_or_default()
    }
}

impl Sink for Output {
    fn write(&mut self, flow: &Flow) -> Result<(), SinkError> {
        self.sink.write(flow)
    }

    fn write_merged(&mut self, flow: &MergedFlow) -> Result<(), SinkError> {
        self.sink.write_merged(flow)
    }

    fn flush(&mut self) -> Result<(), SinkError> {
        self.sink.flush()
    }

    fn finish(&mut self) -> Result<(), SinkError> {
        self.sink.finish()
    }
}

struct Counted {
    inner: Box<dyn Sink>,
    written: Rc<Cell<u64>>,
}

impl Sink for Counted {
    fn write(&mut self, flow: &Flow) -> Result<(), SinkError> {
        self.inner.write(flow)?;
        self.written.set(self.written.get() + 1);
        Ok(())
    }

    fn write_merged(&mut self, flow: &MergedFlow) -> Result<(), SinkError> {
        self.inner.write_merged(flow)?;
        self.written.set(self.written.get() + 1);
        Ok(())
    }

    fn flush(&mut self) -> Result<(), SinkError> {
        self.inner.flush()
    }

    fn finish(&mut self) -> Result<(), SinkError> {
        self.inner.finish()
    }
}

/// Keeps the merge's figures readable once the pipeline owns the sink.
struct Reported {
    inner: Merging<Box<Counted>>,
    stats: Rc<Cell<MergeStats>>,
}

impl Reported {
    fn report<T>(&mut self, r: T) -> T {
        self.stats.set(self.inner.stats());
        r
    }
}

impl Sink for Reported {
    fn write(&mut self, flow: &Flow) -> Result<(), SinkError> {
        let r = self.inner.write(flow);
        self.report(r)
    }

    fn write_merged(&mut self, flow: &MergedFlow) -> Result<(), SinkError> {
        let r = self.inner.write_merged(flow);
        self.report(r)
    }

    fn flush(&mut self) -> Result<(), SinkError> {
        let r = self.inner.flush();
        self.report(r)
    }

    fn finish(&mut self) -> Result<(), SinkError> {
        let r = self.inner.finish();
        self.report(r)
    }
}
