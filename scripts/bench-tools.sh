#!/usr/bin/env bash
# The second load generator of `npm run bench:broker -- --load wrk` (autocannon is the default): bookworm's `wrk`
# package (4.1, C with LuaJIT), installed like every package here (../shared/ENGINE.md: bookworm's packages, never an
# upgrade of the base system). It has no service to start.
#
#   scripts/bench-tools.sh up       install wrk when it is missing (idempotent; fast when installed); prints its path
#   scripts/bench-tools.sh status   whether it is installed, and its version
set -euo pipefail

BIN=/usr/bin/wrk
APT_OPTS=(-o Dpkg::Options::=--force-confold -o DPkg::Lock::Timeout=300)
# shellcheck source=scripts/lib/apt.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/apt.sh"
export DEBIAN_FRONTEND=noninteractive

log() { echo "bench-tools: $*" >&2; }
die() {
  echo "bench-tools: error: $*" >&2
  exit 1
}

installed() { [ -x "$BIN" ] && dpkg-query -W -f='${Status}' wrk 2>/dev/null | grep -q 'install ok installed'; }
version() { "$BIN" -v 2>&1 | head -1 | awk '{print $2}'; }

up() {
  if installed; then
    echo "$BIN"
    return 0
  fi
  [ "$(id -u)" = 0 ] || die "run as root (it installs a Debian package), or use npm run bench:broker -- --load autocannon"
  log "installing bookworm's wrk"
  apt-get update "${APT_OPTS[@]}" >/dev/null
  APT_NO_SID=1 safe_install wrk >/dev/null || die "bookworm's wrk could not be installed"
  installed || die "wrk was installed but $BIN is missing"
  log "installed wrk $(version)"
  echo "$BIN"
}

status() {
  if ! installed; then
    log "wrk is not installed"
    return 1
  fi
  log "wrk $(version) installed"
}

case "${1:-up}" in
  up) up ;;
  status) status ;;
  *)
    echo "usage: scripts/bench-tools.sh up|status" >&2
    exit 2
    ;;
esac
