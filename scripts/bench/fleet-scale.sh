#!/usr/bin/env bash
# Fleet scale and broadcast fan-out: 10,000 simulated agents (one process,
# each with its own certificate and QUIC connection) heartbeating every
# second against a 3-member cluster: heartbeat round trips, false losses,
# coordinator CPU and memory; then commands broadcast to all of them and
# acknowledged by each. Release build.
# Usage: scripts/bench/fleet-scale.sh [--agents N] [--seconds S] [--commands N]
set -euo pipefail
cd "$(dirname "$0")/../.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/mevfleet/target}"
./scripts/setup.sh
cargo build --release --locked -p mevfleet-coordinator -p mevfleet-agent -p mevfleet-bench --bins
echo "machine: $(nproc) cores, $(free -g | awk '/Mem:/{print $2}') GiB, $(uname -r)" >&2
exec "$CARGO_TARGET_DIR/release/fleet-scale" "$@"
