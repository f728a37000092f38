#!/bin/sh
# Hyperparameter sweeps chosen on the validation classes only; prints the
# table of mean ± std validation macro-F1 over the seeds (and test macro-F1
# where the study reports it).
#   scripts/sweep.sh mre [SEEDS]     MNRE: prior_decay, tau, lr, hidden one at a
#                                    time around the defaults (--epochs 12
#                                    --patience 5); test only for the setting
#                                    with the best mean validation macro-F1
#   scripts/sweep.sh vmoe [SEEDS]    synthetic set: vmoe_weight {0.01, 1} x
#                                    experts {4, 8} (--epochs 15 --patience 5);
#                                    validation and test for every cell
# SEEDS defaults to "0 1 2 3 4". JSON files go to results/sweep-<study>/
# <setting>-<seed>.json; re-runs skip those that exist (delete them to measure
# again), except interrupted runs. One thread per run.
set -eu
cd "$(dirname "$0")/.."
study="${1:-}"
seeds="${2:-0 1 2 3 4}"
case $study in
  mre) common="--task mre --epochs 12 --patience 5"; test=selected
       # setting name, then its flags (the defaults: hidden 128, lr 1e-4,
       # prior_decay 0.1, tau 10)
       settings='default|
prior_decay=0.01|--prior-decay 0.01
prior_decay=1|--prior-decay 1
tau=5|--tau 5
tau=20|--tau 20
lr=5e-5|--lr 5e-5
lr=3e-4|--lr 3e-4
hidden=64|--hidden 64
hidden=256|--hidden 256' ;;
  vmoe) common="--task synth --epochs 15 --patience 5"; test=all
       settings='w=0.01,K=4|--vmoe-weight 0.01 --experts 4
w=0.01,K=8|--vmoe-weight 0.01 --experts 8
w=1,K=4|--vmoe-weight 1 --experts 4
w=1,K=8|--vmoe-weight 1 --experts 8' ;;
  *) echo "usage: scripts/sweep.sh mre|vmoe [SEEDS]" >&2; exit 2 ;;
esac
dir="results/sweep-$study"
mkdir -p "$dir"
echo "$settings" | while IFS='|' read -r name flags; do
  for s in $seeds; do
    out="$dir/$name-$s.json"
    [ -f "$out" ] && ! grep -q '"interrupted":true' "$out" && continue
    echo "== $study $name seed $s" >&2
    # shellcheck disable=SC2086
    OPENBLAS_NUM_THREADS=1 MGV_NUM_THREADS=1 bin/mgv examples/zeroshot.lua $common --seed "$s" \
      --quiet --json "$out" $flags >/dev/null
  done
done
bin/mgv scripts/sweep_table.lua "$dir" "$test" "$(echo "$settings" | cut -d'|' -f1 | tr '\n' ' ')"
