#!/bin/sh
# test_runner.sh — bin/mgv as a program (options, `arg`, exit status, errors
# on stderr, stdin, Ctrl-C) and the Lua module loaded by plain lua5.4 through
# require "mgv". Uses $MGV_BIN and $MGV_SO_DIR (set by tests/run.sh); prints
# PASS/FAIL lines and exits non-zero on any failure.
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
MGV_BIN=${MGV_BIN:-$ROOT/build/mgv}
MGV_SO_DIR=${MGV_SO_DIR:-$ROOT/build}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
failed=0

pass() { echo "PASS $1"; }
fail() { echo "FAIL $1: $2"; failed=$((failed + 1)); }

# check NAME EXPECTED_STATUS EXPECTED_STDOUT_SUBSTRING EXPECTED_STDERR_SUBSTRING -- COMMAND...
# Runs COMMAND; an empty expectation is not checked.
check() {
  name=$1 want_rc=$2 want_out=$3 want_err=$4
  shift 5
  "$@" >"$tmp/out" 2>"$tmp/err" </dev/null
  rc=$?
  if [ "$rc" -ne "$want_rc" ]; then
    fail "$name" "exit status $rc, expected $want_rc; stderr: $(head -c 300 "$tmp/err")"
  elif [ -n "$want_out" ] && ! grep -qF -- "$want_out" "$tmp/out"; then
    fail "$name" "stdout lacks '$want_out': $(head -c 300 "$tmp/out")"
  elif [ -n "$want_err" ] && ! grep -qF -- "$want_err" "$tmp/err"; then
    fail "$name" "stderr lacks '$want_err': $(head -c 300 "$tmp/err")"
  else
    pass "$name"
  fi
}

check "-e runs code" 0 "4" "" -- "$MGV_BIN" -e 'print(2 + 2)'
check "-e repeated, in order" 0 "x=2" "" -- "$MGV_BIN" -e 'x = 1' -e 'x = x + 1' -e 'print("x=" .. x)'
check "-e joined to its code" 0 "joined" "" -- "$MGV_BIN" '-eprint("joined")'
check "mgv is a preloaded global" 0 "true" "" -- "$MGV_BIN" -e 'print(require("mgv") == mgv and package.loaded.mgv == mgv)'
check "-e error: status 1, message on stderr" 1 "" "boom" -- "$MGV_BIN" -e 'error("boom")'
check "engine error message on stderr" 1 "" "matmul: shapes [2x3] and [4x5] do not fit" -- \
  "$MGV_BIN" -e 'mgv.zeros(2, 3):matmul(mgv.zeros(4, 5))'
check "error object that is not a string" 1 "" "(error object is a table value)" -- "$MGV_BIN" -e 'error({})'
check "os.exit status passes through" 3 "" "" -- "$MGV_BIN" -e 'os.exit(3)'
check "-v prints the version" 0 "mgv 0.1 (Lua 5.4" "" -- "$MGV_BIN" -v
check "-h prints usage" 0 "usage:" "" -- "$MGV_BIN" -h
check "unknown option: status 1 and usage" 1 "" "unrecognized option '-z'" -- "$MGV_BIN" -z
check "-e without code: status 1" 1 "" "usage:" -- "$MGV_BIN" -e

cat >"$tmp/args.lua" <<'EOF'
local n = select("#", ...)
print("arg0=" .. arg[0], "arg1=" .. arg[1], "arg2=" .. arg[2], "n=" .. #arg, "varargs=" .. n,
      "first=" .. tostring((...)), "interp=" .. tostring(arg[-1] ~= nil))
EOF
check "script arguments in arg and ..." 0 "arg0=$tmp/args.lua	arg1=a b	arg2=c	n=2	varargs=2	first=a b	interp=true" "" -- \
  "$MGV_BIN" "$tmp/args.lua" "a b" c
check "options before the script go to negative indices" 0 "interp=true" "" -- \
  "$MGV_BIN" -e 'y = 1' "$tmp/args.lua" x y
check "-- ends the options" 0 "arg1=-e" "" -- "$MGV_BIN" -- "$tmp/args.lua" -e z

cat >"$tmp/err.lua" <<'EOF'
local function inner() error("script failed here") end
inner()
print("not reached")
EOF
check "script error: status 1, message and traceback" 1 "" "err.lua:1: script failed here" -- "$MGV_BIN" "$tmp/err.lua"
if grep -qF "stack traceback:" "$tmp/err" && grep -qF "in local 'inner'" "$tmp/err" &&
   ! grep -qF "not reached" "$tmp/out"; then pass "traceback names the function"
else fail "traceback names the function" "$(cat "$tmp/err")"; fi

printf 'x = = 1\n' >"$tmp/syntax.lua"
check "syntax error: status 1" 1 "" "syntax.lua:1:" -- "$MGV_BIN" "$tmp/syntax.lua"
check "missing script: status 1" 1 "" "cannot open" -- "$MGV_BIN" "$tmp/nonexistent.lua"

printf 'print("from stdin", mgv.version)\n' >"$tmp/stdin.lua"
check "- runs stdin" 0 "from stdin	0.1" "" -- sh -c "\"$MGV_BIN\" - <\"$tmp/stdin.lua\""
check "no arguments, stdin not a terminal: runs stdin" 0 "from stdin" "" -- \
  sh -c "\"$MGV_BIN\" <\"$tmp/stdin.lua\""
check "stdin script error: status 1" 1 "" "stdin" -- sh -c "echo 'error(\"bad\")' | \"$MGV_BIN\" -"

# Ctrl-C: SIGINT interrupts a running Lua loop with "interrupted!" and status 1
"$MGV_BIN" -e 'io.stdout:write("started\n"); io.stdout:flush(); while true do end' >"$tmp/out" 2>"$tmp/err" &
pid=$!
i=0
while [ $i -lt 50 ] && ! grep -q started "$tmp/out" 2>/dev/null; do sleep 0.1; i=$((i + 1)); done
kill -INT $pid
wait $pid
rc=$?
if [ "$rc" -eq 1 ] && grep -qF "interrupted!" "$tmp/err"; then pass "SIGINT interrupts a Lua loop"
else fail "SIGINT interrupts a Lua loop" "status $rc, stderr: $(cat "$tmp/err")"; fi

# ... and a loop that spends its time in engine calls (the engine flag or the hook stops it)
"$MGV_BIN" -e 'local a = mgv.randn(200, 200); io.stdout:write("started\n"); io.stdout:flush()
  while true do a = (a:matmul(a) * 0.005):tanh() end' >"$tmp/out" 2>"$tmp/err" &
pid=$!
i=0
while [ $i -lt 50 ] && ! grep -q started "$tmp/out" 2>/dev/null; do sleep 0.1; i=$((i + 1)); done
sleep 0.2
kill -INT $pid
wait $pid
rc=$?
if [ "$rc" -eq 1 ] && grep -q "interrupted" "$tmp/err"; then pass "SIGINT interrupts a loop of engine calls"
else fail "SIGINT interrupts a loop of engine calls" "status $rc, stderr: $(cat "$tmp/err")"; fi

# require "mgv" from plain lua5.4 (the module carries no Lua of its own)
if command -v lua5.4 >/dev/null 2>&1; then
  if [ -n "$MGV_ASAN_PRELOAD" ]; then
    LUA="env LD_PRELOAD=$MGV_ASAN_PRELOAD ASAN_OPTIONS=detect_leaks=0 lua5.4"
  else
    LUA=lua5.4
  fi
  check "require \"mgv\" from lua5.4" 0 "tensor([[3, 3]], shape=[1x2]) true" "" -- \
    env LUA_CPATH="$MGV_SO_DIR/?.so;;" $LUA -e 'local m = require "mgv"
      print(tostring(m.ones(1, 3):matmul(m.ones(3, 2))) .. " " .. tostring(mgv == nil))'
  check "lua5.4: errors are Lua errors" 0 "matmul: shapes [2x3] and [4x5]" "" -- \
    env LUA_CPATH="$MGV_SO_DIR/?.so;;" $LUA -e 'local m = require "mgv"
      print(select(2, pcall(m.matmul, m.zeros(2, 3), m.zeros(4, 5))))'
  check "lua5.4: memory stays bounded (generational GC)" 0 "ok" "" -- \
    env LUA_CPATH="$MGV_SO_DIR/?.so;;" $LUA -e 'local m = require "mgv"
      local r0 = m.rss()
      for i = 1, 50000 do local x = m.zeros(100, 100) + 1 end
      local grew = (m.rss() - r0) / 2^20
      print(grew < 400 and m.memory() < 2^20 and "ok" or ("grew " .. grew))'
  if ldd "$MGV_SO_DIR/mgv.so" 2>/dev/null | grep -q liblua; then
    fail "mgv.so does not link liblua" "$(ldd "$MGV_SO_DIR/mgv.so" | grep liblua)"
  else
    pass "mgv.so does not link liblua"
  fi
else
  echo "(lua5.4 not installed: require tests skipped)"
fi

[ "$failed" -eq 0 ]
