#!/usr/bin/env bash
# bench/kiln-reset.sh — kiln's side of the harness's cold-rep reset (see bench/harness.sh):
# every image in $KILN_ROOT except the harness's base images removed, then `kiln prune`.
set -uo pipefail
KILN=${KILN:-kiln}
"$KILN" images | awk 'NR > 1 && $1 !~ /^localhost:5000\/(busybox|debian)$/ { print $3 }' |
  sort -u | xargs -r "$KILN" rmi -f >/dev/null
"$KILN" prune >/dev/null
