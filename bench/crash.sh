#!/usr/bin/env bash
# bench/crash.sh [TRIALS] — SIGKILL kiln at random points of a build, an export
# (`build --output type=oci`) and a load, TRIALS times (default 30, the three in turn); after
# every kill `kiln system check` must be clean and the next build must succeed. Prints one line
# per trial and a summary; exits 1 if any trial left the store damaged.
#   KILN=target/release/kiln  SEED=<number> (for $RANDOM, to replay a run)
set -uo pipefail
cd "$(dirname "$0")/.."
trials=${1:-30}
kiln=${KILN:-target/release/kiln}
[ -x "$kiln" ] || cargo build --release -q -p kiln-cli || exit 1
kiln=$(realpath "$kiln")
seed=${SEED:-$$}
RANDOM=$seed
work=$(mktemp -d -p "$PWD/target" crash-XXXXXX)
trap 'rm -rf "$work"' EXIT
export KILN_ROOT=$work/root
ctx=$work/ctx
mkdir -p "$ctx"
cat >"$ctx/Dockerfile" <<'EOF'
FROM busybox
RUN head -c 8000000 /dev/urandom > /r1
COPY big /big
RUN head -c 4000000 /dev/urandom > /r2 && sha256sum /r1 /r2 > /sums
EOF
head -c 4000000 /dev/zero | tr '\0' x >"$ctx/big"
scripts/busybox-rootfs.sh "$work/rootfs" >/dev/null
"$kiln" import "$work/rootfs" busybox:latest >/dev/null || exit 1
"$kiln" build -q -t crash:1 "$ctx" >/dev/null || exit 1
"$kiln" save -o "$work/load.tar" crash:1 || exit 1

op_cmd() { # OP -> the command line of one operation
  case $1 in
  build) echo "$kiln build -q --no-cache -t crash:1 $ctx" ;;
  export) echo "$kiln build -q --no-cache -t crash:1 --output type=oci,dest=$work/export.tar $ctx" ;;
  load) echo "$kiln load -q -i $work/load.tar" ;;
  esac
}
now_ms() { date +%s%3N; }
declare -A full
for op in build export load; do
  t0=$(now_ms)
  $(op_cmd "$op") >/dev/null 2>&1 || { echo "crash.sh: $op fails even without a kill" >&2; exit 1; }
  full[$op]=$(($(now_ms) - t0))
done
echo "seed $seed; uninterrupted: build ${full[build]} ms, export ${full[export]} ms, load ${full[load]} ms"

bad=0
ops=(build export load)
for ((i = 0; i < trials; i++)); do
  op=${ops[i % 3]}
  delay=$((RANDOM * 32768 + RANDOM))
  delay=$((delay % (full[$op] + 1)))
  # Its own session, so the kill reaches every process it started.
  setsid $(op_cmd "$op") >/dev/null 2>&1 &
  pid=$!
  sleep "$(awk -v ms="$delay" 'BEGIN { printf "%.3f", ms / 1000 }')"
  kill -9 -- "-$pid" 2>/dev/null
  wait "$pid" 2>/dev/null
  check=$("$kiln" system check 2>&1)
  rc=$?
  verdict=ok
  if [ $rc -ne 0 ] || ! grep -q "No problems found" <<<"$check"; then
    verdict="CHECK FAILED"
  elif ! "$kiln" build -q -t crash:1 "$ctx" >/dev/null 2>&1; then
    verdict="NEXT BUILD FAILED"
  elif grep -q "$KILN_ROOT" /proc/self/mountinfo; then
    verdict="MOUNTS LEFT"
  fi
  leftovers=$(grep -m1 '^Removed what' <<<"$check" | sed 's/^Removed what //')
  printf 'trial %2d  %-6s killed at %5d / %5d ms  %s%s\n' "$i" "$op" "$delay" "${full[$op]}" \
    "$verdict" "${leftovers:+  (collected: $leftovers)}"
  if [ "$verdict" != ok ]; then
    bad=$((bad + 1))
    printf '%s\n' "$check" | sed 's/^/    /'
  fi
done
"$kiln" prune >/dev/null
second=$("$kiln" prune | sed -n 's/^Total reclaimed space: //p')
echo "second prune reclaimed: $second"
[ "$second" = 0B ] || bad=$((bad + 1))
echo "$((trials - bad)) of $trials trials left a sound store (seed $seed)"
[ $bad -eq 0 ]
