#!/usr/bin/env bash
# bench/harness.sh [SCENARIOS...] — the shared harness (../shared/bench/run.sh), docker then
# kiln for each scenario (default: s1 s2 s4 s5), in one run, into one TSV and its summary table
# (bench/results/harness-<date>.{tsv,md}). Kiln gets what docker gets there:
#   * the scenario's network flag (run.sh passes `--network=$NETWORK` to docker only; kiln
#     gets the same through KILN_ARGS: `none`, or `host` for s5);
#   * the same reset before each cold rep: docker removes every image it built and prunes its
#     build cache, keeping the base images (unpacked in its graph driver); kiln removes every
#     image but the two base images and runs `kiln prune`, which keeps the base images'
#     unpacked layers (bench/kiln-reset.sh). KILN_RESET='$KILN prune --all' is the harsher
#     reset earlier runs used (base layers unpacked again in every cold rep).
# Needs a release build and `bash ../shared/bench/setup.sh` (registry, private dockerd).
# Knobs: REPS (3), QUIET_WAIT (5), KILN_ROOT (/var/tmp/kiln-harness), RESULTS.
set -euo pipefail
cd "$(dirname "$0")/.."
export REPS=${REPS:-3} QUIET_WAIT=${QUIET_WAIT:-5}
export KILN=${KILN:-$PWD/target/release/kiln}
export KILN_ROOT=${KILN_ROOT:-/var/tmp/kiln-harness}
stamp=$(date -u +%Y-%m-%d)
export RESULTS=${RESULTS:-$PWD/bench/results/harness-$stamp.tsv}
export KILN_PRUNE_CMD=${KILN_RESET:-"bash $PWD/bench/kiln-reset.sh"}
scenarios=("$@")
[ ${#scenarios[@]} -gt 0 ] || scenarios=(s1 s2 s4 s5)
for s in "${scenarios[@]}"; do
  conf=$(ls -d ../shared/bench/scenarios/"$s"-*/scenario.conf | head -1)
  net=$(sed -n 's/^NETWORK=\([a-z]*\).*/\1/p' "$conf")
  ../shared/bench/run.sh docker "$s"
  KILN_ARGS="--network=${net:-none}" ../shared/bench/run.sh kiln "$s"
done
python3 ../shared/bench/summarize.py "$RESULTS" >"${RESULTS%.tsv}.md"
echo "summary: ${RESULTS%.tsv}.md"
