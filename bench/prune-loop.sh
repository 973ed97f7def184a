#!/usr/bin/env bash
# bench/prune-loop.sh [BUILDS] [ROUNDS] — BUILDS concurrent builders (default 8), each building
# ROUNDS times (default 8) a Dockerfile with shared and per-builder steps, a COPY and a second
# stage, while `kiln prune` / `kiln prune --all` run back to back. Every build must succeed;
# prints the count of builds, failures and prunes, and exits 1 on any failure.
#   KILN=target/release/kiln
set -uo pipefail
cd "$(dirname "$0")/.."
builders=${1:-8}
rounds=${2:-8}
kiln=${KILN:-target/release/kiln}
[ -x "$kiln" ] || cargo build --release -q -p kiln-cli || exit 1
kiln=$(realpath "$kiln")
work=$(mktemp -d -p "$PWD/target" prune-loop-XXXXXX)
trap 'rm -rf "$work"' EXIT
export KILN_ROOT=$work/root
scripts/busybox-rootfs.sh "$work/rootfs" >/dev/null
"$kiln" import "$work/rootfs" busybox:latest >/dev/null || exit 1
for ((b = 0; b < builders; b++)); do
  mkdir -p "$work/ctx$b"
  echo "ctx-$b" >"$work/ctx$b/ctx.txt"
  cat >"$work/ctx$b/Dockerfile" <<'EOF'
FROM busybox AS base
RUN echo shared > /shared && head -c 200000 /dev/urandom > /r
ARG N
RUN echo build-$N > /n && head -c 200000 /dev/urandom > /r$N
COPY ctx.txt /ctx.txt
FROM busybox
COPY --from=base /n /ctx.txt /out/
RUN cat /out/n /out/ctx.txt > /out/all
EOF
done

touch "$work/running"
(
  n=0
  while [ -e "$work/running" ]; do
    if [ $((n % 2)) -eq 0 ]; then a=(prune --all); else a=(prune); fi
    "$kiln" "${a[@]}" >/dev/null 2>>"$work/prune-errors" || echo x >>"$work/prune-failed"
    n=$((n + 1))
  done
  echo "$n" >"$work/prunes"
) &
pruner=$!

t0=$(date +%s%3N)
for ((b = 0; b < builders; b++)); do
  (
    for ((r = 0; r < rounds; r++)); do
      # Every other round from scratch, so that prune and the build race on fresh snapshots.
      extra=()
      [ $((r % 2)) -eq 1 ] && extra=(--no-cache)
      if ! "$kiln" build -q "${extra[@]}" --build-arg "N=$b" -t "p$b:$r" "$work/ctx$b" \
        >/dev/null 2>"$work/err-$b-$r"; then
        echo "build p$b:$r failed:" >&2
        sed 's/^/    /' "$work/err-$b-$r" >&2
        echo x >>"$work/build-failed"
      fi
    done
  ) &
done
wait $(jobs -p | grep -v "^$pruner\$")
rm -f "$work/running"
wait "$pruner"
t1=$(date +%s%3N)

failed=$(cat "$work/build-failed" 2>/dev/null | wc -l)
prune_failed=$(cat "$work/prune-failed" 2>/dev/null | wc -l)
total=$((builders * rounds))
echo "$total builds ($builders concurrent), $failed failed; $(cat "$work/prunes") prunes, $prune_failed failed; $((t1 - t0)) ms"
[ -s "$work/prune-errors" ] && sed 's/^/prune: /' "$work/prune-errors" | sort | uniq -c | head
check=$("$kiln" system check)
echo "$check" | tail -1
bad=0
for ((b = 0; b < builders; b++)); do
  out=$("$kiln" run --rm "p$b:$((rounds - 1))" cat /out/all 2>&1)
  [ "$out" = "build-$b
ctx-$b" ] || { echo "p$b: unexpected output: $out"; bad=1; }
done
[ "$failed" -eq 0 ] && [ "$prune_failed" -eq 0 ] && [ $bad -eq 0 ] && grep -q "No problems found" <<<"$check"
