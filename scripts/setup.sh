#!/usr/bin/env bash
# Installs what mevfleet's build and tests need, idempotently: a second run
# on a ready machine changes nothing and takes seconds.
#   - Debian packages: clang and libclang-dev (bindgen for RocksDB),
#     pkg-config and libssl-dev (alloy's HTTP transport links the system
#     OpenSSL), iproute2 (network-namespace partition tests), prometheus
#     (promtool validates our metrics exposition).
#   - anvil, a real Ethereum node for tests and `mevfleet dev`, pinned, from
#     the npm package @foundry-rs/anvil-linux-amd64, into .tools/ (git-ignored).
#   - the Rust components the checks use (rustfmt, clippy) and cargo-nextest.
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT=$(pwd)
TOOLS="$ROOT/.tools"
ANVIL_VERSION="1.7.1"

log() { printf 'setup: %s\n' "$*" >&2; }

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; elif command -v sudo >/dev/null 2>&1; then sudo "$@"; else
    log "need root (or sudo) to run: $*"; exit 1
  fi
}

# --- Debian packages
APT_PACKAGES=(clang libclang-dev pkg-config libssl-dev iproute2 prometheus systemd)
missing=()
for pkg in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if [ ${#missing[@]} -gt 0 ]; then
  log "installing Debian packages: ${missing[*]}"
  as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# --- anvil (pinned)
ANVIL_DIR="$TOOLS/anvil-$ANVIL_VERSION"
ANVIL_BIN="$ANVIL_DIR/node_modules/@foundry-rs/anvil-linux-amd64/bin/anvil"
if [ ! -x "$ANVIL_BIN" ]; then
  command -v npm >/dev/null 2>&1 || { log "npm is required to install anvil (apt-get install npm)"; exit 1; }
  log "installing anvil $ANVIL_VERSION into $ANVIL_DIR"
  mkdir -p "$ANVIL_DIR"
  (cd "$ANVIL_DIR" && npm install --no-save --no-audit --no-fund --loglevel=error \
     "@foundry-rs/anvil-linux-amd64@$ANVIL_VERSION" >/dev/null)
  chmod +x "$ANVIL_BIN"
fi
ln -sfn "$ANVIL_BIN" "$TOOLS/anvil"
"$TOOLS/anvil" --version >/dev/null || { log "anvil at $ANVIL_BIN does not run"; exit 1; }

# --- Rust components and test runner
if command -v rustup >/dev/null 2>&1; then
  for component in rustfmt clippy; do
    rustup component list --installed 2>/dev/null | grep -q "^$component" || rustup component add "$component"
  done
fi
if ! cargo nextest --version >/dev/null 2>&1; then
  log "installing cargo-nextest"
  cargo install --locked cargo-nextest
fi

log "ready (anvil: $("$TOOLS/anvil" --version | sed -n 1p))"
