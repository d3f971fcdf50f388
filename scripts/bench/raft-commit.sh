#!/usr/bin/env bash
# Replicated write latency (1 client) and throughput (64 clients) of a
# 3-member coordinator cluster against a 3-member etcd cluster (Debian's
# etcd-server), side by side in one run on this machine, fsync on, TLS with
# client certificates on every link. Release build.
# Usage: scripts/bench/raft-commit.sh [--single-writes N] [--clients N] [--seconds S] [--rounds R]
set -euo pipefail
cd "$(dirname "$0")/../.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/mevfleet/target}"
./scripts/setup.sh
# The peer: Debian's etcd (server and etcdctl).
if ! command -v etcd >/dev/null 2>&1 || ! command -v etcdctl >/dev/null 2>&1; then
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends etcd-server etcd-client >/dev/null
  # Debian starts it as a service on :2379; the benchmark runs its own cluster.
  $SUDO systemctl disable --now etcd >/dev/null 2>&1 || true
fi
cargo build --release --locked -p mevfleet-coordinator -p mevfleet-agent -p mevfleet-bench --bins
echo "machine: $(nproc) cores, $(free -g | awk '/Mem:/{print $2}') GiB, $(uname -r), disk $(df -h "${TMPDIR:-/tmp}" | awk 'NR==2{print $1}'); $(etcd --version | head -n1)" >&2
exec "$CARGO_TARGET_DIR/release/raft-commit" "$@"
