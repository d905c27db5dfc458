#!/usr/bin/env bash
# WRANGLER_DOCKER_BIN of the container tier: lets wrangler drive an engine without buildx (Debian's docker.io).
#  - `docker build --load ... --provenance=false`: without buildx, the buildx-only flags wrangler always passes
#    are dropped and the legacy builder runs; either way PGSEAL_TIER_BUILD_ARGS (the tier's local substitutes, e.g. "PG_APT=debian
#    PG_MAJOR=15") are appended; a later --build-arg wins over wrangler's image_vars.
#  - `docker pull IMAGE` of an image already present locally: a no-op (wrangler pulls the network sidecar on
#    every start, even a local stand-in named by MINIFLARE_CONTAINER_EGRESS_IMAGE).
set -euo pipefail
REAL=${PGSEAL_TIER_DOCKER:-docker}
if [[ ${1-} == build ]]; then
  out=("${@:2}")
  if ! "$REAL" buildx version >/dev/null 2>&1; then
    out=()
    for a in "${@:2}"; do [[ $a == --load || $a == --provenance=false ]] || out+=("$a"); done
    export DOCKER_BUILDKIT=0
  fi
  extra=()
  # Space-separated NAME=value pairs; values cannot hold spaces.
  for kv in ${PGSEAL_TIER_BUILD_ARGS-}; do extra+=(--build-arg "$kv"); done
  # The context is the last argument: the extra build args go before it.
  n=${#out[@]}
  exec "$REAL" build "${out[@]:0:n-1}" "${extra[@]}" "${out[n-1]}"
elif [[ ${1-} == pull && -n ${2-} ]] && "$REAL" image inspect "$2" >/dev/null 2>&1; then
  echo "docker-shim: $2 is present locally; not pulling" >&2
  exit 0
fi
exec "$REAL" "$@"
