#!/bin/sh
# bench.sh — the MG-VMoE training-step benchmark of issue 6 (`make bench`).
#
# Runs examples/bench.lua (mgv) and scripts/bench_torch.py (PyTorch eager,
# Debian's python3-torch) in turn, ROUNDS times each, alternating, on the two
# configurations
#   small: B=16 L=32  P=50  d=256 K=8   (20 steps after 3 warm-up steps)
#   paper: B=16 L=128 P=577 d=768 K=8   (3 steps after 1 warm-up step)
#   paper-bert: the paper's whole step, BERT-base fine-tuned (B=16 L=128) with
#          cached ViT tokens (P=577) and the head in the paper preset, Adam
#          over all 119 M parameters (3 steps after 1 warm-up step; issue 16)
# with the same thread count for both, then prints a table: ms per training
# step (the median of the steps; best run of the rounds), the ratio
# torch/mgv, the GFLOP/s mgv reached in the GEMMs of a step, the SGEMM rate
# on the same shapes (mgv.matmul in the same run, and bare cblas_sgemm with
# OpenBLAS's own threads from scripts/sgemm_rate.c), peak RSS of each process
# and evaluation throughput (no-grad forward, samples/s).
#
# PyTorch runs twice per round with the same cores: with N intra-op threads
# (torch.set_num_threads(N), OpenBLAS N threads: the default way), and with
# one intra-op thread and OpenBLAS N threads, which on this 2-core machine is
# much faster (N OpenMP threads and N OpenBLAS threads spin against each
# other). The ratio is taken against the faster of the two.
#
#   sh scripts/bench.sh [--threads N] [--rounds R] [--only small|paper|paper-bert]
#                       [--simd PATH|all] [--torch-intra "N 1"] [--quick]
#
# --simd: run on one SIMD path of `mgv --simd-paths` (avx512, avx2, generic),
# or on each this CPU has (all; `make bench` does this), forcing it for both
# programs: MGV_SIMD and OpenBLAS's core (OPENBLAS_CORETYPE, which PyTorch's
# OpenBLAS reads too) and PyTorch's own kernels (ATEN_CPU_CAPABILITY,
# ONEDNN_MAX_CPU_ISA), so each row compares like with like. Default: the
# path this CPU runs by itself (no forcing).
# --torch-intra: PyTorch's intra-op thread settings to run (default both).
# --quick: one round, fewer steps (a smoke run, not a measurement).
# Environment: MGV (default bin/mgv), PYTHON (default /usr/bin/python3).
# The machine should be otherwise idle: the load average is printed before
# and after and with each run, and a busy machine shows as a wide
# ms_min..ms_max spread.
set -u
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT" || exit 1
MGV=${MGV:-bin/mgv}
PY=${PYTHON:-/usr/bin/python3}
THREADS=2
ROUNDS=2
ONLY=""
SIMD=""
QUICK=0
INTRA=
while [ $# -gt 0 ]; do
  case "$1" in
    --threads) THREADS=$2; shift 2 ;;
    --rounds) ROUNDS=$2; shift 2 ;;
    --only) ONLY=$2; shift 2 ;;
    --simd) SIMD=$2; shift 2 ;;
    --torch-intra) INTRA=$2; shift 2 ;;
    --quick) QUICK=1; ROUNDS=1; shift ;;
    *) echo "bench.sh: unknown option $1" >&2; exit 2 ;;
  esac
done
[ -x "$MGV" ] || { echo "bench.sh: $MGV not built (make)" >&2; exit 1; }
PATHS=$("$MGV" --simd-paths) || exit 1   # "path core" lines, best first
case "$SIMD" in
  "") PATHS="" ;;
  all) ;;
  *) PATHS=$(echo "$PATHS" | awk -v p="$SIMD" '$1 == p')
     [ -n "$PATHS" ] || { echo "bench.sh: --simd $SIMD: this CPU's paths are" \
                            $("$MGV" --simd-paths | cut -d' ' -f1) >&2; exit 2; } ;;
esac
if ! $PY -c "import torch" 2>/dev/null; then
  echo "bench.sh: $PY has no torch (apt-get install python3-torch); mgv only" >&2
  PY=""
fi

# one thread count for everything: OpenBLAS, the engine's pool, torch's OpenMP
export OPENBLAS_NUM_THREADS=$THREADS MGV_NUM_THREADS=$THREADS OMP_NUM_THREADS=$THREADS
INTRA=${INTRA:-"$THREADS 1"}

TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
trap 'exit 1' INT TERM   # so that the EXIT trap cleans up on a kill too
RATE="$TMP/sgemm_rate"
cc -O2 -o "$RATE" scripts/sgemm_rate.c $(pkg-config --cflags --libs openblas) -lpthread \
  2>"$TMP/cc.log" || { echo "bench.sh: cannot build scripts/sgemm_rate.c" >&2; RATE=""; }

get() {  # get KEY FILE -> value of the key=value line (nothing when FILE is missing)
  [ -f "$2" ] && sed -n "s/^$1=//p" "$2" | tail -1
}

# best() KEY FILES... -> the smallest value of KEY over the files (the largest for
# rates, and for peak RSS, where the worst run counts)
best() {
  key=$1; shift
  for f in "$@"; do get "$key" "$f"; done | sort -g | awk -v k="$key" '
    { v[NR] = $1 } END { if (NR == 0) { print "-"; exit }
      if (k ~ /per_s$|gflops|rss/) print v[NR]; else print v[1] }'
}

echo "machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(nproc) cores; threads $THREADS"
echo "load before: $(cut -d' ' -f1-3 /proc/loadavg)"
TABLE="$TMP/table"
printf '| path | config | mgv ms/step | torch ms/step (%s / 1 intra-op threads) | torch/mgv | mgv GFLOP/s | SGEMM GFLOP/s (mgv.matmul / cblas) | GEMMs at | mgv peak RSS MB | torch peak RSS MB | mgv eval samples/s | torch eval samples/s |\n' "$THREADS" >"$TABLE"
printf '|---|---|---|---|---|---|---|---|---|---|---|---|\n' >>"$TABLE"

run_config() {  # run_config NAME STEPS WARMUP EVAL_BATCHES SHAPE-OPTIONS...
  name=$1 steps=$2 warmup=$3 evalb=$4; shift 4
  [ -n "$ONLY" ] && [ "$ONLY" != "$name" ] && return
  if [ "$QUICK" = 1 ]; then steps=$(( (steps + 3) / 4 )); fi
  echo "== $name [$PATHNAME]: $*"
  r=1
  while [ "$r" -le "$ROUNDS" ]; do
    "$MGV" examples/bench.lua "$@" --steps "$steps" --warmup "$warmup" --threads "$THREADS" \
      --eval-batches "$evalb" >"$TMP/$name.mgv.$r" 2>&1 \
      || { echo "mgv failed:"; cat "$TMP/$name.mgv.$r"; }
    echo "  mgv   round $r: $(get ms_per_step "$TMP/$name.mgv.$r") ms/step" \
         "(min $(get ms_min "$TMP/$name.mgv.$r"), max $(get ms_max "$TMP/$name.mgv.$r"))," \
         "$(get gflops "$TMP/$name.mgv.$r") GFLOP/s, eval $(get eval_samples_per_s "$TMP/$name.mgv.$r")" \
         "samples/s; load $(cut -d' ' -f1 /proc/loadavg)"
    if [ -n "$PY" ]; then
      for intra in $INTRA; do
        f="$TMP/$name.torch$intra.$r"
        OMP_NUM_THREADS=$intra $PY scripts/bench_torch.py "$@" --steps "$steps" --warmup "$warmup" \
          --threads "$intra" --eval-batches "$evalb" >"$f" 2>&1 || { echo "torch failed:"; cat "$f"; }
        echo "  torch round $r, $intra intra-op thread(s): $(get ms_per_step "$f") ms/step" \
             "(min $(get ms_min "$f"), max $(get ms_max "$f")), eval $(get eval_samples_per_s "$f")" \
             "samples/s; load $(cut -d' ' -f1 /proc/loadavg)"
      done
    fi
    r=$((r + 1))
  done
  mgv_ms=$(best ms_per_step "$TMP/$name".mgv.*)
  [ "$(get simd_path "$TMP/$name.mgv.1")" = "${PATHNAME%/*}" ] || [ "$PATHNAME" = auto ] \
    || echo "  (mgv reports path $(get simd_path "$TMP/$name.mgv.1"), not $PATHNAME)"
  mgv_gf=$(best gflops "$TMP/$name".mgv.*)
  mm_gf=$(best sgemm_gflops "$TMP/$name".mgv.*)
  mgv_rss=$(best peak_rss_mb "$TMP/$name".mgv.*)
  mgv_ev=$(best eval_samples_per_s "$TMP/$name".mgv.*)
  tN_ms=- t1_ms=- t_rss=- t_ev=- ratio=-
  if [ -n "$PY" ]; then
    tN_ms=$(best ms_per_step "$TMP/$name".torch"$THREADS".*)
    t1_ms=$(best ms_per_step "$TMP/$name".torch1.*)
    t_rss=$(best peak_rss_mb "$TMP/$name".torch*)
    t_ev=$(best eval_samples_per_s "$TMP/$name".torch*)
    ratio=$(awk -v a="$tN_ms" -v c="$t1_ms" -v b="$mgv_ms" 'BEGIN {
      t = a + 0; if (c + 0 > 0 && (t <= 0 || c + 0 < t)) t = c + 0
      if (b > 0) printf "%.2f", t / b; else print "-" }')
  fi
  case "$*" in   # --paper-bert: the shapes are fixed (the VIB-MoE's for sgemm_rate)
    *--paper-bert*) set -- --batch 16 --text-len 128 --image-len 577 --hidden 768 --experts 8 ;;
  esac
  B=$(echo "$@" | sed -n 's/.*--batch \([0-9]*\).*/\1/p')
  L=$(echo "$@" | sed -n 's/.*--text-len \([0-9]*\).*/\1/p')
  P=$(echo "$@" | sed -n 's/.*--image-len \([0-9]*\).*/\1/p')
  D=$(echo "$@" | sed -n 's/.*--hidden \([0-9]*\).*/\1/p')
  K=$(echo "$@" | sed -n 's/.*--experts \([0-9]*\).*/\1/p')
  cb_gf=-
  if [ -n "$RATE" ]; then
    "$RATE" --threads "$THREADS" --reps 3 "$B" "$L" "$P" "$D" "$K" >"$TMP/$name.cblas" 2>&1
    cb_gf=$(get sgemm_gflops "$TMP/$name.cblas")
  fi
  share=$(awk -v a="$mgv_gf" -v b="$mm_gf" -v c="$cb_gf" 'BEGIN {
    m = b + 0 > c + 0 ? b + 0 : c + 0; if (m > 0) printf "%.0f%%", 100 * a / m; else print "-" }')
  printf '| %s | %s (B=%s L=%s P=%s d=%s K=%s) | %s | %s / %s | %s | %s | %s / %s | %s | %s | %s | %s | %s |\n' \
    "$PATHNAME" "$name" "$B" "$L" "$P" "$D" "$K" "$mgv_ms" "$tN_ms" "$t1_ms" "$ratio" "$mgv_gf" "$mm_gf" "$cb_gf" \
    "$share" "$mgv_rss" "$t_rss" "$mgv_ev" "$t_ev" >>"$TABLE"
}

run_all() {
  rm -f "$TMP"/*.mgv.* "$TMP"/*.torch* "$TMP"/*.cblas
  run_config small 20 3 4 --batch 16 --text-len 32 --image-len 50 --hidden 256 --experts 8
  run_config paper 3 1 1 --batch 16 --text-len 128 --image-len 577 --hidden 768 --experts 8
  run_config paper-bert 3 1 1 --paper-bert
}

if [ -z "$PATHS" ]; then
  PATHNAME=auto
  run_all
else
  echo "$PATHS" | while read -r path core; do
    case "$path" in   # PyTorch's kernels and oneDNN held to the same instructions
      avx512) aten=avx512 isa=AVX512_CORE ;;
      avx2) aten=avx2 isa=AVX2 ;;
      *) aten=default isa=SSE41 ;;
    esac
    PATHNAME="$path/$core"
    export MGV_SIMD=$path OPENBLAS_CORETYPE=$core ATEN_CPU_CAPABILITY=$aten ONEDNN_MAX_CPU_ISA=$isa
    run_all
  done
fi
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
echo
cat "$TABLE"
echo
echo "ms/step: median over the timed steps, best of $ROUNDS rounds; torch/mgv against the faster"
echo "torch setting; GEMMs at: mgv GFLOP/s over the better SGEMM rate; peak RSS: the largest of the"
echo "rounds (torch: of both settings); eval: the best. Reproduce one cell:"
echo "  OPENBLAS_NUM_THREADS=$THREADS $MGV examples/bench.lua --threads $THREADS <shape options>"
echo "  OPENBLAS_NUM_THREADS=$THREADS OMP_NUM_THREADS=T $PY scripts/bench_torch.py --threads T <shape options>"
echo "(paper-bert: the shape options are --paper-bert [--steps N --warmup W])"
