#!/usr/bin/env bash
# Resident memory and CPU of a mevfleet agent probing five chains (anvil) and
# the host at its default intervals, against Prometheus's node_exporter
# scraped once a second, over the same minute. Release build.
# Usage: scripts/bench/agent-footprint.sh [--seconds S] [--warmup S]
source "$(dirname "$0")/lib.sh"
bench_peer prometheus-node-exporter prometheus-node-exporter prometheus-node-exporter
BENCH_MACHINE="node_exporter $(prometheus-node-exporter --version 2>&1 | sed -n 1p)"
bench_run agent-footprint "$@"
