#!/bin/bash
# Runs `depot build` (or `depot bake` when PARAM_COMMAND=bake) with the orb's parameters, passed as PARAM_* variables.
# Lists (tags, platforms, labels, build_args, secrets, targets) are comma- or newline-separated. Exit 69 (the
# broker or the cache unreachable) retries as a plain `docker buildx` with the same flags when buildx_fallback is true.
set -euo pipefail

fail() {
  echo "depot: $*" >&2
  exit 1
}

# One item a line, blanks dropped; commas separate items too.
list() {
  printf '%s\n' "$1" | tr ',' '\n' | sed 's/^[[:space:]]*//;s/[[:space:]]*$//' | sed '/^$/d'
}

# Lines only: build args, labels and secrets may hold commas.
lines() {
  printf '%s\n' "$1" | sed 's/^[[:space:]]*//;s/[[:space:]]*$//' | sed '/^$/d'
}

# $NAME and ${NAME} replaced by the variable's value, as CircleCI leaves them in `environment:` (no eval: nothing
# else in the value runs).
expand() {
  local rest=$1 out='' name
  while [[ $rest =~ ^([^$]*)\$(\{([A-Za-z_][A-Za-z0-9_]*)\}|([A-Za-z_][A-Za-z0-9_]*))(.*)$ ]]; do
    out+=${BASH_REMATCH[1]}
    name=${BASH_REMATCH[3]:-${BASH_REMATCH[4]}}
    out+=${!name:-}
    rest=${BASH_REMATCH[5]}
  done
  printf '%s' "$out$rest"
}
for var in PARAM_CONTEXT PARAM_FILE PARAM_TAGS PARAM_TARGET PARAM_BUILD_ARGS PARAM_LABELS PARAM_FILES PARAM_TARGETS PARAM_PROJECT PARAM_BROKER_URL PARAM_OIDC_AUDIENCE; do
  if [ -n "${!var:-}" ]; then printf -v "$var" '%s' "$(expand "${!var}")"; fi
done

bool() {
  case $2 in
    true | 1) return 0 ;;
    false | 0 | "") return 1 ;;
    *) fail "parameter $1 must be true or false, not \"$2\"" ;;
  esac
}

command=${PARAM_COMMAND:-build}
case $command in
  build | bake) ;;
  *) fail "unknown command \"$command\": build or bake" ;;
esac
command -v depot >/dev/null 2>&1 || fail 'depot is not on PATH: run the orb'"'"'s install command first'

if [ -n "${PARAM_BROKER_URL:-}" ]; then export DEPOT_BROKER_URL=$PARAM_BROKER_URL; fi
if [ -n "${PARAM_OIDC_AUDIENCE:-}" ]; then export DEPOT_OIDC_AUDIENCE=$PARAM_OIDC_AUDIENCE; fi
if [ -z "${DEPOT_TOKEN:-}" ] && [ -n "${DEPOT_BROKER_URL:-}" ] && [ -z "${CIRCLE_PR_NUMBER:-}" ] && [ -z "${CIRCLE_OIDC_TOKEN_V2:-}" ]; then
  echo "depot: this job has no OIDC token (CIRCLE_OIDC_TOKEN_V2 is empty): enable OpenID Connect for the project or run the job with a context" >&2
fi

args=()
if [ "$command" = build ]; then
  if [ -n "${PARAM_FILE:-}" ]; then args+=(--file "$PARAM_FILE"); fi
  if [ -n "${PARAM_TARGET:-}" ]; then args+=(--target "$PARAM_TARGET"); fi
  while IFS= read -r t; do args+=(--tag "$t"); done < <(list "${PARAM_TAGS:-}")
  while IFS= read -r a; do args+=(--build-arg "$a"); done < <(lines "${PARAM_BUILD_ARGS:-}")
  while IFS= read -r l; do args+=(--label "$l"); done < <(lines "${PARAM_LABELS:-}")
  platforms=$(list "${PARAM_PLATFORMS:-}" | paste -sd, -)
  if [ -n "$platforms" ]; then args+=(--platform "$platforms"); fi
  if [ -n "${PARAM_PROVENANCE:-}" ]; then args+=("--provenance=$PARAM_PROVENANCE"); fi
  if [ -n "${PARAM_SBOM:-}" ]; then args+=("--sbom=$PARAM_SBOM"); fi
  if bool no_cache "${PARAM_NO_CACHE:-false}"; then args+=(--no-cache); fi
  if bool pull "${PARAM_PULL:-false}"; then args+=(--pull); fi
else
  while IFS= read -r f; do args+=(--file "$f"); done < <(list "${PARAM_FILES:-}")
  platforms=$(list "${PARAM_PLATFORMS:-}" | paste -sd, -)
  if [ -n "$platforms" ]; then args+=(--set "*.platform=$platforms"); fi
  if bool no_cache "${PARAM_NO_CACHE:-false}"; then args+=(--no-cache); fi
  if bool pull "${PARAM_PULL:-false}"; then args+=(--pull); fi
fi
while IFS= read -r s; do args+=(--secret "$s"); done < <(lines "${PARAM_SECRETS:-}")
if bool push "${PARAM_PUSH:-false}"; then args+=(--push); fi
if bool load "${PARAM_LOAD:-false}"; then args+=(--load); fi

depot_args=()
if [ -n "${PARAM_PROJECT:-}" ]; then depot_args+=(--project "$PARAM_PROJECT"); fi
if bool save "${PARAM_SAVE:-false}"; then depot_args+=(--save); fi

if [ "$command" = build ]; then
  operands=("${PARAM_CONTEXT:-.}")
else
  mapfile -t operands < <(list "${PARAM_TARGETS:-}")
fi

set +e
depot "$command" "${args[@]}" "${depot_args[@]}" "${operands[@]}"
status=$?
set -e
if [ "$status" -eq 69 ] && bool buildx_fallback "${PARAM_BUILDX_FALLBACK:-false}"; then
  echo "depot: the broker or the project cache is unreachable (exit 69): building with docker buildx $command, without the project cache" >&2
  exec docker buildx "$command" "${args[@]}" "${operands[@]}"
fi
exit "$status"
