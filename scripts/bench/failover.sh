#!/usr/bin/env bash
# Executor failover: time from a node's death (and from an agent's death) to
# the first write the new executor's gateway accepts, over 20 trials each,
# and the gateway's added latency against sending straight to anvil.
# Release build. Usage: scripts/bench/failover.sh [--node-trials N] [--agent-trials N] [--requests N]
source "$(dirname "$0")/lib.sh"
bench_run failover "$@"
