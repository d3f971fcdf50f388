#!/usr/bin/env bash
# Replicated write latency (1 client) and throughput (64 clients) of a
# 3-member coordinator cluster on this machine, fsync on. Release build.
# Usage: scripts/bench/raft-commit.sh [--single-writes N] [--clients N] [--seconds S]
set -euo pipefail
cd "$(dirname "$0")/../.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/mevfleet/target}"
./scripts/setup.sh
cargo build --release --locked -p mevfleet-coordinator -p mevfleet-agent -p mevfleet-bench --bins
echo "machine: $(nproc) cores, $(free -g | awk '/Mem:/{print $2}') GiB, $(uname -r), disk $(df -h "${TMPDIR:-/tmp}" | awk 'NR==2{print $1}')" >&2
exec "$CARGO_TARGET_DIR/release/raft-commit" "$@"
