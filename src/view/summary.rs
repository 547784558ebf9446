//! The summary at exit: per client → server pair, request counts, status
//! classes and p50/p99 durations. Durations go into fixed-size histograms
//! (3 significant digits), and at most [`MAX_PAIRS`] pairs are kept apart.

use std::fmt::Write as _;

use hashbrown::HashMap;
use hdrhistogram::Histogram;

use super::line::duration;
use crate::record::Record;

/// Pairs beyond this are counted together as "other".
pub const MAX_PAIRS: usize = 1000;

struct Pair {
    requests: u64,
    /// 1xx..5xx at 1..=5, no response at 0.
    classes: [u64; 6],
    durations: Option<Histogram<u64>>,
}

#[derive(Default)]
pub struct Summary {
    pairs: HashMap<(String, String), Pair>,
    order: Vec<(String, String)>,
}

impl Summary {
    pub fn add(&mut self, record: &Record) {
        let mut key = super::ends(record);
        if !self.pairs.contains_key(&key) && self.pairs.len() >= MAX_PAIRS {
            key = ("other".to_string(), "other".to_string());
        }
        let pair = self.pairs.entry(key.clone()).or_insert_with(|| {
            self.order.push(key);
            Pair {
                requests: 0,
                classes: [0; 6],
                // 1 µs to an hour at 3 significant digits: a few tens of KiB.
                durations: Histogram::new_with_bounds(1, 3_600_000_000, 3).ok(),
            }
        });
        let f = record.flow();
        pair.requests += 1;
        let class = f
            .response
            .as_ref()
            .map_or(0, |r| usize::from(r.status / 100).min(5));
        pair.classes[class] += 1;
        if let (Some(h), Some(us)) = (pair.durations.as_mut(), f.duration_us) {
            h.saturating_record(us.max(1));
        }
    }

    pub fn is_empty(&self) -> bool {
        self.pairs.is_empty()
    }

    /// One line per pair, in the order first seen.
    pub fn render(&self) -> String {
        let mut out = String::new();
        for key in &self.order {
            let Some(p) = self.pairs.get(key) else {
                continue;
            };
            let classes: Vec<String> = (1..=5)
                .filter(|&c| p.classes[c] > 0)
                .map(|c| format!("{c}xx {}", p.classes[c]))
                .chain((p.classes[0] > 0).then(|| format!("no response {}", p.classes[0])))
                .collect();
            let (p50, p99) = match &p.durations {
                Some(h) if !h.is_empty() => (
                    Some(h.value_at_quantile(0.5)),
                    Some(h.value_at_quantile(0.99)),
                ),
                _ => (None, None),
            };
            let _ = writeln!(
                out,
                "{} → {}: {} requests ({}), p50 {}, p99 {}",
                key.0,
                key.1,
                p.requests,
                classes.join(", "),
                duration(p50),
                duration(p99)
            );
        }
        out
    }
}
