#!/bin/sh
# `make install` into a temporary PREFIX, then every way in, run with nothing
# of the build tree on any path (env -i, from a directory outside the
# checkout): bin/mgv, lua5.4 + require, a C program through pkg-config
# (shared and static), the kernelspec through Jupyter, the man pages, one
# version everywhere; `luarocks make` into a temporary tree; DESTDIR; and
# `make uninstall`, which must leave PREFIX as it was.
# Under SANITIZE=1 the sanitizer build is installed: lua5.4 then needs the
# ASan runtime preloaded, and the C programs are linked with it.
. "$(dirname "$0")/harness.sh"
ROOT=${MGV_ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}
P=$tmp/prefix
mkdir -p "$P/bin" "$P/share" "$tmp/home" "$tmp/run"
echo keep >"$P/bin/not-ours"   # what was there before must stay
(cd "$P" && find . | sort) >"$tmp/before"

# make in the checkout, not as a part of the make that runs the tests
MK="env -u MAKEFLAGS -u MAKELEVEL -u MFLAGS make -s -C $ROOT SANITIZE=$SANITIZE"
# a clean environment: system paths only, a scratch HOME, no build tree
clean() {
  (cd "$tmp/run" && env -i PATH=/usr/bin:/bin HOME="$tmp/home" TMPDIR="$tmp" OPENBLAS_NUM_THREADS=1 \
     ASAN_OPTIONS="${ASAN_OPTIONS:-}" UBSAN_OPTIONS="${UBSAN_OPTIONS:-}" "$@")
}
LUA=lua5.4; SAN=
if [ "$SANITIZE" = 1 ]; then
  LUA="env LD_PRELOAD=$MGV_ASAN_PRELOAD ASAN_OPTIONS=detect_leaks=0 lua5.4"
  SAN="-fsanitize=address,undefined"
fi
VERSION=$(sed -n 's/^#define MGV_VERSION "\([^"]*\)".*/\1/p' "$ROOT/engine/core/version.h")
CMOD=$($MK -s print-lua-cmod PREFIX="$P")
lua_rel=${CMOD#"$P"/}

check "the default PREFIX puts the module where lua5.4 looks" sh -c "
  d=\$($MK -s print-lua-cmod PREFIX=/usr/local); lua5.4 -e 'print(package.cpath)' | tr ';' '\\n' | grep -qx \"\$d/?.so\""
check "make install PREFIX=$P" $MK install PREFIX="$P"

check "installed mgv -e prints 4" clean sh -c "
  out=\$($P/bin/mgv -e 'print(mgv.ones(2, 2):sum():item())'); echo \"\$out\"; [ \"\$out\" = 4.0 ]"
check "installed examples/tour.lua runs" clean sh -c "$P/bin/mgv $P/share/mgv/examples/tour.lua | grep -q reloaded"

check "lua5.4 requires the installed module ($lua_rel)" clean env LUA_CPATH="$CMOD/?.so" sh -c "
  test -f $CMOD/mgv.so && $LUA -e 'local m = require \"mgv\"; assert(m.ones(2, 2):sum():item() == 4); print(m.version)' >$tmp/v.lua"

# a C program on the installed engine: headers alone under -std=c11 -Wpedantic -Werror
cat >"$tmp/run/prog.c" <<'EOF'
#include <stdio.h>
#include <mgv/mgv.h>
int main(void)
{
    int64_t sa[2] = {2, 3}, sb[2] = {3, 2};
    float a[6] = {1, 2, 3, 4, 5, 6}, b[6] = {7, 8, 9, 10, 11, 12};
    mgv_tensor *A = mgv_from_data(2, sa, a), *B = mgv_from_data(2, sb, b);
    mgv_tensor *C = A && B ? mgv_matmul(A, B) : NULL;
    if (!C) {
        fprintf(stderr, "%s\n", mgv_last_error());
        return 1;
    }
    for (int64_t i = 0; i < mgv_numel(C); i++) printf("%g%s", mgv_get_flat(C, i), i + 1 < mgv_numel(C) ? " " : "\n");
    printf("%s\n", MGV_VERSION);
    mgv_release(A);
    mgv_release(B);
    mgv_release(C);
    return 0;
}
EOF
check "C program via pkg-config (shared libmgv.so.0) prints A B" clean env PKG_CONFIG_PATH="$P/lib/pkgconfig" sh -c "
  cc -std=c11 -Wall -Wextra -Wpedantic -Werror $SAN -o prog prog.c \$(pkg-config --cflags --libs mgv) &&
  readelf -d prog | grep -q 'NEEDED.*libmgv.so.0' &&
  out=\$(LD_LIBRARY_PATH=$P/lib ./prog) && echo \"\$out\" &&
  [ \"\$out\" = \"58 64 139 154
$VERSION\" ]"
check "C program via pkg-config --static (libmgv.a) prints A B" clean env PKG_CONFIG_PATH="$P/lib/pkgconfig" sh -c "
  cc -std=c11 -Wpedantic -Werror $SAN -o sprog prog.c \$(pkg-config --cflags mgv) \$(pkg-config --static --libs mgv | sed 's/-lmgv /-l:libmgv.a /') &&
  ! readelf -d sprog | grep -q libmgv && [ \"\$(./sprog | head -n 1)\" = '58 64 139 154' ]"

check "jupyter kernelspec list (JUPYTER_PATH) names the installed kernel" clean env JUPYTER_PATH="$P/share/jupyter" sh -c "
  jupyter kernelspec list --json >$tmp/specs.json && /usr/bin/python3 -c '
import json, sys
s = json.load(open(\"$tmp/specs.json\"))[\"kernelspecs\"][\"mgv\"]
assert s[\"resource_dir\"] == \"$P/share/jupyter/kernels/mgv\", s[\"resource_dir\"]
assert s[\"spec\"][\"argv\"][0] == \"$P/bin/mgv-kernel\", s[\"spec\"][\"argv\"]
'"
check "the installed kernelspec's kernel answers an execute request" clean env JUPYTER_PATH="$P/share/jupyter" \
  JUPYTER_RUNTIME_DIR="$tmp/jrun" JUPYTER_DATA_DIR="$tmp/jdata" JUPYTER_CONFIG_DIR="$tmp/jconf" \
  /usr/bin/python3 -c "
import sys
from jupyter_client.manager import KernelManager
t = 120 if '$SANITIZE' == '1' else 30
km = KernelManager(kernel_name='mgv'); km.start_kernel()
try:
    kc = km.client(); kc.start_channels(); kc.wait_for_ready(timeout=t)
    mid = kc.kernel_info()
    while True:
        r = kc.get_shell_msg(timeout=t)
        if r['parent_header'].get('msg_id') == mid: break
    open('$tmp/v.kernel', 'w').write(r['content']['implementation_version'] + '\n')
    mid = kc.execute('print(mgv.ones(2, 2):sum():item())')
    out = ''
    while True:
        m = kc.get_iopub_msg(timeout=t)
        if m['parent_header'].get('msg_id') != mid: continue
        if m['msg_type'] == 'stream': out += m['content']['text']
        if m['msg_type'] == 'status' and m['content']['execution_state'] == 'idle': break
    r = kc.get_shell_msg(timeout=t)
    print(repr(out), r['content']['status'])
    assert r['content']['status'] == 'ok' and out == '4.0\n'
    kc.stop_channels()
finally:
    km.shutdown_kernel(now=False)
"

check "man pages installed and render without warnings" clean env MANPATH="$P/share/man" sh -c "
  [ \"\$(man -w mgv)\" = $P/share/man/man1/mgv.1 ] && [ \"\$(man -w mgv-kernel)\" = $P/share/man/man1/mgv-kernel.1 ] &&
  for f in $P/share/man/man1/mgv.1 $P/share/man/man1/mgv-kernel.1; do
    w=\$(LC_ALL=C.UTF-8 groff -ww -man -Tutf8 \$f 2>&1 >/dev/null); [ -z \"\$w\" ] || { echo \"\$w\"; exit 1; }; done"

check "one version: mgv, mgv-kernel, mgv.version, lua5.4, kernel_info, mgv.pc, C" clean env PKG_CONFIG_PATH="$P/lib/pkgconfig" sh -c "
  a=\$($P/bin/mgv --version | cut -d' ' -f2); b=\$($P/bin/mgv-kernel --version | cut -d' ' -f2)
  c=\$($P/bin/mgv -e 'io.write(mgv.version)'); d=\$(cat $tmp/v.lua); e=\$(cat $tmp/v.kernel)
  f=\$(pkg-config --modversion mgv); g=\$(LD_LIBRARY_PATH=$P/lib ./prog | tail -n 1)
  echo \"$VERSION: \$a \$b \$c \$d \$e \$f \$g\"
  [ -n '$VERSION' ] && for v in \"\$a\" \"\$b\" \"\$c\" \"\$d\" \"\$e\" \"\$f\" \"\$g\"; do [ \"\$v\" = '$VERSION' ] || exit 1; done"

check "luarocks make --tree installs a module require finds" sh -c "
  cd $ROOT && env -u MAKEFLAGS -u MAKELEVEL -u MFLAGS HOME=$tmp/home SANITIZE=$SANITIZE \
    luarocks --lua-version 5.4 make --tree $tmp/rocks rockspecs/mgv-scm-1.rockspec >$tmp/rocks.log 2>&1 &&
  test -f $tmp/rocks/lib/lua/5.4/mgv.so &&
  cpath=\$(HOME=$tmp/home luarocks --lua-version 5.4 path --tree $tmp/rocks --lr-cpath) &&
  cd $tmp/run && env -i PATH=/usr/bin:/bin HOME=$tmp/home LUA_CPATH=\"\$cpath\" \
    $LUA -e 'local m = require \"mgv\"; assert(package.searchpath(\"mgv\", package.cpath) == \"$tmp/rocks/lib/lua/5.4/mgv.so\"); assert(m.version == \"$VERSION\")'"

check "make uninstall leaves PREFIX as it was" sh -c "
  $MK uninstall PREFIX=$P >/dev/null &&
  (cd $P && find . | sort) | diff $tmp/before - && [ \"\$(cat $P/bin/not-ours)\" = keep ]"
check "make uninstall again fails with a message" sh -c "
  ! $MK uninstall PREFIX=$P 2>$tmp/err >/dev/null &&
  grep -q 'nothing of mgv is installed' $tmp/err"

# DESTDIR stages the files; what they name (kernel.json, mgv.pc, the manifest) is PREFIX
check "DESTDIR: staged files name PREFIX, uninstall empties the stage" sh -c "
  mkdir -p $tmp/stage && $MK install DESTDIR=$tmp/stage PREFIX=/opt/mgv >/dev/null &&
  grep -q '\"/opt/mgv/bin/mgv-kernel\"' $tmp/stage/opt/mgv/share/jupyter/kernels/mgv/kernel.json &&
  grep -qx 'prefix=/opt/mgv' $tmp/stage/opt/mgv/lib/pkgconfig/mgv.pc &&
  ! grep -q stage $tmp/stage/opt/mgv/share/mgv/manifest &&
  test -x $tmp/stage/opt/mgv/bin/mgv && test -f $tmp/stage/opt/mgv/$lua_rel/mgv.so &&
  $MK uninstall DESTDIR=$tmp/stage PREFIX=/opt/mgv >/dev/null && [ -z \"\$(ls -A $tmp/stage)\" ]"
exit $fails
