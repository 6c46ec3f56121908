#!/usr/bin/env bash
# The real build engine for the tests and the demo, on Debian bookworm (../shared/ENGINE.md):
# Docker Engine 28 + buildx 0.29 from sid (trixie's as the fallback; every dependency from bookworm, never a
# partial upgrade), the containerd image store, QEMU binfmt for arm64, a plain registry on 127.0.0.1:5000 and a
# multi-arch busybox base image in it, and a Debian bookworm base image built with mmdebstrap (scripts/debian-base.sh).
#
#   scripts/engine.sh up       install what is missing and start what is stopped (idempotent; fast when all runs)
#   scripts/engine.sh status   what is installed and running
#   scripts/engine.sh down     stop the registry and dockerd
#   scripts/engine.sh tools    shellcheck and yamllint from bookworm (npm test's lint of scripts/install.sh and YAML)
#   scripts/engine.sh postgres up|status|down|url
#                              the broker store tests' PostgreSQL (scripts/postgres.sh; npm test starts it); `status`
#                              and `down` above cover it too
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
STATE=${DEPOT_ENGINE_STATE:-/var/lib/depot-engine}
REGISTRY_ADDR=127.0.0.1:5000
BASE_IMAGE=$REGISTRY_ADDR/busybox:latest
APT_OPTS=(-o Acquire::Check-Valid-Until=false -o Dpkg::Options::=--force-confold -o DPkg::Lock::Timeout=300)
# shellcheck source=scripts/lib/apt.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/apt.sh"
export DEBIAN_FRONTEND=noninteractive

log() { echo "engine: $*"; }
die() {
  echo "engine: error: $*" >&2
  exit 1
}

need_root() { [ "$(id -u)" = 0 ] || die "run as root (it installs Debian packages and starts dockerd)"; }

docker_ok() { docker info >/dev/null 2>&1; }
registry_ok() { curl -fsS -o /dev/null "http://$REGISTRY_ADDR/v2/" 2>/dev/null; }
buildx_version() { docker buildx version 2>/dev/null | awk '{print $2}'; }

# Which suite the engine came from: recorded at install; for an older install, read from apt's policy.
engine_suite() {
  if [ -s "$STATE/suite" ]; then
    cat "$STATE/suite"
    return
  fi
  case "$(dpkg-query -W -f='${Version}' docker.io 2>/dev/null)" in
    28.*) echo sid ;;
    26.*) echo trixie ;;
    '') echo none ;;
    *) echo "another suite" ;;
  esac
}

# The docker CLI on PATH may be a newer client (/usr/local/bin/docker); buildx must be 0.29 from the suite.
engine_installed() {
  command -v dockerd >/dev/null && [ -x /usr/libexec/docker/cli-plugins/docker-buildx ] &&
    dpkg -s docker.io containerd >/dev/null 2>&1
}

add_suite() { # $1 = sid|trixie, $2 = pin priority
  local suite=$1 prio=$2
  local src=/etc/apt/sources.list.d/depot-$suite.sources
  if [ ! -f "$src" ]; then
    cat >"$src" <<EOF
Types: deb
URIs: http://deb.debian.org/debian
Suites: $suite
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF
    cat >"/etc/apt/preferences.d/depot-$suite" <<EOF
Package: *
Pin: release n=$suite
Pin-Priority: $prio
EOF
    log "added the $suite suite at pin priority $prio (never a default: only packages named /$suite come from it)"
  fi
}

install_engine() {
  if engine_installed; then return 0; fi
  need_root
  command -v curl >/dev/null || { apt-get update "${APT_OPTS[@]}" && safe_install curl ca-certificates; }
  add_suite sid 50
  log "apt-get update (sid's Release file is past its Valid-Until on this mirror)"
  apt-get update "${APT_OPTS[@]}" >/dev/null
  if safe_install docker.io/sid docker-cli/sid docker-buildx/sid containerd/sid tini-static/sid runc; then
    log "installed Docker Engine from sid"
    mkdir -p "$STATE" && echo sid >"$STATE/suite"
  else
    log "sid's Docker packages could not be installed: trying trixie's (docker.io 26.1, buildx 0.13: no --call, no bake --allow)"
    add_suite trixie 100
    apt-get update "${APT_OPTS[@]}" >/dev/null
    safe_install docker.io/trixie docker-cli/trixie docker-buildx/trixie containerd/trixie tini/trixie runc ||
      die "neither sid's nor trixie's Docker packages could be installed"
    log "installed Docker Engine from trixie"
    mkdir -p "$STATE" && echo trixie >"$STATE/suite"
  fi
}

install_tools() {
  local missing=()
  command -v qemu-aarch64-static >/dev/null || missing+=(qemu-user-static)
  command -v update-binfmts >/dev/null || missing+=(binfmt-support)
  command -v docker-registry >/dev/null || missing+=(docker-registry)
  command -v curl >/dev/null || missing+=(curl)
  command -v htpasswd >/dev/null || missing+=(apache2-utils)
  command -v openssl >/dev/null || missing+=(openssl)
  # scripts/debian-base.sh: mmdebstrap, and arch-test, with which it checks that arm64 runs (under QEMU).
  command -v mmdebstrap >/dev/null || missing+=(mmdebstrap)
  command -v arch-test >/dev/null || missing+=(arch-test)
  if [ ${#missing[@]} -gt 0 ]; then
    need_root
    log "installing from bookworm: ${missing[*]}"
    apt-get update "${APT_OPTS[@]}" >/dev/null
    safe_install "${missing[@]}"
  fi
}

# The linters npm test runs before its unit phase: bookworm's packages, nothing upgraded.
install_lint_tools() {
  local missing=()
  command -v shellcheck >/dev/null || missing+=(shellcheck)
  command -v yamllint >/dev/null || missing+=(yamllint)
  [ ${#missing[@]} -gt 0 ] || return 0
  need_root
  log "installing from bookworm: ${missing[*]}"
  apt-get update "${APT_OPTS[@]}" >/dev/null
  safe_install "${missing[@]}"
}

# Whether the process of pid file $1 runs in a directory that was removed since (the checkout `up` was run from).
in_removed_dir() {
  local pid
  [ -s "$1" ] || return 1
  pid=$(cat "$1")
  [[ "$(readlink "/proc/$pid/cwd" 2>/dev/null)" == *" (deleted)" ]]
}

start_dockerd() {
  # A dockerd started from a checkout that was removed since cannot build from a git context (BuildKit runs git in
  # dockerd's working directory: "unable to get current working directory"): restarted.
  if docker_ok && in_removed_dir /var/run/docker.pid; then
    log "dockerd runs in a removed directory (the checkout it was started from): restarting it"
    stop_pid /var/run/docker.pid dockerd
  fi
  if docker_ok; then return 0; fi
  need_root
  mkdir -p /etc/docker
  if [ ! -f /etc/docker/daemon.json ] || ! grep -q containerd-snapshotter /etc/docker/daemon.json; then
    echo '{"features":{"containerd-snapshotter":true}}' >/etc/docker/daemon.json
  fi
  mkdir -p "$STATE"
  local attempt pid
  for attempt in 1 2; do
    wait_state_released
    log "starting dockerd (log: $STATE/dockerd.log)"
    # Its own session: an interrupted `npm test` does not take dockerd down with it; in /, not in the checkout, which
    # may be removed while dockerd runs. dockerd writes /var/run/docker.pid itself.
    (cd / && exec setsid nohup dockerd >"$STATE/dockerd.log" 2>&1 </dev/null) &
    pid=$!
    for _ in $(seq 1 60); do
      docker_ok && return 0
      # It gave up (its containerd found the state still locked, say): tried once more once the state is free.
      if ! kill -0 "$pid" 2>/dev/null; then
        tail -5 "$STATE/dockerd.log" >&2
        [ "$attempt" = 1 ] && log "dockerd exited while starting: trying once more"
        continue 2
      fi
      sleep 1
    done
    break
  done
  tail -20 "$STATE/dockerd.log" >&2
  die "dockerd did not start within 60 s (see $STATE/dockerd.log)"
}

# Docker's state databases are locked (flock) by the Docker Engine that has them open: one still stopping, or one
# this shell cannot see (started in another PID and mount namespace of this machine, whose socket is not ours), holds
# them, and a dockerd started meanwhile gives up after 10 s ("timeout waiting for containerd to start", its log says
# "waiting for response from boltdb open"). Waits up to 60 s for them to be released, and says which it waits for.
wait_state_released() {
  local f left end=$((SECONDS + 60))
  while IFS= read -r f; do
    flock -n "$f" true 2>/dev/null && continue
    log "waiting up to $((end - SECONDS)) s for another Docker Engine (stopping, or not visible from here) to release $f"
    left=$((end - SECONDS))
    [ "$left" -gt 0 ] || left=1
    flock -w "$left" "$f" true 2>/dev/null ||
      die "$f is still locked after 60 s: another Docker Engine uses /var/lib/docker (stop it: scripts/engine.sh down where it was started, or kill its dockerd and containerd)"
  done < <(find /var/lib/docker -maxdepth 5 -type f -name '*.db' 2>/dev/null)
}

enable_qemu() {
  if [ -e /proc/sys/fs/binfmt_misc/qemu-aarch64 ]; then return 0; fi
  need_root
  mountpoint -q /proc/sys/fs/binfmt_misc || mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc
  update-binfmts --enable qemu-aarch64 >/dev/null 2>&1 || update-binfmts --enable >/dev/null 2>&1 || true
  [ -e /proc/sys/fs/binfmt_misc/qemu-aarch64 ] || die "QEMU binfmt for arm64 could not be enabled"
  log "QEMU binfmt for arm64 enabled"
}

start_registry() {
  if registry_ok; then return 0; fi
  mkdir -p "$STATE/registry"
  cat >"$STATE/registry.yml" <<EOF
version: 0.1
log:
  level: warn
storage:
  filesystem:
    rootdirectory: $STATE/registry
  delete:
    enabled: true
http:
  addr: $REGISTRY_ADDR
EOF
  log "starting the plain registry on $REGISTRY_ADDR (log: $STATE/registry.log)"
  (cd / && exec setsid nohup docker-registry serve "$STATE/registry.yml" >"$STATE/registry.log" 2>&1 </dev/null) &
  echo $! >"$STATE/registry.pid"
  for _ in $(seq 1 30); do
    registry_ok && return 0
    sleep 0.5
  done
  tail -20 "$STATE/registry.log" >&2
  die "the registry on $REGISTRY_ADDR did not start"
}

base_image_ok() {
  curl -fsS -o /dev/null -H 'Accept: application/vnd.oci.image.index.v1+json' \
    -H 'Accept: application/vnd.docker.distribution.manifest.list.v2+json' \
    "http://$REGISTRY_ADDR/v2/busybox/manifests/latest" 2>/dev/null
}

build_base_image() {
  if base_image_ok; then return 0; fi
  need_root
  local dir=$STATE/busybox
  rm -rf "$dir" && mkdir -p "$dir"
  if ! dpkg --print-foreign-architectures | grep -qx arm64; then
    dpkg --add-architecture arm64
    apt-get update "${APT_OPTS[@]}" >/dev/null
  fi
  (cd "$dir" && apt-get download busybox-static:amd64 busybox-static:arm64 >/dev/null)
  for arch in amd64 arm64; do
    dpkg-deb -x "$dir"/busybox-static_*_"$arch".deb "$dir/x-$arch"
    cp "$dir/x-$arch/bin/busybox" "$dir/busybox-$arch"
  done
  cat >"$dir/Dockerfile" <<'EOF'
FROM scratch
ARG TARGETARCH
COPY busybox-${TARGETARCH} /bin/busybox
RUN ["/bin/busybox", "--install", "-s", "/bin"]
EOF
  log "building the multi-arch busybox base image $BASE_IMAGE"
  docker buildx build --provenance=false --platform linux/amd64,linux/arm64 -t "$BASE_IMAGE" --push "$dir" >"$STATE/base-image.log" 2>&1 ||
    {
      tail -20 "$STATE/base-image.log" >&2
      die "the base image could not be built (see $STATE/base-image.log)"
    }
  base_image_ok || die "the base image was built but $BASE_IMAGE is not in the registry"
}

status() {
  local ok=0
  if engine_installed; then
    log "Docker Engine $(dpkg-query -W -f='${Version}' docker.io 2>/dev/null) from $(engine_suite), buildx $(buildx_version || echo '?')"
  else
    log "Docker Engine: not installed"
    ok=1
  fi
  if ! docker_ok; then
    log "dockerd: stopped"
    ok=1
  elif in_removed_dir /var/run/docker.pid; then
    log "dockerd: running in a removed directory (git-context builds fail; \`up\` restarts it)"
    ok=1
  else
    log "dockerd: running"
  fi
  if [ -e /proc/sys/fs/binfmt_misc/qemu-aarch64 ]; then log "QEMU arm64: enabled"; else
    log "QEMU arm64: not enabled"
    ok=1
  fi
  if registry_ok; then log "registry: http://$REGISTRY_ADDR"; else
    log "registry: stopped"
    ok=1
  fi
  if base_image_ok; then log "base image: $BASE_IMAGE"; else
    log "base image: missing"
    ok=1
  fi
  bash "$HERE/debian-base.sh" status || ok=1
  # PostgreSQL is reported, not required: `up` leaves it to scripts/postgres.sh (npm test starts it).
  bash "$HERE/postgres.sh" status 2>&1 | sed 's/^postgres: /engine: postgres: /' || true
  return $ok
}

up() {
  if status >/dev/null 2>&1; then
    log "up: all running (Docker Engine $(dpkg-query -W -f='${Version}' docker.io) from $(engine_suite), buildx $(buildx_version), registry $REGISTRY_ADDR, $BASE_IMAGE, $(bash "$HERE/debian-base.sh" image))"
    return 0
  fi
  install_engine
  install_tools
  start_dockerd
  enable_qemu
  start_registry
  build_base_image
  bash "$HERE/debian-base.sh" up
  status
}

# Stops one process by the pid it recorded, waiting up to 15 s for it to exit.
stop_pid() { # $1 = pid file, $2 = what
  local pid
  [ -s "$1" ] || return 0
  pid=$(cat "$1")
  if kill -0 "$pid" 2>/dev/null; then
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 1 30); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.5
    done
    log "stopped $2 (pid $pid)"
  fi
  rm -f "$1"
}

down() {
  # A registry started before pid files were recorded: found by its exact command line.
  if [ ! -s "$STATE/registry.pid" ]; then
    pgrep -f "^docker-registry serve $STATE/registry.yml\$" >"$STATE/registry.pid" 2>/dev/null || true
  fi
  stop_pid "$STATE/registry.pid" "the registry"
  stop_pid /var/run/docker.pid dockerd
  bash "$HERE/postgres.sh" down
  log "down: registry, dockerd and PostgreSQL stopped"
}

case "${1:-}" in
  up) up ;;
  status) status ;;
  down) down ;;
  tools) install_lint_tools ;;
  postgres) bash "$HERE/postgres.sh" "${2:-status}" ;;
  *)
    echo "usage: scripts/engine.sh up|status|down|tools|postgres up|status|down|url" >&2
    exit 2
    ;;
esac
