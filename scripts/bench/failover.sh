#!/usr/bin/env bash
# Executor failover: time from a node's death (and from an agent's death) to
# the first write the new executor's gateway accepts, over 20 trials each,
# and the gateway's added latency against sending straight to anvil.
# Release build. Usage: scripts/bench/failover.sh [--node-trials N] [--agent-trials N] [--requests N]
set -euo pipefail
cd "$(dirname "$0")/../.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/mevfleet/target}"
./scripts/setup.sh
cargo build --release --locked -p mevfleet-coordinator -p mevfleet-agent -p mevfleet-bench --bins
echo "machine: $(nproc) cores, $(free -g | awk '/Mem:/{print $2}') GiB, $(uname -r)" >&2
exec "$CARGO_TARGET_DIR/release/failover" "$@"
