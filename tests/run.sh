#!/bin/sh
# Runs every test and prints "N passed, M failed" last. Each test program
# prints "PASS name" / "FAIL name" lines; one that dies without saying FAIL
# counts as one failure. Environment: BUILD (build dir), SANITIZE (1 or empty).
# The engine's C tests run once per SIMD path this CPU can run (`mgv
# --simd-paths`: "path core" lines, best first), with MGV_SIMD and
# OPENBLAS_CORETYPE set to them (test_simd checks both took effect); their
# header lines name both: "== test_ops_vmoe [avx2/Haswell]: 9 passed". The
# other tests run once, on the default path. Lines a test prints starting
# with NOTE (a part skipped for want of an optional component, such as MPI)
# are shown even when it passes.
BUILD=${BUILD:-build}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT" || exit 1
PY=/usr/bin/python3
export MGV_BIN="$ROOT/$BUILD/mgv" MGV_KERNEL_BIN="$ROOT/$BUILD/mgv-kernel" MGV_ROOT="$ROOT"
export MGV_SO_DIR="$ROOT/$BUILD"
export ASAN_OPTIONS="detect_leaks=1:abort_on_error=0:${ASAN_OPTIONS:-}"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
export OPENBLAS_NUM_THREADS=${OPENBLAS_NUM_THREADS:-2}
if [ "$SANITIZE" = 1 ]; then
  # lua5.4 itself is not instrumented: preload the runtime for require tests
  export MGV_ASAN_PRELOAD="$(cc -print-file-name=libasan.so)"
fi
passed=0; failed=0
out=$(mktemp); scratch=$(mktemp -d)
trap 'rm -rf "$out" "$scratch"' EXIT
# Every test gets an empty TMPDIR of its own; whatever a test leaves in it is
# a failure of that test ("nothing is left in /tmp").
export TMPDIR="$scratch"

run() {  # run NAME COMMAND...
  name=$1; shift
  start=$(date +%s.%N)
  "$@" >"$out" 2>&1
  rc=$?
  secs=$(awk "BEGIN{printf \"%.1f\", $(date +%s.%N) - $start}")
  p=$(grep -c '^PASS ' "$out"); f=$(grep -c '^FAIL ' "$out")
  if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then f=1; echo "FAIL $name (exit $rc without a FAIL line)" >>"$out"; fi
  left=$(ls -A "$scratch")
  if [ -n "$left" ]; then
    f=$((f + 1)); echo "FAIL $name left files in TMPDIR: $(echo $left | cut -c1-200)" >>"$out"
    rm -rf "$scratch" && mkdir "$scratch"
  fi
  passed=$((passed + p)); failed=$((failed + f))
  if [ "$f" -ne 0 ]; then
    echo "== $name: $p passed, $f failed (${secs}s)"; cat "$out"
  else
    echo "== $name: $p passed (${secs}s)"
    grep '^NOTE' "$out"   # a test that skips part of itself says so (e.g. no MPI)
  fi
}

paths=$("$MGV_BIN" --simd-paths | tr ' ' /)
[ -n "$paths" ] || { echo "FAIL: $MGV_BIN --simd-paths listed no path"; failed=$((failed + 1)); }
for pc in $paths; do
  for t in "$BUILD"/tests/test_*; do
    [ -x "$t" ] && run "$(basename "$t") [$pc]" env MGV_SIMD="${pc%/*}" OPENBLAS_CORETYPE="${pc#*/}" "$t"
  done
done
for t in tests/lua/test_*.lua; do
  [ -f "$t" ] && run "$t" "$MGV_BIN" "$t"
done
for t in tests/*/test_*.py; do
  [ -f "$t" ] && run "$t" $PY "$t"
done
for t in tests/*/test_*.sh; do
  [ -f "$t" ] && run "$t" sh "$t"
done
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
