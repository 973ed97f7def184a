#!/usr/bin/env bash
# bench/export.sh [REPS] — lazy layer compression at export: the s2 image (a 406 MB layer of
# 20,000 files, `../shared/bench/scenarios/s2-large-context`) built once into a fresh store,
# then written as an OCI tar with gzip layers (`kiln build -o type=oci,dest=…`, a cached
# rebuild) into a fresh store copy each rep (first export: the layer is compressed), then
# again (second export: the compressed blob is reused). Beside it, single-threaded
# `gzip -c` (level 6, docker's) and `gzip -2 -c` of the same uncompressed layer tar.
# Prints seconds, MB/s of uncompressed layer per second, and peak RSS (GNU time %M).
set -euo pipefail
cd "$(dirname "$0")/.."
reps=${1:-3}
KILN=${KILN:-$PWD/target/release/kiln}
[ -x "$KILN" ] || cargo build --release -q -p kiln-cli
scen=../shared/bench/scenarios/s2-large-context
work=$(mktemp -d /var/tmp/kiln-exportbench.XXXXXX)
trap 'rm -rf "$work"' EXIT
ctx=$work/ctx
sh "$scen/gen.sh" "$ctx" >/dev/null
export KILN_ROOT=$work/root
sh scripts/busybox-rootfs.sh "$work/rootfs" >/dev/null
"$KILN" import "$work/rootfs" localhost:5000/busybox:1 >/dev/null
df=$scen/Dockerfile
"$KILN" build -q -t bench-s2 -f "$df" "$ctx" >/dev/null
# The uncompressed layer tar as the store keeps it (the newest, largest plain blob).
layer=$(ls -S "$KILN_ROOT"/content/blobs/sha256/* | head -1)
mb=$(( $(stat -c %s "$layer") / 1000000 ))
echo "layer: $mb MB uncompressed"
t() { /usr/bin/time -f '%e %M' -o "$work/t" "$@" >/dev/null; cat "$work/t"; }
row() { printf '%-28s %6s s  %6s MB/s  %5s MB RSS\n' "$1" "$2" "$(python3 -c "print(round($mb/max($2,0.001)))")" "$(( $3 / 1024 ))"; }
for i in $(seq "$reps"); do
  rm -rf "$work/store$i"; cp -a "$KILN_ROOT" "$work/store$i"
  read -r s rss < <(KILN_ROOT=$work/store$i t "$KILN" build -q -t bench-s2 -f "$df" -o "type=oci,dest=$work/out.tar" "$ctx")
  row "kiln export (first)" "$s" "$rss"
  read -r s rss < <(KILN_ROOT=$work/store$i t "$KILN" build -q -t bench-s2 -f "$df" -o "type=oci,dest=$work/out2.tar" "$ctx")
  row "kiln export (second)" "$s" "$rss"
  rm -rf "$work/store$i"
  read -r s rss < <(t sh -c "gzip -c < '$layer' > '$work/l.gz'")
  row "gzip -6 -c (1 thread)" "$s" "$rss"
  read -r s rss < <(t sh -c "gzip -2 -c < '$layer' > '$work/l.gz'")
  row "gzip -2 -c (1 thread)" "$s" "$rss"
done
ls -l "$work/out.tar" "$work/l.gz" | awk '{print $5, $9}'
