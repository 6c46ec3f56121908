#!/bin/sh
# Installs the depot CLI from a release manifest (what `npm run release:cli` writes and actions/setup reads):
# {"latest": V, "versions": {V: {"linux-x64": {"url", "sha256"}, ...}}}, each url absolute or relative to the
# manifest's own URL. The tarball's SHA-256 is checked before anything is extracted. POSIX sh with curl or wget;
# no jq, python or node. The single source of the CircleCI orb's, the GitLab component's and Buildkite's install
# steps.
#
#   install.sh [--version VERSION|latest] [--manifest-url URL] [--dir DIR]
#
# Environment (flags win): DEPOT_VERSION (default latest), DEPOT_MANIFEST_URL (default: this repository's latest
# GitHub release), DEPOT_INSTALL_DIR (default $HOME/.depot). The CLI lands in DIR/bin/depot.
set -eu

# The repository the default manifest belongs to: package.json `repository` (a test keeps the two equal).
DEFAULT_REPOSITORY=depot-suite/depot-ci

version=${DEPOT_VERSION:-latest}
manifest_url=${DEPOT_MANIFEST_URL:-https://github.com/$DEFAULT_REPOSITORY/releases/latest/download/manifest.json}
dir=${DEPOT_INSTALL_DIR:-${HOME:-}/.depot}

fail() {
  echo "depot install: $*" >&2
  exit 1
}

while [ $# -gt 0 ]; do
  case $1 in
    --version | --manifest-url | --dir)
      if [ $# -lt 2 ] || [ -z "$2" ]; then fail "$1 needs a value (see the header of this script)"; fi
      case $1 in
        --version) version=$2 ;;
        --manifest-url) manifest_url=$2 ;;
        --dir) dir=$2 ;;
      esac
      shift 2
      ;;
    -h | --help)
      sed -n '2,11p' "$0" | sed 's/^# \{0,1\}//'
      exit 0
      ;;
    *) fail "unknown argument $1: use --version, --manifest-url or --dir" ;;
  esac
done

[ -n "$dir" ] || fail 'no install directory: pass --dir DIR (or set DEPOT_INSTALL_DIR or HOME)'
case $version in
  latest) ;;
  v[0-9]*.[0-9]*.[0-9]* | [0-9]*.[0-9]*.[0-9]*) version=${version#v} ;;
  *) fail "version \"$version\" is neither latest nor an exact version such as 1.2.3" ;;
esac
case $manifest_url in
  https://* | http://127.* | http://localhost:* | http://localhost/* | http://\[::1\]*) ;;
  http://*) fail "the manifest URL must be https (http only on a loopback host): $manifest_url" ;;
  *) fail "the manifest URL must be an https URL: $manifest_url" ;;
esac

case $(uname -s) in
  Linux) os=linux ;;
  *) fail "depot is released for Linux only, not $(uname -s)" ;;
esac
case $(uname -m) in
  x86_64 | amd64) arch=x64 ;;
  aarch64 | arm64) arch=arm64 ;;
  *) fail "depot is released for x86_64 and arm64 only, not $(uname -m)" ;;
esac
key=$os-$arch

if command -v curl >/dev/null 2>&1; then
  fetch() { curl -fsSL --retry 3 --connect-timeout 15 --max-time 600 -o "$2" "$1"; }
elif command -v wget >/dev/null 2>&1; then
  fetch() { wget -q -T 15 -t 3 -O "$2" "$1"; }
else
  fail 'neither curl nor wget is installed: install one of them'
fi
if command -v sha256sum >/dev/null 2>&1; then
  sha256() { sha256sum "$1" | cut -d' ' -f1; }
elif command -v shasum >/dev/null 2>&1; then
  sha256() { shasum -a 256 "$1" | cut -d' ' -f1; }
else
  fail 'no sha256sum or shasum to check the download with: install coreutils'
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT INT TERM

fetch "$manifest_url" "$tmp/manifest.json" || fail "cannot download the manifest $manifest_url: check --manifest-url or DEPOT_MANIFEST_URL"
# One line with no white space: values (versions, urls, hashes) hold none.
json=$(tr -d ' \t\r\n' <"$tmp/manifest.json")
if [ "$version" = latest ]; then
  version=$(printf '%s' "$json" | sed -n 's/.*"latest":"\([^"]*\)".*/\1/p')
  [ -n "$version" ] || fail "$manifest_url names no latest version: is it a depot release manifest?"
fi
# The version's object ends at the first "}}" after it: its platform objects hold no braces.
builds=$(printf '%s' "$json" | sed -n "s/.*\"versions\":{.*\"$(printf '%s' "$version" | sed 's/\./\\./g')\":{\([^{}]*{[^{}]*}\(,[^{}]*{[^{}]*}\)*\)}.*/\1/p")
[ -n "$builds" ] || fail "version $version is not in $manifest_url"
build=$(printf '%s' "$builds" | sed -n "s/.*\"$key\":{\([^{}]*\)}.*/\1/p")
[ -n "$build" ] || fail "version $version has no $key build in $manifest_url"
url=$(printf '%s' "$build" | sed -n 's/.*"url":"\([^"]*\)".*/\1/p')
want=$(printf '%s' "$build" | sed -n 's/.*"sha256":"\([0-9a-f]\{64\}\)".*/\1/p')
if [ -z "$url" ] || [ -z "$want" ]; then fail "the $key build of $version in $manifest_url has no url or sha256"; fi
case $url in
  *://*) ;;
  /*) url=$(printf '%s' "$manifest_url" | sed 's#^\([a-z]*://[^/]*\).*#\1#')$url ;;
  *) url=${manifest_url%/*}/$url ;;
esac

fetch "$url" "$tmp/depot.tar.gz" || fail "cannot download $url"
got=$(sha256 "$tmp/depot.tar.gz")
[ "$got" = "$want" ] || fail "$url has SHA-256 $got, but the manifest says $want: nothing was installed"

mkdir -p "$tmp/tree"
tar -xzf "$tmp/depot.tar.gz" -C "$tmp/tree" --strip-components=1 || fail "cannot extract $url"
[ -x "$tmp/tree/bin/depot" ] || fail "$url holds no bin/depot: is it a depot release?"
mkdir -p "$dir"
rm -rf "${dir:?}/bin" "${dir:?}/lib" "${dir:?}/libexec"
cp -R "$tmp/tree/." "$dir/"
echo "depot $version installed: $dir/bin/depot (add $dir/bin to PATH)"
