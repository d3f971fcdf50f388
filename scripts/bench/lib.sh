# Sourced by every benchmark script: from the repository root with the
# shared target folder, installs what is missing (setup.sh, then the
# benchmark's own peer), builds the release binaries and names the machine.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/mevfleet/target}"
./scripts/setup.sh

# A benchmark's peer from Debian: when BINARY is missing, installs
# PACKAGE... and disables SERVICE, which Debian starts with it (the
# benchmark runs its own copies). Usage: bench_peer BINARY SERVICE PACKAGE...
bench_peer() {
  local binary=$1 service=$2; shift 2
  command -v "$binary" >/dev/null 2>&1 && return 0
  local sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "$@" >/dev/null
  $sudo systemctl disable --now "$service" >/dev/null 2>&1 || true
}

# Builds every binary the benchmarks run, prints the machine (and
# $BENCH_MACHINE, when set) and runs benchmark NAME with the rest of the
# arguments. Usage: bench_run NAME ARGS...
bench_run() {
  local bench=$1; shift
  cargo build --release --locked -p mevfleet-coordinator -p mevfleet-agent -p mevfleet-bench --bins
  echo "machine: $(nproc) cores, $(free -g | awk '/Mem:/{print $2}') GiB, $(uname -r)${BENCH_MACHINE:+; $BENCH_MACHINE}" >&2
  exec "$CARGO_TARGET_DIR/release/$bench" "$@"
}
