#!/usr/bin/env bash
# A Debian bookworm base image for both platforms in the engine's local registry, built without Docker Hub
# (../shared/ENGINE.md): mmdebstrap --variant=minbase writes one rootfs tarball per architecture (arm64 under QEMU),
# cached in the engine's state dir, then `FROM scratch` + `ADD rootfs-${TARGETARCH}.tar /` is built for linux/amd64
# and linux/arm64 and pushed. The broker image's tests build on it (the image's default base is debian:bookworm-slim).
#
#   scripts/debian-base.sh up       build and push it unless the registry has it (seconds when it does)
#   scripts/debian-base.sh status   one line: the image, or missing
#   scripts/debian-base.sh image    print the image reference
#
# Called by scripts/engine.sh (up, status), which installs mmdebstrap and arch-test from bookworm and starts the
# registry first. Rebuild from scratch: remove $STATE/debian-base and the image's tag from the registry.
set -euo pipefail

STATE=${DEPOT_ENGINE_STATE:-/var/lib/depot-engine}
REGISTRY_ADDR=${DEPOT_ENGINE_REGISTRY:-127.0.0.1:5000}
SUITE=bookworm
IMAGE=$REGISTRY_ADDR/debian-base:$SUITE
CACHE=$STATE/debian-base
ARCHES=(amd64 arm64)
MIRROR=http://deb.debian.org/debian

log() { echo "engine: debian base: $*"; }
die() {
  echo "engine: error: debian base: $*" >&2
  exit 1
}

image_ok() {
  curl -fsS -o /dev/null -H 'Accept: application/vnd.oci.image.index.v1+json' \
    -H 'Accept: application/vnd.docker.distribution.manifest.list.v2+json' \
    "http://$REGISTRY_ADDR/v2/debian-base/manifests/$SUITE" 2>/dev/null
}

# One architecture's rootfs tarball, kept once written whole (the .tar appears only when mmdebstrap succeeded).
rootfs() { # $1 = amd64|arm64
  local arch=$1 tar=$CACHE/rootfs-$1.tar start
  [ -f "$tar" ] && [ -s "$tar" ] && return 0
  command -v mmdebstrap >/dev/null || die "mmdebstrap is not installed: run scripts/engine.sh up"
  start=$(date +%s)
  log "mmdebstrap --variant=minbase --architectures=$arch $SUITE (log: $CACHE/mmdebstrap-$arch.log)"
  # Like Debian's slim images: no manuals, docs (copyright files kept), locales or info pages.
  if ! mmdebstrap --variant=minbase --architectures="$arch" --format=tar \
    --dpkgopt='path-exclude=/usr/share/man/*' --dpkgopt='path-exclude=/usr/share/info/*' \
    --dpkgopt='path-exclude=/usr/share/locale/*' --dpkgopt='path-exclude=/usr/share/doc/*' \
    --dpkgopt='path-include=/usr/share/doc/*/copyright' \
    "$SUITE" "$CACHE/partial-$arch.tar" \
    "deb $MIRROR $SUITE main" "deb $MIRROR $SUITE-updates main" \
    "deb ${MIRROR}-security $SUITE-security main" >"$CACHE/mmdebstrap-$arch.log" 2>&1; then
    rm -f "$CACHE/partial-$arch.tar"
    tail -20 "$CACHE/mmdebstrap-$arch.log" >&2
    die "mmdebstrap for $arch failed (see $CACHE/mmdebstrap-$arch.log)"
  fi
  rm -rf "$tar"
  mv "$CACHE/partial-$arch.tar" "$tar"
  log "rootfs-$arch.tar written in $(($(date +%s) - start)) s"
}

up() {
  image_ok && return 0
  [ "$(id -u)" = 0 ] || die "run as root (mmdebstrap needs it)"
  mkdir -p "$CACHE"
  # One build at a time: several `engine.sh up` may run at once.
  exec 9>"$CACHE/lock"
  flock 9
  image_ok && return 0
  local arch start pid failed=0
  local -a pids=()
  start=$(date +%s)
  # Both architectures at once: arm64 runs its maintainer scripts under QEMU and takes about twice as long as amd64,
  # which fits beside it on a second core (about 160 s for both on 2 cores instead of 230 one after the other).
  for arch in "${ARCHES[@]}"; do
    rootfs "$arch" &
    pids+=("$!")
  done
  for pid in "${pids[@]}"; do wait "$pid" || failed=1; done
  [ "$failed" = 0 ] || die "a root file system could not be made (above)"
  cat >"$CACHE/Dockerfile" <<'EOF'
FROM scratch
ARG TARGETARCH
ADD rootfs-${TARGETARCH}.tar /
CMD ["bash"]
EOF
  log "building $IMAGE for linux/amd64,linux/arm64 (log: $CACHE/build.log)"
  docker buildx build --provenance=false --platform linux/amd64,linux/arm64 -t "$IMAGE" --push "$CACHE" \
    >"$CACHE/build.log" 2>&1 || {
    tail -20 "$CACHE/build.log" >&2
    die "the image could not be built (see $CACHE/build.log)"
  }
  image_ok || die "the image was built but $IMAGE is not in the registry"
  log "$IMAGE pushed in $(($(date +%s) - start)) s"
}

status() {
  if image_ok; then
    log "$IMAGE"
  else
    log "missing ($IMAGE)"
    return 1
  fi
}

case "${1:-}" in
  up) up ;;
  status) status ;;
  image) echo "$IMAGE" ;;
  *)
    echo "usage: scripts/debian-base.sh up|status|image" >&2
    exit 2
    ;;
esac
