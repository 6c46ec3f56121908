#!/usr/bin/env bash
# nginx for the deployment test (test/e2e/deploy.e2e.test.ts: the TLS front of examples/deploy in front of two
# broker instances): bookworm's `nginx` package (1.22), installed like every package here (../shared/ENGINE.md:
# bookworm's packages, never an upgrade of the base system) under a policy that denies service starts. There is no
# init system on these machines, and the package's own site (port 80) must not start: the test runs nginx itself,
# with its own -c config, prefix and pid file, and stops it by that pid.
#
#   scripts/nginx.sh up       install nginx when it is missing (idempotent; fast when installed); prints its path
#   scripts/nginx.sh status   whether it is installed, its version, and whether a packaged nginx runs
set -euo pipefail

BIN=/usr/sbin/nginx
APT_OPTS=(-o Dpkg::Options::=--force-confold -o DPkg::Lock::Timeout=300)
# shellcheck source=scripts/lib/apt.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/apt.sh"
export DEBIAN_FRONTEND=noninteractive

log() { echo "nginx: $*" >&2; }
die() {
  echo "nginx: error: $*" >&2
  exit 1
}

need_root() { [ "$(id -u)" = 0 ] || die "run as root (it installs a Debian package)"; }

installed() { [ -x "$BIN" ] && dpkg-query -W -f='${Status}' nginx 2>/dev/null | grep -q 'install ok installed'; }

# The pid of the packaged nginx (its /run/nginx.pid), when one runs: the package must not leave one behind.
packaged_pid() {
  local p
  [ -s /run/nginx.pid ] || return 1
  p=$(head -1 /run/nginx.pid)
  kill -0 "$p" 2>/dev/null || return 1
  grep -q nginx "/proc/$p/cmdline" 2>/dev/null || return 1
  echo "$p"
}

up() {
  if installed; then
    echo "$BIN"
    return 0
  fi
  need_root
  # Service starts denied while the package goes in (its postinst would start the default site on port 80). A
  # policy already in place is left as it is; one added here is removed afterwards.
  log "installing bookworm's nginx"
  apt-get update "${APT_OPTS[@]}" >/dev/null
  APT_NO_SID=1 with_starts_denied safe_install nginx >/dev/null || die "bookworm's nginx could not be installed"
  installed || die "nginx was installed but $BIN is missing"
  local p
  if p=$(packaged_pid); then
    # Only a start the policy failed to deny gets here: stop what the package started, by its own pid file.
    log "the package started nginx (pid $p) despite the policy: stopping it"
    kill -QUIT "$p" 2>/dev/null || true
  fi
  log "installed $("$BIN" -v 2>&1 | sed 's/^nginx version: //')"
  echo "$BIN"
}

status() {
  if ! installed; then
    log "not installed"
    return 1
  fi
  log "installed: $("$BIN" -v 2>&1 | sed 's/^nginx version: //')"
  local p
  if p=$(packaged_pid); then
    log "the packaged nginx runs (pid $p, /run/nginx.pid)"
  else
    log "the packaged nginx does not run (tests start their own)"
  fi
}

case "${1:-up}" in
  up) up ;;
  status) status ;;
  *)
    echo "usage: scripts/nginx.sh up|status" >&2
    exit 2
    ;;
esac
