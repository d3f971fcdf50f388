#!/usr/bin/env bash
# Mempool: ingest of the agent's stream (decode, dedup, stats, selection into
# the uplink's outbox) on one core against a plain frame reader, both fed by
# an in-process WebSocket firehose of distinct pending transactions; then the
# delay from the node's send to the agent's sighting (in process) and from the
# sighting to the leader's receipt (a real agent and coordinator over QUIC),
# at a steady rate. Release build.
# Usage: scripts/bench/mempool.sh [--transactions N] [--rounds R]
#        [--paced-rate TX_PER_S] [--paced-seconds S] [--delay-runs N]
source "$(dirname "$0")/lib.sh"
bench_run mempool "$@"
