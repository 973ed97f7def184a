#!/usr/bin/env bash
# bench/secrets.sh [STEPS] [MB] [REPS] — issue 10's targets, kiln beside BuildKit in one run:
#   mounts: what a secret mount and an ssh mount add to a RUN step: STEPS (default 20)
#           `RUN echo` steps with --no-cache, plain, with `--mount=type=secret`, with
#           `--mount=type=ssh`; hyperfine means over 4×REPS builds each, (with mount -
#           plain) / STEPS, ± the two means' standard errors combined, per step.
#   add:    `ADD http://127.0.0.1/big.bin` of an MB-sized file (default 100) from a local
#           `python3 -m http.server` (kiln's download cache emptied before each rep,
#           --no-cache for both): the build's wall time without its export step (kiln
#           gzips the 100 MB layer when it exports, docker's store keeps it uncompressed),
#           and the whole wall time; medians of REPS (default 5). kiln's peak RSS from
#           /usr/bin/time -v (docker's work happens in its daemon: not comparable).
# Targets: a mount adds < 5 ms per step; ADD at least as fast as BuildKit, peak RSS < 100 MB.
# Needs root, dockerd (scripts/test.sh starts one), /bin/busybox, python3, ssh-agent.
set -euo pipefail
cd "$(dirname "$0")/.."
steps=${1:-20}
mb=${2:-100}
reps=${3:-5}
kiln=${KILN:-target/release/kiln}
docker=${DOCKER:-/usr/bin/docker}
[ -x "$kiln" ] || cargo build --release -q -p kiln-cli
work=$(mktemp -d /var/tmp/kiln-secrets.XXXXXX)
port=$((20000 + RANDOM % 20000))
agent_pid=
server_pid=
cleanup() {
  [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null || true
  [ -n "$agent_pid" ] && kill "$agent_pid" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
export KILN_ROOT="$work/root"

sh scripts/busybox-rootfs.sh "$work/rootfs" >/dev/null
"$kiln" import "$work/rootfs" secrets-base:latest >/dev/null
tar -C "$work/rootfs" -c . | "$docker" import - secrets-base:latest >/dev/null

# An agent of the bench's own.
eval "$(ssh-agent -s -a "$work/agent.sock")" >/dev/null
agent_pid=$SSH_AGENT_PID
printf 's3cret' > "$work/secret"

for kind in plain secret ssh; do
  mkdir -p "$work/ctx-$kind"
  {
    echo "FROM secrets-base:latest"
    for i in $(seq "$steps"); do
      case $kind in
        plain) echo "RUN echo $i" ;;
        secret) echo "RUN --mount=type=secret,id=s echo $i" ;;
        ssh) echo "RUN --mount=type=ssh echo $i" ;;
      esac
    done
  } > "$work/ctx-$kind/Dockerfile"
done

mkdir -p "$work/www" "$work/ctx-add"
head -c $((mb << 20)) /dev/urandom > "$work/www/big.bin"
(cd "$work/www" && exec python3 -m http.server "$port" --bind 127.0.0.1 >/dev/null 2>&1) &
server_pid=$!
sleep 1
printf 'FROM secrets-base:latest\nADD http://127.0.0.1:%s/big.bin /big.bin\n' "$port" > "$work/ctx-add/Dockerfile"

median() { sort -n | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }
now() { date +%s.%N; }

build() { # tool ctx
  local tool=$1 ctx=$2
  if [ "$tool" = kiln ]; then
    "$kiln" build --no-cache --progress=plain --secret "id=s,src=$work/secret" --ssh default -t bench-secrets "$ctx" >/dev/null 2>&1
  else
    DOCKER_BUILDKIT=1 "$docker" build --network=host --no-cache --progress=plain \
      --secret "id=s,src=$work/secret" --ssh default -t bench-secrets "$ctx" >/dev/null 2>&1
  fi
}

# From plain progress on stdin: "RUN-SUM EXPORT", the summed DONE times of RUN steps and the
# DONE time of the export step.
times() {
  awk '
    /^#[0-9]+ \[/ && /\] RUN / { run[$1] = 1 }
    /^#[0-9]+ exporting to image/ { exp_id = $1 }
    $2 == "DONE" { t = $3; sub(/s$/, "", t); if ($1 in run) sum += t; if ($1 == exp_id) e = t }
    END { printf "%.3f %.3f\n", sum, e }'
}

build_log() { # tool ctx: plain progress on stdout
  local tool=$1 ctx=$2
  if [ "$tool" = kiln ]; then
    "$kiln" build --no-cache --progress=plain --secret "id=s,src=$work/secret" --ssh default -t bench-secrets "$ctx" 2>&1
  else
    DOCKER_BUILDKIT=1 "$docker" build --network=host --no-cache --progress=plain \
      --secret "id=s,src=$work/secret" --ssh default -t bench-secrets "$ctx" 2>&1
  fi
}

runs() { # tool kind -> one line per rep: "RUN-SUM WALL-WITHOUT-EXPORT WALL"
  for _ in $(seq "$reps"); do
    [ "$1" = kiln ] && rm -rf "$KILN_ROOT/http-cache"
    local t0 t1 out
    t0=$(now); out=$(build_log "$1" "$work/ctx-$2" | times); t1=$(now)
    set -- "$1" "$2" $out
    echo "$3 $(echo "$t1 - $t0 - $4" | bc -l) $(echo "$t1 - $t0" | bc -l)"
    set -- "$1" "$2"
  done
}
col() { awk -v c="$1" '{print $c}' | median; }

per_step() { # tool kind: "ms ± ms" a mount adds per step
  hyperfine -N --style none --warmup 1 --runs $((4 * reps)) --export-json "$work/h.json" \
    "$(build_cmd "$1" plain)" "$(build_cmd "$1" "$2")" >/dev/null 2>&1
  python3 - "$work/h.json" "$steps" <<'PY'
import json, math, sys
r = json.load(open(sys.argv[1]))["results"]
n = int(sys.argv[2])
(p, m) = r
se = lambda x: x["stddev"] / math.sqrt(len(x["times"]))
print(f"{(m['mean'] - p['mean']) * 1000 / n:.2f} ± {math.hypot(se(p), se(m)) * 1000 / n:.2f}")
PY
}
build_cmd() { # tool kind: a command line for hyperfine
  if [ "$1" = kiln ]; then
    echo "$kiln build --no-cache --progress=plain --secret id=s,src=$work/secret --ssh default -t bench-secrets $work/ctx-$2"
  else
    echo "env DOCKER_BUILDKIT=1 $docker build --network=host --no-cache --progress=plain --secret id=s,src=$work/secret --ssh default -t bench-secrets $work/ctx-$2"
  fi
}

printf 'tool\tsecret_ms_per_step\tssh_ms_per_step\tadd_%sMB_s_without_export\tadd_%sMB_s_whole\n' "$mb" "$mb"
for tool in kiln docker; do
  s=$(per_step "$tool" secret)
  h=$(per_step "$tool" ssh)
  build "$tool" "$work/ctx-add" # warm
  add=$(runs "$tool" add)
  printf '%s\t%s\t%s\t%.3f\t%.3f\n' "$tool" "$s" "$h" "$(echo "$add" | col 2)" "$(echo "$add" | col 3)"
done
rm -rf "$KILN_ROOT/http-cache"
/usr/bin/time -v "$kiln" build --no-cache --progress=plain -t bench-secrets "$work/ctx-add" 2>&1 >/dev/null |
  awk '/Maximum resident set size/ {printf "kiln ADD %sMB peak RSS: %.1f MB\n", '"$mb"', $NF / 1024}'
"$docker" rmi -f secrets-base:latest bench-secrets >/dev/null 2>&1 || true
