#!/usr/bin/env bash
# bench/registry.sh [MB] [REPS] — pull and push of an image with one MB-sized layer of
# incompressible files (default 400 MB, 3 reps), against local CNCF registries: `kiln pull`
# and `kiln push` beside skopeo and docker, in the same run.
#
# pull: into an empty store (kiln: a fresh --root; skopeo: an OCI layout; docker: its store,
#       the image removed first), then kiln again into the same store (nothing to transfer).
#       docker also unpacks the layer; kiln and skopeo keep the blob (kiln unpacks a layer on
#       its first use by run or build), so the docker figure includes work kiln defers;
# push: to a registry with empty storage, a fresh one per push (so no one can mount from a
#       repository it pulled), then kiln again to the same one (nothing to upload). Each pushes
#       from its own store: kiln and skopeo send the pulled blob, docker recompresses.
# Prints one row per run (tool, operation, seconds, peak RSS in MB — docker's is its CLI's,
# the daemon does the work) and the medians.
set -euo pipefail
cd "$(dirname "$0")/.."
mb=${1:-400}
reps=${2:-3}
cargo build --release -q -p kiln-cli
kiln=$PWD/target/release/kiln
work=$(mktemp -d /var/tmp/kiln-regbench.XXXXXX)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT
have_docker=0
/usr/bin/docker info >/dev/null 2>&1 && have_docker=1

# start_registry NAME: a registry with its own storage; sets $port.
start_registry() {
  local d=$work/$1
  mkdir -p "$d"
  port=$(python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])')
  cat >"$d/config.yml" <<EOF
version: 0.1
log:
  level: error
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: $d/data
http:
  addr: 127.0.0.1:$port
  secret: kiln-bench
EOF
  docker-registry serve "$d/config.yml" >"$d/log" 2>&1 &
  pids+=($!)
  for _ in $(seq 200); do
    (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && return 0
    sleep 0.05
  done
  echo "registry $1 did not start" >&2
  exit 1
}

# The image: one tar.gz layer of 1–189 KiB random files, as an OCI layout docker can pull.
python3 - "$mb" "$work/layout" <<'PY'
import gzip, hashlib, io, json, os, random, sys, tarfile
mb, out = int(sys.argv[1]), sys.argv[2]
rnd = random.Random(42)
buf = io.BytesIO()
with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as t:
    total = i = 0
    while total < mb << 20:
        n = rnd.randint(1, 189) * 1024
        ti = tarfile.TarInfo(f"data/f{i:05d}")
        ti.size, ti.mtime, ti.mode = n, 0, 0o644
        t.addfile(ti, io.BytesIO(os.urandom(n)))
        total, i = total + n, i + 1
tar = buf.getvalue()
gz = gzip.compress(tar, compresslevel=1, mtime=0)
os.makedirs(f"{out}/blobs/sha256")
def blob(b, mt):
    d = hashlib.sha256(b).hexdigest()
    open(f"{out}/blobs/sha256/{d}", "wb").write(b)
    return {"mediaType": mt, "digest": "sha256:" + d, "size": len(b)}
layer = blob(gz, "application/vnd.oci.image.layer.v1.tar+gzip")
config = {"architecture": "amd64", "os": "linux", "config": {"Cmd": ["/bin/sh"]},
          "rootfs": {"type": "layers", "diff_ids": ["sha256:" + hashlib.sha256(tar).hexdigest()]}}
cfg = blob(json.dumps(config, sort_keys=True).encode(), "application/vnd.oci.image.config.v1+json")
manifest = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": cfg, "layers": [layer]}
m = blob(json.dumps(manifest, sort_keys=True).encode(), "application/vnd.oci.image.manifest.v1+json")
m["annotations"] = {"org.opencontainers.image.ref.name": "v1"}
json.dump({"schemaVersion": 2, "manifests": [m]}, open(f"{out}/index.json", "w"))
open(f"{out}/oci-layout", "w").write('{"imageLayoutVersion":"1.0.0"}')
print(f"image: one layer of {len(gz) >> 20} MB ({i} files)", file=sys.stderr)
PY

start_registry source
src=127.0.0.1:$port/bench/img:v1
skopeo --insecure-policy copy -q --dest-tls-verify=false "oci:$work/layout:v1" "docker://$src"

rows=$work/rows.tsv
: >"$rows"
# run TOOL OP CMD...: time and peak RSS of CMD, one row.
run() {
  local tool=$1 op=$2
  shift 2
  /usr/bin/time -f '%e %M' -o "$work/time" "$@" >/dev/null
  read -r secs kb <"$work/time"
  printf '%s\t%s\t%s\t%d\n' "$tool" "$op" "$secs" $((kb / 1024)) | tee -a "$rows"
}

for rep in $(seq "$reps"); do
  rm -rf "$work/pull-kiln" "$work/pull-skopeo"
  run kiln pull "$kiln" --root "$work/pull-kiln" pull -q "$src"
  run kiln pull-again "$kiln" --root "$work/pull-kiln" pull -q "$src"
  run skopeo pull skopeo --insecure-policy copy -q --src-tls-verify=false "docker://$src" "oci:$work/pull-skopeo:v1"
  if [ "$have_docker" = 1 ]; then
    /usr/bin/docker rmi -f "$src" >/dev/null 2>&1 || true
    run docker pull /usr/bin/docker pull -q "$src"
  fi

  start_registry "push-kiln-$rep"
  "$kiln" --root "$work/pull-kiln" tag "$src" "127.0.0.1:$port/bench/img:v1"
  run kiln push "$kiln" --root "$work/pull-kiln" push -q "127.0.0.1:$port/bench/img:v1"
  run kiln push-again "$kiln" --root "$work/pull-kiln" push -q "127.0.0.1:$port/bench/img:v1"
  start_registry "push-skopeo-$rep"
  run skopeo push skopeo --insecure-policy copy -q --dest-tls-verify=false "oci:$work/layout:v1" "docker://127.0.0.1:$port/bench/img:v1"
  if [ "$have_docker" = 1 ]; then
    start_registry "push-docker-$rep"
    /usr/bin/docker tag "$src" "127.0.0.1:$port/bench/img:v1"
    run docker push /usr/bin/docker push -q "127.0.0.1:$port/bench/img:v1"
    /usr/bin/docker rmi -f "127.0.0.1:$port/bench/img:v1" >/dev/null 2>&1 || true
  fi
done
[ "$have_docker" = 1 ] && /usr/bin/docker rmi -f "$src" >/dev/null 2>&1 || true

echo "medians (seconds, peak RSS MB) over $reps runs, ${mb} MB layer:"
python3 - "$rows" <<'PY'
import statistics, sys
rows = {}
for line in open(sys.argv[1]):
    tool, op, secs, mb = line.split("\t")
    rows.setdefault((op, tool), []).append((float(secs), int(mb)))
for (op, tool), v in sorted(rows.items()):
    print(f"{op:11} {tool:7} {statistics.median(s for s, _ in v):8.3f} s  {statistics.median(m for _, m in v):6.0f} MB")
PY
