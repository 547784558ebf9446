//! flowtap's integration tests: one binary, shared helpers in `support`.
//!
//! Tests that need root, BPF or Docker are `#[ignore]`d with a reason, so that a
//! plain `cargo test` stays honest without privileges; `scripts/test.sh` (the
//! README's test command, and CI) runs them with `--include-ignored`.

mod capture;
mod corpus;
mod corpus_framing;
mod corpus_h2;
mod corpus_resync;
mod demo;
mod docker;
mod dockerd_restart;
mod fixtures;
mod flows;
mod gotls;
mod har;
mod host;
mod http2;
mod manners;
mod merge;
mod reorder_live;
mod replay_selection;
mod ring;
mod scenarios;
mod support;
mod tls;
mod truth;
mod view;
mod view_live;
