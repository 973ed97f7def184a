#!/usr/bin/env bash
# sandbox.sh: what the full sandbox costs, kiln and docker in the same run.
#
#   1. `kiln run --rm IMG true` against `docker run --rm IMG true` (hyperfine, medians).
#      kiln with its default network (own namespace + NAT helper: slirp4netns when installed),
#      with --network none, --network host, and the default network through pasta; docker with --network none (this machine's dockerd runs with
#      --bridge=none, so docker's default bridge network is not available to compare with).
#   2. 50 `RUN true` steps without cache: kiln build --no-cache against docker's embedded
#      BuildKit (DOCKER_BUILDKIT=1 docker build --no-cache --network=none), per step.
#
# Targets (issue 7): kiln run ≤ 0.1× docker run; per RUN step ≤ 0.5× BuildKit's.
# Needs root, a release build (cargo build --release), /usr/bin/docker with a daemon, hyperfine.
#
#   KILN=target/release/kiln  DOCKER=/usr/bin/docker  RUNS=20  STEPS=50  OUT=bench/results
set -euo pipefail
cd "$(dirname "$0")/.."
KILN=${KILN:-$PWD/target/release/kiln}
DOCKER=${DOCKER:-/usr/bin/docker}
RUNS=${RUNS:-20}
STEPS=${STEPS:-50}
OUT=${OUT:-bench/results}
[ -x "$KILN" ] || { echo "sandbox.sh: no $KILN (cargo build --release)" >&2; exit 1; }
command -v hyperfine >/dev/null || { echo "sandbox.sh: needs hyperfine (apt-get install hyperfine)" >&2; exit 1; }
"$DOCKER" info >/dev/null 2>&1 || { echo "sandbox.sh: no docker daemon" >&2; exit 1; }

work=$(mktemp -d /var/tmp/kiln-sandbox-bench.XXXXXX)
export KILN_ROOT=$work/kiln-root
tag=kiln-sandbox-bench:$$
cleanup() { "$DOCKER" rmi -f "$tag" "$tag-steps" >/dev/null 2>&1 || true; rm -rf "$work"; }
trap cleanup EXIT

# The same busybox rootfs in both.
scripts/busybox-rootfs.sh "$work/rootfs"
tar -C "$work/rootfs" -cf "$work/rootfs.tar" .
"$KILN" import "$work/rootfs" "$tag" >/dev/null
"$DOCKER" import "$work/rootfs.tar" "$tag" >/dev/null

stamp=$(date -u +%Y-%m-%dT%H%M%SZ)
mkdir -p "$OUT"
json=$work/run.json
hyperfine -N -w 3 -r "$RUNS" --export-json "$json" \
  -n "docker run --network none" "$DOCKER run --rm --network none $tag true" \
  -n "kiln run (default network)" "$KILN run --rm $tag true" \
  -n "kiln run --network none" "$KILN run --rm --network none $tag true" \
  -n "kiln run --network host" "$KILN run --rm --network host $tag true" \
  -n "kiln run (default network, pasta)" "env KILN_NAT_HELPER=pasta $KILN run --rm $tag true" >&2

# 50 RUN true steps, no cache.
ctx=$work/steps
mkdir -p "$ctx"
{ echo "FROM $tag"; for i in $(seq "$STEPS"); do echo "RUN true # $i"; done; } > "$ctx/Dockerfile"
json2=$work/steps.json
hyperfine -w 1 -r "${STEP_RUNS:-5}" --export-json "$json2" \
  -n "docker build (BuildKit) $STEPS x RUN true" \
  "DOCKER_BUILDKIT=1 $DOCKER build -q --no-cache --network=none -t $tag-steps $ctx" \
  -n "kiln build $STEPS x RUN true" \
  "$KILN build -q --no-cache -t $tag-steps $ctx" >&2

python3 - "$json" "$json2" "$STEPS" "$OUT/sandbox-$stamp.md" <<'EOF'
import json, statistics, sys
run, steps, n, out = json.load(open(sys.argv[1])), json.load(open(sys.argv[2])), int(sys.argv[3]), sys.argv[4]
med = lambda r: statistics.median(r["times"])
lines = ["# Sandbox cost (bench/sandbox.sh)", "",
         "| command | median ms | min ms | ratio to docker |", "|---|---:|---:|---:|"]
docker = med(run["results"][0])
for r in run["results"]:
    lines.append(f"| {r['command']} | {med(r) * 1e3:.1f} | {min(r['times']) * 1e3:.1f} | {med(r) / docker:.3f} |")
kiln = med(run["results"][1])
lines += ["", f"Target kiln run ≤ 0.1× docker run: {kiln / docker:.3f}× — "
          + ("met" if kiln / docker <= 0.1 else "NOT met"), "",
          f"| build, {n} RUN steps, no cache | median s | per step ms | ratio |", "|---|---:|---:|---:|"]
bk = med(steps["results"][0])
for r in steps["results"]:
    lines.append(f"| {r['command']} | {med(r):.2f} | {med(r) / n * 1e3:.1f} | {med(r) / bk:.3f} |")
k = med(steps["results"][1])
lines += ["", f"Target per RUN step ≤ 0.5× BuildKit's: {k / bk:.3f}× — " + ("met" if k / bk <= 0.5 else "NOT met")]
open(out, "w").write("\n".join(lines) + "\n")
print("\n".join(lines))
EOF
echo "written: $OUT/sandbox-$stamp.md" >&2
