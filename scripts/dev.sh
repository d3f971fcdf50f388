#!/usr/bin/env bash
# Brings a whole mevfleet fleet up on this machine: installs what is missing
# (scripts/setup.sh), builds the binaries, and runs `mevfleet dev` (three
# coordinators, two agents, an anvil node per agent and chain). Ctrl-C stops
# everything. Extra arguments go to `mevfleet dev`, e.g.
#   ./scripts/dev.sh --chains ethereum,arbitrum --dir /tmp/fleet
set -euo pipefail

cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/mevfleet/target}"

./scripts/setup.sh
cargo build --workspace --bins --locked
exec "$CARGO_TARGET_DIR/debug/mevfleet" dev --anvil "$PWD/.tools/anvil" "$@"
