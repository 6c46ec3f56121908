# shellcheck shell=bash
# Package installs that leave the base system as it is, sourced by engine.sh, postgres.sh and nginx.sh. The caller
# defines die() and APT_OPTS.

# Installs packages, refusing an install that would upgrade or remove an installed package (a partial upgrade of the
# base system); with APT_NO_SID=1 also one that would take anything from sid.
safe_install() { # args: packages
  local sim
  sim=$(apt-get -s install -y --no-install-recommends "${APT_OPTS[@]}" "$@" 2>&1) || {
    echo "$sim" | tail -5 >&2
    return 1
  }
  if echo "$sim" | grep -E '^(Inst \S+ \[|Remv )' >/dev/null; then
    echo "$sim" | grep -E '^(Inst \S+ \[|Remv )' | head -20 >&2
    die "installing $* would upgrade or remove installed packages; refusing (the base system stays as it is)"
  fi
  if [ "${APT_NO_SID:-0}" = 1 ] && echo "$sim" | grep -E '^Inst .*(sid|unstable)' >/dev/null; then
    echo "$sim" | grep -E '^Inst ' >&2
    die "installing $* would take packages from sid; refusing (bookworm's only)"
  fi
  apt-get install -y --no-install-recommends "${APT_OPTS[@]}" "$@"
}

# Runs a command with service starts denied (no init system here: a package's postinst must not start its daemon
# on a well-known port). A policy-rc.d already in place is left as it is; one added here is removed afterwards.
with_starts_denied() { # args: command...
  local policy=/usr/sbin/policy-rc.d added=0 rc=0
  if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' >"$policy"
    chmod 0755 "$policy"
    added=1
  fi
  # A subshell: a die() inside ends only it, so the policy added here is removed whatever happened.
  ("$@") || rc=$?
  [ "$added" = 0 ] || rm -f "$policy"
  return "$rc"
}
