#!/usr/bin/env bash
# Broadcast fan-out: time until all of 1,000 simulated agents (one process,
# each with its own certificate and QUIC connection) have received, and
# acknowledged, a fleet command, over 20 commands. Release build.
# Usage: scripts/bench/fanout.sh [--agents N] [--trials N]
set -euo pipefail
cd "$(dirname "$0")/../.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/mevfleet/target}"
./scripts/setup.sh
cargo build --release --locked -p mevfleet-coordinator -p mevfleet-bench --bins
echo "machine: $(nproc) cores, $(free -g | awk '/Mem:/{print $2}') GiB, $(uname -r)" >&2
exec "$CARGO_TARGET_DIR/release/fanout" "$@"
