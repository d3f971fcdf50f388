//! Where the source checkout is, for tests and benchmarks that read files
//! from it (example configs, deploy files, scripts, the tools folder).
//!
//! `env!("CARGO_MANIFEST_DIR")` is the path the test was *compiled* in. The
//! target folder is shared between clones (a developer's and CI's), and
//! cargo reuses a build from another clone of the same sources, so that
//! path may be a clone that is gone. Cargo and nextest set the variable
//! again when they *run* a test; that one names this checkout.

use std::path::PathBuf;

/// The package folder of the running test: the runtime
/// `CARGO_MANIFEST_DIR` when cargo or nextest set it, else `compiled` (pass
/// `env!("CARGO_MANIFEST_DIR")`), for a binary started by hand.
pub fn package_dir(compiled: &str) -> PathBuf {
    std::env::var_os("CARGO_MANIFEST_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(compiled))
}

/// The workspace root (every package sits one folder below it).
pub fn repo_root(compiled: &str) -> PathBuf {
    package_dir(compiled).join("..")
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
}
