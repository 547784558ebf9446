//! Helpers shared by the integration tests.

use std::path::PathBuf;

/// The flowtap binary cargo built for these tests.
pub fn flowtap_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_flowtap"))
}

/// The repository root.
pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}
