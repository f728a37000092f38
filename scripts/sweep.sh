#!/bin/sh
# Hyperparameter sweeps chosen on the validation classes only; prints the
# table of mean ± std validation macro-F1 over the seeds (and test macro-F1
# where the study reports it).
#   scripts/sweep.sh mre [SEEDS [NAMES]]  MNRE: prior_decay, tau, lr, hidden one at a
#                                    time around the defaults (--epochs 12
#                                    --patience 5); test only for the setting
#                                    with the best mean validation macro-F1
#   scripts/sweep.sh vmoe [SEEDS]    synthetic set: vmoe_weight {0.01, 1} x
#                                    experts {4, 8}, and without VIB-MoE or
#                                    MG-VAT (--epochs 15 --patience 5);
#                                    validation and test for every row
# SEEDS defaults to "0 1 2 3 4"; NAMES (e.g. "lr=3e-4 hidden=64") runs only
# those settings, in that order. JSON files go to results/sweep-<study>/
# <setting>-<seed>.json; re-runs skip those that exist (delete them to measure
# again), except interrupted runs, and runs another instance has started
# (<file>.lock), so two instances can share the work. One thread per run.
set -eu
cd "$(dirname "$0")/.."
study="${1:-}"
seeds="${2:-0 1 2 3 4}"
only="${3:-}"
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
w=1,K=8|--vmoe-weight 1 --experts 8
no-vmoe|--no-vmoe
no-mg|--no-mg' ;;
  *) echo "usage: scripts/sweep.sh mre|vmoe [SEEDS]" >&2; exit 2 ;;
esac
dir="results/sweep-$study"
mkdir -p "$dir"
lock=
trap '[ -n "$lock" ] && rmdir "$lock"' EXIT INT TERM
run() {  # run NAME FLAGS...
  name=$1; shift
  for s in $seeds; do
    out="$dir/$name-$s.json"
    [ -f "$out" ] && ! grep -q '"interrupted":true' "$out" && continue
    mkdir "$out.lock" 2>/dev/null || continue   # another instance runs it
    lock="$out.lock"
    echo "== $study $name seed $s" >&2
    OPENBLAS_NUM_THREADS=1 MGV_NUM_THREADS=1 bin/mgv examples/zeroshot.lua $common --seed "$s" \
      --quiet --json "$out" "$@" >/dev/null || echo "$study $name seed $s failed" >&2
    rmdir "$lock"; lock=
  done
}
if [ -n "$only" ]; then
  for want in $only; do
    flags=$(echo "$settings" | awk -F'|' -v n="$want" '$1 == n { print $2; f = 1 } END { exit !f }') ||
      { echo "sweep.sh: no setting '$want' in $study" >&2; exit 2; }
    # shellcheck disable=SC2086
    run "$want" $flags
  done
else
  echo "$settings" | while IFS='|' read -r name flags; do
    # shellcheck disable=SC2086
    run "$name" $flags
  done
fi
bin/mgv scripts/sweep_table.lua "$dir" "$test" "$(echo "$settings" | cut -d'|' -f1 | tr '\n' ' ')"
