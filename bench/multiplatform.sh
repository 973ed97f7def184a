#!/usr/bin/env bash
# bench/multiplatform.sh [REPS] — a two-platform build of a small app (linux/amd64 natively,
# linux/arm64 with one RUN under QEMU through binfmt_misc), kiln's one command
#   kiln build --no-cache --platform linux/amd64,linux/arm64
# beside BuildKit (Docker 20.10's, no buildx here) building the two platforms one after the
# other (`docker build --no-cache --platform linux/amd64`, then `linux/arm64`), in the same
# run; medians of REPS (default 5). Target: kiln ≤ 0.7× BuildKit's sum.
#
# The app: 400 source files (~6 MB) copied into a `FROM --platform=$BUILDPLATFORM` stage that
# "cross-compiles" (packs them per TARGETARCH), then a stage on the target's busybox that
# unpacks the result and runs `uname -m` (emulated for arm64). kiln lowers both platforms into
# one graph: the context is loaded once and the COPY of it into the build stage runs once,
# which its progress output and closing note show (printed after the timings).
#
# Needs root, dockerd (scripts/test.sh starts it), qemu-user-static with binfmt-support, and
# Debian's busybox-static:arm64 unpacked (scripts/test.sh puts it in target/arm64-busybox).
# Docker gets the arm64 base through `kiln save` + `docker load` (Docker 20.10 ignores
# `docker import --platform` without the experimental daemon).
set -euo pipefail
cd "$(dirname "$0")/.."
reps=${1:-5}
docker=${DOCKER:-/usr/bin/docker}
arm64_bb=${KILN_ARM64_BUSYBOX:-$PWD/target/arm64-busybox/bin/busybox}
[ -x "$arm64_bb" ] || { echo "no arm64 busybox at $arm64_bb (run scripts/test.sh once)" >&2; exit 1; }
[ -e /proc/sys/fs/binfmt_misc/qemu-aarch64 ] || { echo "qemu-aarch64 is not registered" >&2; exit 1; }
cargo build --release -q -p kiln-cli
kiln=${KILN:-$PWD/target/release/kiln}
work=$(mktemp -d /var/tmp/kiln-mpbench.XXXXXX)
# Docker's builds carry a label, so the images a rep's retag leaves dangling go at the end.
trap 'rm -rf "$work"; "$docker" image prune -f --filter label=kiln-mpbench=1 >/dev/null 2>&1 || true' EXIT
export KILN_ROOT=$work/root

scripts/busybox-rootfs.sh "$work/amd64" >/dev/null
scripts/busybox-rootfs.sh "$work/arm64" "$arm64_bb" >/dev/null
"$kiln" import "$work/amd64" mpbench/bb:amd64 >/dev/null
"$kiln" import --platform linux/arm64 "$work/arm64" mpbench/bb:arm64 >/dev/null
for a in amd64 arm64; do
  "$kiln" save -o "$work/bb-$a.tar" "mpbench/bb:$a"
  "$docker" load -q -i "$work/bb-$a.tar" >/dev/null
done

ctx=$work/ctx
mkdir -p "$ctx/src"
python3 - "$ctx/src" <<'PY'
import os, random, sys
random.seed(7)
for i in range(400):
    d = os.path.join(sys.argv[1], f"pkg{i % 20}")
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, f"file{i}.c"), "w") as f:
        for j in range(random.randint(200, 400)):
            f.write(f"int f_{i}_{j}(int x) {{ return x * {j} + {i}; }}\n")
PY
cat >"$ctx/Dockerfile" <<'EOF'
FROM --platform=$BUILDPLATFORM mpbench/bb:amd64 AS build
COPY src /src
ARG TARGETARCH
RUN cd /src && tar czf /app-$TARGETARCH.tgz . && md5sum /app-$TARGETARCH.tgz > /app.sum
FROM mpbench/bb:$TARGETARCH
ARG TARGETARCH
COPY --from=build /app-$TARGETARCH.tgz /app.sum /
RUN mkdir -p /opt/app && tar xzf /app-$TARGETARCH.tgz -C /opt/app && find /opt/app -type f | wc -l && uname -m
EOF

secs() {
  local s; s=$(date +%s.%N)
  "$@" >"$work/last.log" 2>&1 || { echo "failed: $*" >&2; tail -20 "$work/last.log" >&2; return 1; }
  echo "$(date +%s.%N) - $s" | bc
}
median() { sort -n | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }

k_times=() d_amd=() d_arm=() d_sum=()
for r in $(seq "$reps"); do
  k=$(secs "$kiln" build --no-cache --progress=plain --platform linux/amd64,linux/arm64 -t mpbench/app:k "$ctx")
  a=$(secs env DOCKER_BUILDKIT=1 "$docker" build --no-cache --network=host --progress=plain --label kiln-mpbench=1 --platform linux/amd64 -t mpbench/app:amd64 "$ctx")
  b=$(secs env DOCKER_BUILDKIT=1 "$docker" build --no-cache --network=host --progress=plain --label kiln-mpbench=1 --platform linux/arm64 -t mpbench/app:arm64 "$ctx")
  s=$(echo "$a + $b" | bc)
  printf 'rep %d: kiln %.2fs   buildkit amd64 %.2fs + arm64 %.2fs = %.2fs\n' "$r" "$k" "$a" "$b" "$s"
  k_times+=("$k") d_amd+=("$a") d_arm+=("$b") d_sum+=("$s")
done
km=$(printf '%s\n' "${k_times[@]}" | median)
dm=$(printf '%s\n' "${d_sum[@]}" | median)
am=$(printf '%s\n' "${d_amd[@]}" | median)
bm=$(printf '%s\n' "${d_arm[@]}" | median)
printf 'median: kiln %.2fs; buildkit %.2fs (amd64 %.2fs + arm64 %.2fs); ratio %.2f (target <= 0.70)\n' \
  "$km" "$dm" "$am" "$bm" "$(echo "$km / $dm" | bc -l)"

# Shared work ran once: one more kiln build, its progress and closing note.
log=$("$kiln" build --no-cache --progress=plain --platform linux/amd64,linux/arm64 -t mpbench/app:k "$ctx" 2>&1)
echo "kiln: [internal] load build context ran $(grep -c '\] load build context$' <<<"$log" | head -1)x (by step number: $(grep -E '^#[0-9]+ \[internal\] load build context$' <<<"$log" | sort -u | wc -l) step)"
echo "kiln: COPY src /src steps: $(grep -E '^#[0-9]+ \[.*\] COPY src /src$' <<<"$log" | sort -u)"
grep -E '^(built|[0-9]+ steps shared)' <<<"$log" || true
"$docker" image rm -f mpbench/app:amd64 mpbench/app:arm64 mpbench/bb:amd64 mpbench/bb:arm64 >/dev/null 2>&1 || true
