#!/usr/bin/env bash
# Installs a mevfleet daemon on this host as a systemd service, or removes it.
#
#   scripts/install.sh --token TOKEN --coordinators A[,B] --config TEMPLATE
#                      [--agent-id ID] [--bin-dir DIR] [--prefix ROOT] [--no-start]
#   scripts/install.sh [--role agent|coordinator] --config FILE --creds DIR
#                      [--bin-dir DIR] [--prefix ROOT] [--no-start]
#   scripts/install.sh --uninstall [--role agent|coordinator] [--purge] [--prefix ROOT]
#
# Installs the binaries (from --bin-dir, default the release build), the
# `mevfleet` system user, /etc/mevfleet/<role>.toml (kept if present),
# the credentials (ca.pem, <name>.pem, <name>.key) under /etc/mevfleet/tls-<role>,
# the state folder, the unit (deploy/systemd) and, for the agent, the polkit
# rule that lets it run exactly its systemctl verbs; then enables and starts
# the service. An agent host enrolls with a one-time token from
# `mevfleet token create` (also read from MEVFLEET_JOIN_TOKEN): its key is
# made here and never leaves it, and its config is TEMPLATE with the
# identity, coordinators and credentials filled in. A host already enrolled
# keeps its credentials and config. --prefix installs under another root (for packaging and
# tests): no user is created and systemd is not touched there.
# --uninstall stops and removes the service, unit, rule and binaries, and
# keeps config, credentials and state unless --purge. Idempotent.
set -euo pipefail
cd "$(dirname "$0")/.."
REPO=$(pwd)

role=agent config="" creds="" prefix="" bin_dir="" start=1 uninstall=0 purge=0
token=${MEVFLEET_JOIN_TOKEN:-} coordinators="" agent_id=""
die() { printf 'install: %s\n' "$*" >&2; exit 2; }
log() { printf 'install: %s\n' "$*" >&2; }
while [ $# -gt 0 ]; do
  case "$1" in
    --role) role=${2:-}; shift 2 ;;
    --config) config=${2:-}; shift 2 ;;
    --creds) creds=${2:-}; shift 2 ;;
    --token) token=${2:-}; shift 2 ;;
    --coordinators) coordinators=${2:-}; shift 2 ;;
    --agent-id) agent_id=${2:-}; shift 2 ;;
    --prefix) prefix=${2:-}; shift 2 ;;
    --bin-dir) bin_dir=${2:-}; shift 2 ;;
    --no-start) start=0; shift ;;
    --uninstall) uninstall=1; shift ;;
    --purge) purge=1; shift ;;
    -h|--help) sed -n '2,23p' "$0"; exit 0 ;;
    *) die "unknown argument $1 (see --help)" ;;
  esac
done
case "$role" in agent|coordinator) ;; *) die "--role must be agent or coordinator, not '$role'" ;; esac
[ "$(id -u)" -eq 0 ] || die "must run as root (it creates a user and installs a system service)"
live=0
if [ -z "$prefix" ]; then
  live=1
  [ -d /run/systemd/system ] || die "systemd is not running here: this installs a systemd service"
fi
root=${prefix%/}
service="mevfleet-$role"
unit="$root/etc/systemd/system/$service.service"
rule="$root/etc/polkit-1/rules.d/50-mevfleet-agent.rules"
etc="$root/etc/mevfleet"
state="$root/var/lib/$service"
bins=("$root/usr/local/bin/$service" "$root/usr/local/bin/mevfleet")

if [ "$uninstall" -eq 1 ]; then
  if [ "$live" -eq 1 ] && systemctl list-unit-files "$service.service" >/dev/null 2>&1; then
    systemctl disable --now "$service.service" 2>/dev/null || true
  fi
  rm -f "$unit" "${bins[@]}"
  [ "$role" = agent ] && rm -f "$rule"
  [ "$live" -eq 1 ] && systemctl daemon-reload
  if [ "$purge" -eq 1 ]; then
    rm -rf "$state" "$etc/$role.toml" "$etc/tls-$role"
    rmdir "$etc" 2>/dev/null || true
    log "removed $service with its config, credentials and state"
  else
    log "removed $service; kept $etc/$role.toml, $etc/tls-$role and $state (--purge removes them)"
  fi
  exit 0
fi

[ -n "$config" ] || die "--config FILE is required (see deploy/$role.example.toml)"
[ -f "$config" ] || die "no config file $config"
if [ -n "$token" ]; then
  [ "$role" = agent ] || die "--token enrolls an agent; a coordinator needs --creds"
  [ -z "$creds" ] || die "give --token or --creds, not both"
  [ -n "$coordinators" ] || die "--token needs --coordinators HOST:PORT[,HOST:PORT]"
else
  [ -n "$creds" ] || die "--creds DIR is required (ca.pem, <name>.pem and <name>.key, from 'mevfleet ca issue'), or --token to enroll"
  [ -f "$creds/ca.pem" ] || die "$creds has no ca.pem"
fi
bin_dir=${bin_dir:-${CARGO_TARGET_DIR:-$HOME/.cache/mevfleet/target}/release}
for bin in "$service" mevfleet; do
  [ -x "$bin_dir/$bin" ] || die "no $bin in $bin_dir (build with: cargo build --release)"
done

# --- user and folders
if [ "$live" -eq 1 ] && ! id mevfleet >/dev/null 2>&1; then
  useradd --system --home-dir "/var/lib/$service" --shell /usr/sbin/nologin mevfleet
  log "created the mevfleet user"
fi
install -d -m 0755 "$root/usr/local/bin" "$root/etc/systemd/system" "$etc"
install -d -m 0700 "$state" "$etc/tls-$role"

# --- binaries, config, credentials, unit
install -m 0755 "$bin_dir/$service" "$bin_dir/mevfleet" "$root/usr/local/bin/"
if [ -f "$etc/$role.toml" ]; then
  log "keeping the existing $etc/$role.toml"
elif [ -n "$token" ]; then
  enroll=(enroll --coordinators "$coordinators" --dir "$etc/tls-$role"
          --config-template "$config" --config-out "$etc/$role.toml")
  [ -n "$agent_id" ] && enroll+=(--agent-id "$agent_id")
  # The token goes by environment, not argument, so `ps` does not show it.
  MEVFLEET_JOIN_TOKEN="$token" "$root/usr/local/bin/$service" "${enroll[@]}" >&2 \
    || { rc=$?; log "enrollment failed (exit $rc): nothing was started"; exit "$rc"; }
  chmod 0640 "$etc/$role.toml"
else
  install -m 0640 "$config" "$etc/$role.toml"
fi
if [ -n "$creds" ]; then
  for file in "$creds"/*.pem; do install -m 0644 "$file" "$etc/tls-$role/"; done
  for file in "$creds"/*.key; do [ -e "$file" ] && install -m 0600 "$file" "$etc/tls-$role/"; done
fi
install -m 0644 "$REPO/deploy/systemd/$service.service" "$unit"
[ "$role" = agent ] && install -D -m 0644 "$REPO/deploy/polkit/50-mevfleet-agent.rules" "$rule"
if [ "$live" -eq 1 ]; then
  chown -R mevfleet:mevfleet "$state" "$etc/tls-$role"
  chgrp mevfleet "$etc/$role.toml"
  "$root/usr/local/bin/$service" --config "$etc/$role.toml" --check-config >/dev/null \
    || die "$etc/$role.toml does not pass --check-config (fix it and run again)"
  systemctl daemon-reload
  if [ "$start" -eq 1 ]; then
    systemctl enable --now "$service.service"
    log "$service is enabled and started (journalctl -u $service -f)"
  else
    systemctl enable "$service.service"
    log "$service is enabled; start it with systemctl start $service"
  fi
else
  log "installed $service under $root (systemd not touched)"
fi
