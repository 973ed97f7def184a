#!/usr/bin/env bash
# bench/frontend.sh [N] — parse + lower a generated Dockerfile of N instructions (default
# 10000) with `kiln debug graph --format stats`; prints the time kiln measured for
# parse+lower, the wall time and the peak RSS of the whole command (GNU time).
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-10000}
kiln=${KILN:-target/release/kiln}
[ -x "$kiln" ] || cargo build --release -q -p kiln-cli
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
python3 - "$n" > "$work/Dockerfile" <<'PY'
import sys
n = int(sys.argv[1])
out = ["# syntax=docker/dockerfile:1", "ARG BASE=scratch", "FROM ${BASE} AS build"]
kinds = [
    lambda i: f"ENV VAR_{i}=value-{i} OTHER_{i}=\"$VAR_{i} more\"",
    lambda i: f"RUN echo step {i} && \\\n    echo \"continued ${{VAR_{i-1}:-default}}\" > /tmp/f{i}",
    lambda i: f"COPY --chmod=644 src/file{i}.txt /app/file{i}.txt",
    lambda i: f"WORKDIR /app/dir{i % 50}",
    lambda i: f"LABEL com.example.step{i}=\"label {i}\"",
    lambda i: f"ARG A{i}=default{i}",
    lambda i: f"RUN <<EOF\necho heredoc {i}\necho $A{i-1}\nEOF",
    lambda i: f"EXPOSE {1000 + i % 5000}/tcp",
]
i = 1
prev = "build"
while len(out) - 1 < n:
    # a new stage every 1000 instructions, copying from the previous one, so the target (the
    # last stage) needs every stage and everything is lowered
    if i % 1000 == 0:
        out.append(f"FROM scratch AS s{i}")
        out.append(f"COPY --from={prev} /app /app")
        prev = f"s{i}"
    else:
        out.append(kinds[i % len(kinds)](i))
    i += 1
print("\n".join(out))
PY
echo "instructions: $n ($(wc -l < "$work/Dockerfile") lines)"
KILN_ROOT="$work/root" /usr/bin/time -f "wall %es, peak RSS %M KB" "$kiln" debug graph --format stats "$work/Dockerfile"
