#!/usr/bin/env bash
# Mempool ingest: the agent's stream (decode, dedup, stats, selection into
# the uplink's outbox) on one core against a plain frame reader, both fed by
# an in-process WebSocket firehose of distinct pending transactions.
# Release build. Usage: scripts/bench/mempool.sh [--transactions N] [--rounds R]
set -euo pipefail
cd "$(dirname "$0")/../.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/mevfleet/target}"
./scripts/setup.sh
cargo build --release --locked -p mevfleet-bench --bin mempool
echo "machine: $(nproc) cores, $(free -g | awk '/Mem:/{print $2}') GiB, $(uname -r)" >&2
exec "$CARGO_TARGET_DIR/release/mempool" "$@"
