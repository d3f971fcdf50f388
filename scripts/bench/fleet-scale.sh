#!/usr/bin/env bash
# Fleet scale and broadcast fan-out: 10,000 simulated agents (one process,
# each with its own certificate and QUIC connection) heartbeating every
# second against a 3-member cluster: heartbeat round trips, false losses,
# coordinator CPU and memory; then commands broadcast to all of them and
# acknowledged by each. Release build.
# Usage: scripts/bench/fleet-scale.sh [--agents N] [--seconds S] [--commands N]
#        [--history N] (N expired commands issued first, as a week leaves)
source "$(dirname "$0")/lib.sh"
bench_run fleet-scale "$@"
