#!/bin/sh
# bench_encoders.sh — the encoder benchmark of issue 8: BERT-base forward on
# 16 x 128 tokens and ViT-B/16-384 forward on 16 images (random weights, no
# autograd), mgv (scripts/bench_encoders.lua) against PyTorch eager
# (scripts/bench_encoders.py) with the same number of threads, in
# alternating rounds. PyTorch runs with N intra-op threads and with 1
# intra-op thread + N OpenBLAS threads (faster on small machines; see
# scripts/bench.sh); the faster counts. Prints the best ms per batch of each
# and the ratio torch/mgv (> 1: mgv is faster), with the load average.
#   sh scripts/bench_encoders.sh [--threads N] [--rounds R] [--reps K] [--only bert|vit]
set -u
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT" || exit 1
MGV=${MGV:-bin/mgv}
PY=${PYTHON:-/usr/bin/python3}
N=2; ROUNDS=2; REPS=2; ONLY=""
while [ $# -gt 0 ]; do
  case $1 in
    --threads) N=$2; shift ;;
    --rounds) ROUNDS=$2; shift ;;
    --reps) REPS=$2; shift ;;
    --only) ONLY=$2; shift ;;
    *) echo "usage: $0 [--threads N] [--rounds R] [--reps K] [--only bert|vit]" >&2; exit 2 ;;
  esac
  shift
done
out=$(mktemp); trap 'rm -f "$out"' EXIT
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
for model in bert vit; do
  [ -n "$ONLY" ] && [ "$ONLY" != "$model" ] && continue
  r=1
  while [ "$r" -le "$ROUNDS" ]; do
    MGV_NUM_THREADS=$N OPENBLAS_NUM_THREADS=1 "$MGV" scripts/bench_encoders.lua "$model" "$REPS" >>"$out"
    OPENBLAS_NUM_THREADS=$N OMP_NUM_THREADS=$N "$PY" scripts/bench_encoders.py "$model" "$REPS" "$N" >>"$out"
    OPENBLAS_NUM_THREADS=$N OMP_NUM_THREADS=1 "$PY" scripts/bench_encoders.py "$model" "$REPS" 1 >>"$out"
    r=$((r + 1))
  done
done
echo "load average after:  $(cut -d' ' -f1-3 /proc/loadavg)"
awk -v n="$N" '
  { k = $1 " " $2; if (!(k in best) || $3 < best[k]) best[k] = $3; runs[k]++ }
  END {
    printf "%-6s %12s %12s %8s   (threads %s; best of the timed batches)\n", "model", "mgv ms", "torch ms", "ratio", n
    split("bert vit", ms, " ")
    for (i = 1; i <= 2; i++) {
      m = ms[i]; a = best["mgv " m]; b = best["torch " m]
      if (a == "" || b == "") continue
      printf "%-6s %12.1f %12.1f %7.2fx\n", m, a, b, b / a
    }
  }' "$out"
