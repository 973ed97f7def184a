#!/usr/bin/env bash
# Runs one cargo-fuzz target for a while: fuzz/run.sh TARGET [SECONDS]
#
#   TARGET   parse | expand | lower | layer | image
#   SECONDS  total fuzzing time (default 600)
#
# Environment:
#   SANITIZER          -s value for cargo fuzz (default none; `address` also works)
#   CARGO_TARGET_DIR   build directory (default fuzz/target)
#   FUZZ_TIMEOUT       per-input timeout in seconds (default 5)
#   FUZZ_RSS_MB        memory limit in MB (default 2048)
#   FUZZ_MAX_LEN       largest generated input in bytes (default 32768)
#   FUZZ_ARGS          more libFuzzer flags, e.g. "-len_control=0" to start at full length
#
# New inputs go to fuzz/target/work-corpus/TARGET (not committed); the seeds in
# fuzz/corpus/TARGET are only read. Crashes and timeouts land in fuzz/artifacts/TARGET/ and the
# full log in fuzz/target/logs/. The script exits non-zero when libFuzzer found a problem.
# Only a stable toolchain? RUSTC_BOOTSTRAP=1 lets cargo-fuzz's nightly flags through.
set -euo pipefail

target=${1:?usage: fuzz/run.sh TARGET [SECONDS]}
seconds=${2:-600}
case $target in
parse | expand | lower | layer | image) ;;
*)
    echo "unknown target $target (parse, expand, lower, layer, image)" >&2
    exit 2
    ;;
esac

fuzz_dir=$(cd "$(dirname "$0")" && pwd)
repo=$(dirname "$fuzz_dir")
target_dir=${CARGO_TARGET_DIR:-$fuzz_dir/target}
work="$fuzz_dir/target/work-corpus/$target"
logs="$fuzz_dir/target/logs"
mkdir -p "$work" "$logs" "$fuzz_dir/artifacts/$target"
log="$logs/$target-$(date -u +%Y%m%dT%H%M%SZ).log"

cd "$repo"
export RUSTC_BOOTSTRAP=${RUSTC_BOOTSTRAP:-1}
echo "fuzzing $target for ${seconds}s, log: $log" >&2
status=0
cargo fuzz run --fuzz-dir "$fuzz_dir" --target-dir "$target_dir" \
    -s "${SANITIZER:-none}" "$target" "$work" "$fuzz_dir/corpus/$target" -- \
    -max_total_time="$seconds" \
    -timeout="${FUZZ_TIMEOUT:-5}" \
    -rss_limit_mb="${FUZZ_RSS_MB:-2048}" \
    -max_len="${FUZZ_MAX_LEN:-32768}" \
    -print_final_stats=1 ${FUZZ_ARGS:-} 2>&1 | tee "$log" || status=$?
echo "--- $target: $(grep -E '^Done [0-9]+ runs' "$log" || echo 'no final stats (crash?)')" >&2
exit "$status"
