#!/usr/bin/env bash
# The PostgreSQL server of the broker's store tests (issue 25), on Debian bookworm: bookworm's `postgresql` (15),
# installed like every package here (../shared/ENGINE.md: bookworm's packages, never an upgrade of the base system)
# under a policy that denies service starts, so nothing listens on 5432 by surprise. Its own cluster in the engine's
# state directory, owned by the postgres user (PostgreSQL refuses root), on 127.0.0.1 and a fixed port; a role
# `broker` with a random password (kept 0600 in that directory) that may create databases, and a database `broker`.
#
#   scripts/postgres.sh up       install what is missing, create the cluster once, start it; prints the URL
#                                (idempotent; fast when it already runs)
#   scripts/postgres.sh status   whether it runs, and where
#   scripts/postgres.sh down     stop it, by the pid in its postmaster.pid (fast shutdown: clients disconnected)
#   scripts/postgres.sh url      print the BROKER_DATABASE_URL of the `broker` database
#   scripts/postgres.sh psql ARGS psql as the superuser on the server's socket (tests: a session of another role)
set -euo pipefail

STATE=${DEPOT_ENGINE_STATE:-/var/lib/depot-engine}
PG_STATE=$STATE/postgres
DATA=$PG_STATE/data
RUN=$PG_STATE/run
PORT=${DEPOT_POSTGRES_PORT:-55432}
HOST=127.0.0.1
PG_MAJOR=15
BIN=/usr/lib/postgresql/$PG_MAJOR/bin
APT_OPTS=(-o Dpkg::Options::=--force-confold -o DPkg::Lock::Timeout=300)
# shellcheck source=scripts/lib/apt.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/apt.sh"
export DEBIAN_FRONTEND=noninteractive

log() { echo "postgres: $*" >&2; }
die() {
  echo "postgres: error: $*" >&2
  exit 1
}

need_root() { [ "$(id -u)" = 0 ] || die "run as root (it installs Debian packages and runs PostgreSQL as the postgres user)"; }

# Runs a command as the postgres user (PostgreSQL refuses to run as root).
as_pg() {
  if [ "$(id -un)" = postgres ]; then
    "$@"
  else
    need_root
    runuser -u postgres -- "$@"
  fi
}

# PgBouncer: the store's tests run it in front of the server (operators put it there), never as a service.
PGBOUNCER=/usr/sbin/pgbouncer
installed() { [ -x "$BIN/initdb" ] && [ -x "$BIN/pg_ctl" ] && [ -x "$BIN/pg_isready" ] && [ -x "$PGBOUNCER" ]; }

install_postgres() {
  installed && return 0
  need_root
  # No init system here: a policy that denies service starts while the package goes in (its own cluster `main`
  # must not start on 5432). A policy already in place is left as it is.
  # Only what is missing: naming an installed package would upgrade it.
  local missing=()
  [ -x "$BIN/initdb" ] && [ -x "$BIN/pg_ctl" ] && [ -x "$BIN/pg_isready" ] ||
    missing+=("postgresql-$PG_MAJOR" postgresql-client-common postgresql-common)
  [ -x "$PGBOUNCER" ] || missing+=(pgbouncer)
  log "installing bookworm's ${missing[*]}"
  apt-get update "${APT_OPTS[@]}" >/dev/null
  with_starts_denied safe_install "${missing[@]}" >/dev/null ||
    die "bookworm's ${missing[*]} could not be installed"
  installed || die "postgresql-$PG_MAJOR and pgbouncer were installed but $BIN/initdb or $PGBOUNCER is missing"
}

password() { cat "$PG_STATE/password"; }

url() { echo "postgres://broker:$(password)@$HOST:$PORT/broker"; }

# The postmaster's pid when one runs on the data dir.
pid() {
  local p
  [ -s "$DATA/postmaster.pid" ] || return 1
  p=$(head -1 "$DATA/postmaster.pid")
  kill -0 "$p" 2>/dev/null || return 1
  echo "$p"
}

ready() { "$BIN/pg_isready" -q -h "$HOST" -p "$PORT" -t 2 >/dev/null 2>&1; }

running() { pid >/dev/null && ready; }

init_cluster() {
  [ -s "$DATA/PG_VERSION" ] && [ -s "$PG_STATE/password" ] && return 0
  need_root
  rm -rf "$DATA"
  mkdir -p "$PG_STATE" "$RUN"
  chmod 0755 "$PG_STATE"
  chown postgres:postgres "$RUN"
  install -d -o postgres -g postgres -m 0700 "$DATA"
  local pw
  pw=$(head -c 24 /dev/urandom | base64 | tr -d '/+=' | head -c 32)
  (umask 077 && echo "$pw" >"$PG_STATE/password")
  log "creating the cluster in $DATA"
  as_pg "$BIN/initdb" -D "$DATA" -U postgres --auth-local=peer --auth-host=scram-sha-256 -E UTF8 --locale=C.UTF-8 \
    >"$PG_STATE/initdb.log" 2>&1 || {
    tail -20 "$PG_STATE/initdb.log" >&2
    die "initdb failed (see $PG_STATE/initdb.log)"
  }
  start_server
  # The password goes in on stdin, never on a command line another process could read.
  as_pg "$BIN/psql" -q -v ON_ERROR_STOP=1 -h "$RUN" -p "$PORT" -U postgres -d postgres >/dev/null <<SQL ||
CREATE ROLE broker LOGIN CREATEDB PASSWORD '$pw';
CREATE DATABASE broker OWNER broker;
SQL
    die "the role and database broker could not be created"
}

start_server() {
  running && return 0
  mkdir -p "$RUN" && chown postgres:postgres "$RUN"
  log "starting PostgreSQL $PG_MAJOR on $HOST:$PORT (log: $PG_STATE/postgres.log)"
  # Its own session: an interrupted `npm test` does not take the server down with it.
  touch "$PG_STATE/postgres.log" && chown postgres:postgres "$PG_STATE/postgres.log"
  as_pg setsid "$BIN/pg_ctl" -D "$DATA" -l "$PG_STATE/postgres.log" -w -t 60 -s \
    -o "-c listen_addresses=$HOST -p $PORT -k $RUN -c max_connections=200" start </dev/null ||
    {
      tail -20 "$PG_STATE/postgres.log" >&2
      die "PostgreSQL did not start (see $PG_STATE/postgres.log)"
    }
  for _ in $(seq 1 60); do
    ready && return 0
    sleep 0.5
  done
  die "PostgreSQL started but does not answer on $HOST:$PORT"
}

up() {
  install_postgres # returns at once when everything is in place
  if ! running; then
    init_cluster
    start_server
  fi
  url
}

status() {
  if ! installed; then
    log "not installed"
    return 1
  fi
  local p
  if p=$(pid) && ready; then
    log "PostgreSQL $PG_MAJOR running on $HOST:$PORT (pid $p, data $DATA)"
  else
    log "PostgreSQL $PG_MAJOR: stopped"
    return 1
  fi
}

down() {
  local p
  if ! p=$(pid); then
    log "down: not running"
    return 0
  fi
  # SIGINT is PostgreSQL's fast shutdown: open sessions are disconnected, then it exits.
  kill -INT "$p"
  for _ in $(seq 1 60); do
    kill -0 "$p" 2>/dev/null || {
      log "down: stopped (pid $p)"
      return 0
    }
    sleep 0.25
  done
  die "PostgreSQL (pid $p) did not stop within 15 s"
}

case "${1:-}" in
  up) up ;;
  status) status ;;
  down) down ;;
  url)
    [ -s "$PG_STATE/password" ] || die "no cluster yet: run scripts/postgres.sh up"
    url
    ;;
  psql)
    shift
    [ -d "$RUN" ] || die "no cluster yet: run scripts/postgres.sh up"
    as_pg "$BIN/psql" -h "$RUN" -p "$PORT" -U postgres "$@"
    ;;
  *)
    echo "usage: scripts/postgres.sh up|status|down|url|psql [psql's arguments]" >&2
    exit 2
    ;;
esac
