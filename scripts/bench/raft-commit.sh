#!/usr/bin/env bash
# Replicated write latency (1 client) and throughput (64 clients) of a
# 3-member coordinator cluster against a 3-member etcd cluster (Debian's
# etcd-server), side by side in one run on this machine, fsync on, TLS with
# client certificates on every link. Release build.
# Usage: scripts/bench/raft-commit.sh [--single-writes N] [--clients N] [--seconds S] [--rounds R]
source "$(dirname "$0")/lib.sh"
bench_peer etcd etcd etcd-server etcd-client
bench_peer etcdctl etcd etcd-client
BENCH_MACHINE="disk $(df -h "${TMPDIR:-/tmp}" | awk 'NR==2{print $1}'); $(etcd --version | sed -n 1p)"
bench_run raft-commit "$@"
