#!/bin/sh
# Runs the main job over seeds and variants and prints the results tables of
# the README (mean and per-seed test macro-F1 on the unseen classes).
#   scripts/results.sh [mre|synth|all] [SEEDS]      (default: all, "0 1 2 3 4")
# JSON files go to results/<task>-<variant>-<seed>.json; re-runs skip files
# that exist (delete them to measure again), except those of interrupted runs.
set -eu
cd "$(dirname "$0")/.."
which="${1:-all}"
seeds="${2:-0 1 2 3 4}"
mkdir -p results
run() {  # run TASK VARIANT FLAGS...
  task=$1; variant=$2; shift 2
  for s in $seeds; do
    out="results/$task-$variant-$s.json"
    [ -f "$out" ] && ! grep -q '"interrupted":true' "$out" && continue   # interrupted: again
    echo "== $task $variant seed $s" >&2
    case $task in
      mre) common="--epochs 12 --patience 5" ;;
      *) common="--epochs 15 --patience 5" ;;
    esac
    # shellcheck disable=SC2086
    OPENBLAS_NUM_THREADS=${OPENBLAS_NUM_THREADS:-1} bin/mgv examples/zeroshot.lua --task "$task" \
      --seed "$s" --quiet --json "$out" $common "$@" >/dev/null
  done
}
if [ "$which" = mre ] || [ "$which" = all ]; then
  run mre full
  run mre no-vmoe --no-vmoe
  run mre no-prior --no-prior
  run mre descriptions --descriptions examples/mnre_descriptions.tsv
fi
if [ "$which" = synth ] || [ "$which" = all ]; then
  run synth full
  run synth text-only --text-only
  run synth no-vmoe --no-vmoe
  run synth no-mg --no-mg
fi
bin/mgv scripts/results_table.lua results
