/*
 * lhost.h — the C side of the interactive host that bin/mgv's REPL and
 * bin/mgv-kernel share (the Lua side is lua/host.lua, mgv._host): a
 * protected call with a traceback and Ctrl-C, the hook a signal handler
 * sets, and calls into mgv._host. Each front end keeps only what is
 * terminal- or notebook-specific.
 */
#ifndef LHOST_H
#define LHOST_H

#include <stddef.h>

#include <lua.h>

/* From a SIGINT handler (async-signal-safe): stop L at its next
 * instruction with "interrupted!" and raise the engine's interrupt flag. */
void lhost_interrupt(lua_State *L);

/* Calls the function below narg arguments in protected mode; an error
 * becomes its message (or __tostring) followed by "\nstack traceback:\n"
 * and the frames. A stale interrupt is cleared before and after. */
int lhost_pcall(lua_State *L, int narg, int nres);

/* Keeps mgv._host (the module must be the global `mgv`) so that a user who
 * reassigns `mgv` does not break the front end; sets the globals help,
 * display and update_display when they are missing. 0, or -1 without it. */
int lhost_init(lua_State *L);

/* Pushes mgv._host.<name> (a function); 0 and nothing pushed when missing. */
int lhost_push(lua_State *L, const char *name);

/* Calls mgv._host.<name> with the nargs arguments on top of the stack
 * (lua_pcall, no traceback): LUA_OK and nres results, else lua_pcall's
 * status and the error message; -1 and nothing (the arguments popped) when
 * it is missing. */
int lhost_call(lua_State *L, const char *name, int nargs, int nres);

/* mgv._host.complete(text) under a budget of Lua instructions (a looping
 * __index must not hang the prompt). Pushes start (0-based byte offset in
 * text), the matches and their types and returns 0; -1 and nothing pushed
 * when it fails. */
int lhost_complete(lua_State *L, const char *text, size_t len);

#endif
