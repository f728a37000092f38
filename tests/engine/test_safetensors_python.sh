#!/bin/sh
# test_safetensors_python.sh — a safetensors file written by an independent,
# standard-library-only Python writer (st_write_reference.py) is read back by
# the engine (test_safetensors given the file's path), value by value.
# Run from the repository root; BUILD names the build directory.
BUILD=${BUILD:-build}
BIN="$BUILD/tests/test_safetensors"
NAME=test_safetensors_python
if [ ! -x "$BIN" ]; then
    echo "FAIL $NAME: $BIN is not built"
    exit 1
fi
TMP=$(mktemp -d) || { echo "FAIL $NAME: mktemp failed"; exit 1; }
trap 'rm -rf "$TMP"' EXIT
if ! /usr/bin/python3 tests/engine/st_write_reference.py "$TMP/ref.safetensors"; then
    echo "FAIL $NAME: the Python writer failed"
    exit 1
fi
"$BIN" "$TMP/ref.safetensors"
