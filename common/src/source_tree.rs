//! Where the source checkout is, for tests and benchmarks that read files
//! from it (example configs, deploy files, scripts, the tools folder).
//!
//! `env!("CARGO_MANIFEST_DIR")` is the path the test was *compiled* in. The
//! target folder is shared between clones (a developer's and CI's), and
//! cargo reuses a build from another clone of the same sources, so that
//! path may be a clone that is gone. Cargo and nextest set the variable
//! again when they *run* a test; that one names this checkout.

use std::ffi::OsString;
use std::path::PathBuf;

/// The workspace root (every package sits one folder below it): from the
/// runtime `CARGO_MANIFEST_DIR` when cargo or nextest set it, else from
/// `compiled` (pass `env!("CARGO_MANIFEST_DIR")`), for a binary started by
/// hand.
pub fn repo_root(compiled: &str) -> PathBuf {
    package_dir(std::env::var_os("CARGO_MANIFEST_DIR"), compiled).join("..")
}

/// The package folder: `runtime` when set, else `compiled`.
fn package_dir(runtime: Option<OsString>, compiled: &str) -> PathBuf {
    runtime
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(compiled))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_root_holds_the_workspace_manifest() {
        let root = repo_root(env!("CARGO_MANIFEST_DIR"));
        let manifest = std::fs::read_to_string(root.join("Cargo.toml")).unwrap_or_default();
        assert!(manifest.contains("[workspace]"), "{}", root.display());
    }

    #[test]
    fn the_folder_a_test_runs_in_wins_over_the_one_it_was_built_in() {
        let built_in = "/gone/clone/agent";
        assert_eq!(
            package_dir(Some("/this/clone/agent".into()), built_in),
            PathBuf::from("/this/clone/agent")
        );
        assert_eq!(package_dir(None, built_in), PathBuf::from(built_in));
    }
}
