#!/usr/bin/env bash
# bench/deep.sh [DEPTH] [REPS] — deep paths, kiln beside BuildKit in the same run:
#   add:  ADD of a tar holding one file DEPTH directories deep (default 1500);
#   copy: COPY of a file to a destination 1000 directories deep;
#   raw:  the kernel's own floor, mkdir of DEPTH nested directories from Python (one
#         mkdirat + one open per level), for scale: on some kernels mkdir itself costs more
#         the deeper the directory is.
# Each figure is the step's own time as the build's plain progress reports it (`#N DONE 1.2s`),
# median of REPS (default 5) builds with --no-cache. Needs root, dockerd (scripts/test.sh starts
# one) and /bin/busybox.
set -euo pipefail
cd "$(dirname "$0")/.."
depth=${1:-1500}
reps=${2:-5}
kiln=${KILN:-target/release/kiln}
docker=${DOCKER:-/usr/bin/docker}
[ -x "$kiln" ] || cargo build --release -q -p kiln-cli
work=$(mktemp -d /var/tmp/kiln-deep.XXXXXX)
trap 'rm -rf "$work"' EXIT
export KILN_ROOT="$work/root"

# A busybox base for both.
sh scripts/busybox-rootfs.sh "$work/rootfs" >/dev/null
"$kiln" import "$work/rootfs" deep-base:latest >/dev/null
if ! "$docker" image inspect deep-base:latest >/dev/null 2>&1; then
  tar -C "$work/rootfs" -c . | "$docker" import - deep-base:latest >/dev/null
fi

python3 - "$depth" "$work/ctx-add/deep.tar" <<'PY'
import io, os, sys, tarfile
depth, out = int(sys.argv[1]), sys.argv[2]
os.makedirs(os.path.dirname(out), exist_ok=True)
with tarfile.open(out, "w", format=tarfile.PAX_FORMAT) as t:
    ti = tarfile.TarInfo("d/" * depth + "leaf")
    ti.size = 4
    t.addfile(ti, io.BytesIO(b"deep"))
PY
printf 'FROM deep-base:latest\nADD deep.tar /deep/\n' > "$work/ctx-add/Dockerfile"
mkdir -p "$work/ctx-copy"
echo hello > "$work/ctx-copy/f"
dest=$(python3 -c 'print("/x" * 1000 + "/")')
printf 'FROM deep-base:latest\nCOPY f %s\n' "$dest" > "$work/ctx-copy/Dockerfile"

# The DONE time of the step whose name contains $2, from plain progress on stdin.
step_time() {
  awk -v pat="$1" '
    /^#[0-9]+ \[/ { if (index($0, pat)) id = $1 }
    id != "" && $1 == id && $2 == "DONE" { t = $3; sub(/s$/, "", t); print t; exit }'
}
median() { sort -n | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }

run() { # tool scenario
  local tool=$1 scen=$2 pat
  case $scen in add) pat="ADD deep.tar" ;; copy) pat="COPY f" ;; esac
  for _ in $(seq "$reps"); do
    if [ "$tool" = kiln ]; then
      "$kiln" build --no-cache --progress=plain -t "deep-$scen" "$work/ctx-$scen" 2>&1 | step_time "$pat"
    else
      DOCKER_BUILDKIT=1 "$docker" build --no-cache --progress=plain -t "deep-$scen" "$work/ctx-$scen" 2>&1 | step_time "$pat"
    fi
  done | median
}

raw() {
  for _ in $(seq "$reps"); do
    rm -rf "$work/raw"; mkdir "$work/raw"
    python3 - "$work/raw" "$depth" <<'PY'
import os, sys, time
fd = os.open(sys.argv[1], os.O_RDONLY)
t = time.monotonic()
for _ in range(int(sys.argv[2])):
    os.mkdir("d", dir_fd=fd)
    nfd = os.open("d", os.O_RDONLY | os.O_DIRECTORY, dir_fd=fd)
    os.close(fd)
    fd = nfd
print(f"{time.monotonic() - t:.3f}")
PY
  done | median
}

printf 'measure\tkiln (s)\tBuildKit (s)\n'
printf 'ADD of a tar with one file %s deep\t%s\t%s\n' "$depth" "$(run kiln add)" "$(run docker add)"
printf 'COPY to a destination 1000 deep\t%s\t%s\n' "$(run kiln copy)" "$(run docker copy)"
printf 'kernel floor: mkdir of %s nested directories (Python)\t%s\t\n' "$depth" "$(raw)"
