#!/bin/sh
# install.sh — what `make install` and `make uninstall` do; the Makefile runs
# it with DESTDIR, PREFIX, BUILD, VERSION, SOMAJOR, LUA_CMOD and HEADERS (the
# public headers) in the environment.
#
#   install     copies the built files under DESTDIR+PREFIX and writes the
#               manifest PREFIX/share/mgv/manifest: one line per installed
#               file ("f PATH") and per directory the install created
#               ("d PATH"), paths without DESTDIR. A second install adds to
#               the first one's manifest.
#   uninstall   removes the manifest's files, then its directories when empty
#               (deepest first), so that PREFIX is left as it was.
set -eu
for v in PREFIX BUILD VERSION SOMAJOR LUA_CMOD HEADERS; do
  eval "[ -n \"\${$v:-}\" ]" || { echo "install.sh: $v is not set (run it through make)" >&2; exit 2; }
done
case $PREFIX in /*) ;; *) echo "install: PREFIX must be an absolute path, not '$PREFIX'" >&2; exit 2 ;; esac
case $LUA_CMOD in /*) ;; *) echo "install: LUA_CMOD must be an absolute path, not '$LUA_CMOD'" >&2; exit 2 ;; esac
D=${DESTDIR:-}
bindir=$PREFIX/bin
libdir=$PREFIX/lib
incdir=$PREFIX/include/mgv
datadir=$PREFIX/share
manifest=$datadir/mgv/manifest

if [ "$1" = uninstall ]; then
  if [ ! -f "$D$manifest" ]; then
    echo "uninstall: nothing of mgv is installed under $D$PREFIX (no $D$manifest)" >&2
    exit 1
  fi
  # files first (the manifest is one of them), then directories bottom-up
  m=$(cat "$D$manifest")
  printf '%s\n' "$m" | sed -n 's/^f //p' | while IFS= read -r f; do rm -f "$D$f"; done
  printf '%s\n' "$m" | sed -n 's/^d //p' | sort -r | while IFS= read -r d; do
    [ -d "$D$d" ] || continue
    rmdir "$D$d" 2>/dev/null || echo "uninstall: kept $D$d: it holds files mgv did not install"
  done
  echo "uninstalled mgv $VERSION from $D$PREFIX"
  exit 0
fi
[ "$1" = install ] || { echo "usage: install.sh install|uninstall" >&2; exit 2; }

tmpd=$(mktemp -d)
trap 'rm -rf "$tmpd"' EXIT
new=$tmpd/manifest

# mkdir -p that records each directory it creates
mkd() {
  case $1 in /|.) mkdir -p "$D/"; return 0 ;; esac
  [ -d "$D$1" ] && return 0
  mkd "$(dirname "$1")"
  mkdir "$D$1"
  echo "d $1" >>"$new"
}

put() {  # put MODE SOURCE PATH
  mkd "$(dirname "$3")"
  install -m "$1" "$2" "$D$3"
  echo "f $3" >>"$new"
}

lnk() {  # lnk TARGET PATH
  ln -sf "$1" "$D$2"
  echo "f $2" >>"$new"
}

put 755 "$BUILD/mgv" "$bindir/mgv"
put 755 "$BUILD/mgv-kernel" "$bindir/mgv-kernel"
put 755 "$BUILD/mgv.so" "$LUA_CMOD/mgv.so"

# the engine for C: shared (soname libmgv.so.SOMAJOR) and static, headers, pkg-config
put 755 "$BUILD/libmgv.so.$VERSION" "$libdir/libmgv.so.$VERSION"
lnk "libmgv.so.$VERSION" "$libdir/libmgv.so.$SOMAJOR"
lnk "libmgv.so.$SOMAJOR" "$libdir/libmgv.so"
put 644 "$BUILD/libmgvengine.a" "$libdir/libmgv.a"
for h in $HEADERS; do put 644 "$h" "$incdir/${h#engine/}"; done
# the headers include each other as "core/tensor.h": hence the second -I
pc=$tmpd/mgv.pc
cat >"$pc" <<EOF
prefix=$PREFIX
libdir=\${prefix}/lib
includedir=\${prefix}/include

Name: mgv
Description: the MG-VMoE engine in C: tensors, autograd, encoders, data sets, the model
Version: $VERSION
Requires.private: openblas jansson libpng libjpeg libcrypto${MPI_PC:+ $MPI_PC}
Cflags: -I\${includedir} -I\${includedir}/mgv
Libs: -L\${libdir} -lmgv
Libs.private: -lm -pthread
EOF
put 644 "$pc" "$libdir/pkgconfig/mgv.pc"

put 644 man/mgv.1 "$datadir/man/man1/mgv.1"
put 644 man/mgv-kernel.1 "$datadir/man/man1/mgv-kernel.1"
for f in examples/*; do put 644 "$f" "$datadir/mgv/$f"; done

# the kernelspec names the installed kernel, not the one it is written by
kdir=$datadir/jupyter/kernels/mgv
mkd "$kdir"
"$BUILD/mgv-kernel" install --prefix "$D$PREFIX" --executable "$bindir/mgv-kernel" >/dev/null
for f in "$D$kdir"/*; do echo "f $kdir/${f##*/}" >>"$new"; done

mkd "$(dirname "$manifest")"
echo "f $manifest" >>"$new"
{ if [ -f "$D$manifest" ]; then cat "$D$manifest"; fi; cat "$new"; } | awk '!seen[$0]++' >"$tmpd/all"
mv "$tmpd/all" "$D$manifest"
chmod 644 "$D$manifest"
echo "installed mgv $VERSION under $D$PREFIX (the Lua module in $D$LUA_CMOD)"
