/* version.h — the version of mgv, written here and nowhere else: the REPL,
 * the kernel, mgv.version in Lua, the pkg-config file and the shared
 * library's file name all take it from this line (the Makefile reads it). */
#ifndef MGV_VERSION_H
#define MGV_VERSION_H

#define MGV_VERSION "0.1"

#endif
