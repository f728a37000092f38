# harness.sh - sourced by the end-to-end shell tests (tests/e2e/test_*.sh):
# MGV (the binary under test), a temporary directory $tmp removed on exit,
# single-threaded BLAS, and `check NAME COMMAND...`, which runs the command,
# prints a PASS/FAIL line for tests/run.sh (with the tail of its output when
# it fails) and counts failures in $fails: a test ends with `exit $fails`.
MGV=${MGV_BIN:-build/mgv}
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
export OPENBLAS_NUM_THREADS=1
fails=0
check() {  # check NAME COMMAND...
  name=$1; shift
  if "$@" >"$tmp/out" 2>&1; then echo "PASS $name"; else echo "FAIL $name"; sed 's/^/  /' "$tmp/out" | tail -20; fails=$((fails + 1)); fi
}
