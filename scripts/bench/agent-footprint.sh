#!/usr/bin/env bash
# Resident memory and CPU of a mevfleet agent probing five chains (anvil) and
# the host at its default intervals, against Prometheus's node_exporter
# scraped once a second, over the same minute. Release build.
# Usage: scripts/bench/agent-footprint.sh [--seconds S] [--warmup S]
set -euo pipefail
cd "$(dirname "$0")/../.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/mevfleet/target}"
./scripts/setup.sh
# The peer: Debian's node_exporter.
if ! command -v prometheus-node-exporter >/dev/null 2>&1; then
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends prometheus-node-exporter >/dev/null
  # Debian starts it as a service on :9100; the benchmark runs its own copy.
  $SUDO systemctl disable --now prometheus-node-exporter >/dev/null 2>&1 || true
fi
cargo build --release --locked -p mevfleet-coordinator -p mevfleet-agent -p mevfleet-bench --bins
echo "machine: $(nproc) cores, $(free -g | awk '/Mem:/{print $2}') GiB, $(uname -r); node_exporter $(prometheus-node-exporter --version 2>&1 | head -n1)" >&2
exec "$CARGO_TARGET_DIR/release/agent-footprint" "$@"
