//! Where a command's flows go: a file or stdout, JSON Lines or HAR (by `--format`
//! or the file's extension), merged first when asked (always for HAR, which
//! carries one entry per exchange). Counts what reached the file.

use std::path::Path;

use anyhow::Context as _;
use flowtap::flow::Flow;
use flowtap::merge::{MergeConfig, MergedFlow, Merging};
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

/// The file, and the merge in front of it when there is one. One per command
/// run, so the variants' sizes do not matter.
#[allow(clippy::large_enum_variant)]
pub enum Output {
    Plain(Counted),
    Merged(Merging<Counted>),
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
        let format = Format::resolve(format, path);
        let file: Box<dyn Sink> = match format {
            Format::Jsonl => Box::new(JsonLines::create(path).with_context(what)?),
            Format::Har => Box::new(Har::create(path).with_context(what)?),
        };
        let counted = Counted {
            inner: file,
            written: 0,
        };
        let merge = match format {
            Format::Har => Some(merge.unwrap_or(merge_default)),
            Format::Jsonl => merge,
        };
        Ok(match merge {
            None => Output::Plain(counted),
            Some(config) => Output::Merged(Merging::new(config, counted)),
        })
    }

    fn sink(&mut self) -> &mut dyn Sink {
        match self {
            Output::Plain(s) => s,
            Output::Merged(s) => s,
        }
    }

    /// Records that reached the output (a merged flow is one).
    pub fn written(&self) -> u64 {
        match self {
            Output::Plain(s) => s.written,
            Output::Merged(s) => s.inner().written,
        }
    }

    /// `, N exchanges merged, M flows alone (…)` when merging, else nothing.
    pub fn merge_summary(&self) -> String {
        match self {
            Output::Plain(_) => String::new(),
            Output::Merged(s) => format!(", {}", s.stats()),
        }
    }
}

impl Sink for Output {
    fn write(&mut self, flow: &Flow) -> Result<(), SinkError> {
        self.sink().write(flow)
    }

    fn write_merged(&mut self, flow: &MergedFlow) -> Result<(), SinkError> {
        self.sink().write_merged(flow)
    }

    fn flush(&mut self) -> Result<(), SinkError> {
        self.sink().flush()
    }

    fn finish(&mut self) -> Result<(), SinkError> {
        self.sink().finish()
    }
}

/// The file, counting what reached it.
pub struct Counted {
    inner: Box<dyn Sink>,
    written: u64,
}

impl Sink for Counted {
    fn write(&mut self, flow: &Flow) -> Result<(), SinkError> {
        self.inner.write(flow)?;
        self.written += 1;
        Ok(())
    }

    fn write_merged(&mut self, flow: &MergedFlow) -> Result<(), SinkError> {
        self.inner.write_merged(flow)?;
        self.written += 1;
        Ok(())
    }

    fn flush(&mut self) -> Result<(), SinkError> {
        self.inner.flush()
    }

    fn finish(&mut self) -> Result<(), SinkError> {
        self.inner.finish()
    }
}
