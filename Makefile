# mgv — build and test.
#   make                 engine library, Lua module lib/mgv.so, bin/mgv (and bin/mgv-kernel)
#   make test            every test; ends with "N passed, M failed"
#   make test SANITIZE=1 the same under AddressSanitizer + UndefinedBehaviorSanitizer
#                        (+ LeakSanitizer: a leak fails the test that leaked)
#   make bench           benchmarks (numbers, not tests)
#   make install         into PREFIX (default /usr/local) under DESTDIR (see "install" below)
#   make uninstall       removes what make install put under PREFIX

CC      ?= cc
PKGS    := lua5.4 openblas jansson libpng
CFLAGS  ?= -O2 -g
CFLAGS  += -std=c11 -D_GNU_SOURCE -Wall -Wextra -Wpedantic -Wno-unused-parameter -Wno-format-truncation -fPIC -pthread \
           $(shell pkg-config --cflags $(PKGS)) -Iengine -Ilua
LDLIBS  := $(shell pkg-config --libs $(PKGS)) -lreadline -ljpeg -lcrypto -lm -pthread

# MPI (data-parallel ranks, engine/core/dist.h): on when Open MPI's or MPICH's
# pkg-config file is present, Open MPI first; `make MPI=0` builds one-rank only;
# `make MPI_PC=mpich BUILD=build-mpich` builds against MPICH beside the default
MPI_PCS := $(foreach p,ompi-c mpich,$(shell pkg-config --exists $(p) && echo $(p)))
MPI_PC  := $(firstword $(MPI_PCS))
MPI     ?= $(if $(MPI_PC),1,0)
ifeq ($(MPI),1)
ifeq ($(MPI_PC),)
$(error MPI=1 but neither ompi-c nor mpich is known to pkg-config (scripts/install-deps.sh))
endif
CFLAGS  += -DMGV_MPI $(shell pkg-config --cflags $(MPI_PC))
LDLIBS  += $(shell pkg-config --libs $(MPI_PC))
endif

ifeq ($(SANITIZE),1)
BUILD   := build-san
SANFLAGS := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
CFLAGS  := $(filter-out -O2,$(CFLAGS)) -O1 $(SANFLAGS)
LDFLAGS += $(SANFLAGS)
else
BUILD   ?= build
endif

.DEFAULT_GOAL := all
# dist.o is rebuilt when MPI changes between builds
MPI_STAMP = $(BUILD)/mpi-stamp
.PHONY: mpi-stamp-force
$(MPI_STAMP): mpi-stamp-force
	@mkdir -p $(BUILD); echo "$(MPI) $(MPI_PC)" | cmp -s - $@ || echo "$(MPI) $(MPI_PC)" > $@
$(BUILD)/engine/core/dist.o: $(MPI_STAMP)

ENGINE_SRC := $(wildcard engine/*/*.c)
LUA_SRC    := $(filter-out lua/gen_embed.c,$(wildcard lua/*.c))
LUA_SCRIPTS := $(sort $(wildcard lua/*.lua))
REPL_SRC   := $(wildcard repl/*.c)
KERNEL_SRC := $(wildcard kernel/*.c)
ENGINE_OBJ := $(ENGINE_SRC:%.c=$(BUILD)/%.o)
LUA_OBJ    := $(LUA_SRC:%.c=$(BUILD)/%.o) $(BUILD)/lua/embedded.o
REPL_OBJ   := $(REPL_SRC:%.c=$(BUILD)/%.o)
KERNEL_OBJ := $(KERNEL_SRC:%.c=$(BUILD)/%.o)
ENGINE_TESTS := $(patsubst tests/engine/%.c,$(BUILD)/tests/%,$(wildcard tests/engine/test_*.c))

ENGINE_LIB := $(BUILD)/libmgvengine.a
LUA_MOD    := $(BUILD)/mgv.so
MGV_BIN    := $(BUILD)/mgv
KERNEL_BIN := $(BUILD)/mgv-kernel

TARGETS := $(ENGINE_LIB) $(LUA_MOD) $(MGV_BIN)
ifneq ($(KERNEL_SRC),)
TARGETS += $(KERNEL_BIN)
endif

.PHONY: all test bench clean install-kernel
all: $(TARGETS) $(ENGINE_TESTS)
ifeq ($(BUILD),build)
	@mkdir -p bin lib
	@cp $(MGV_BIN) bin/mgv && cp $(LUA_MOD) lib/mgv.so
	@if [ -f $(KERNEL_BIN) ]; then cp $(KERNEL_BIN) bin/mgv-kernel; fi
endif

# headers are tracked per object (-MMD -MP: a .d file beside each object)
$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -MMD -MP -c $< -o $@

$(ENGINE_LIB): $(ENGINE_OBJ)
	@rm -f $@
	ar rcs $@ $^

# pure-Lua parts of the binding (lua/*.lua) embedded as byte arrays by a
# small generator built first (no xxd needed)
$(BUILD)/gen_embed: lua/gen_embed.c
	@mkdir -p $(dir $@)
	$(CC) -std=c11 -O1 -o $@ $<

$(BUILD)/lua/embedded.c: $(BUILD)/gen_embed $(LUA_SCRIPTS)
	@mkdir -p $(dir $@)
	$(BUILD)/gen_embed $@ $(LUA_SCRIPTS)

$(BUILD)/lua/embedded.o: $(BUILD)/lua/embedded.c
	$(CC) $(CFLAGS) -MMD -MP -c $< -o $@

# the module gets Lua's symbols from the host interpreter: no -llua5.4 here
$(LUA_MOD): $(LUA_OBJ) $(ENGINE_LIB)
	$(CC) -shared $(LDFLAGS) -o $@ $(LUA_OBJ) $(ENGINE_LIB) $(filter-out -llua5.4,$(LDLIBS))

$(MGV_BIN): $(REPL_OBJ) $(LUA_OBJ) $(ENGINE_LIB)
	$(CC) $(LDFLAGS) -o $@ $(REPL_OBJ) $(LUA_OBJ) $(ENGINE_LIB) $(LDLIBS) -Wl,-E

$(KERNEL_BIN): $(KERNEL_OBJ) $(LUA_OBJ) $(ENGINE_LIB)
	$(CC) $(LDFLAGS) -o $@ $(KERNEL_OBJ) $(LUA_OBJ) $(ENGINE_LIB) $(LDLIBS) -lzmq -luuid -Wl,-E

$(BUILD)/tests/%: tests/engine/%.c $(ENGINE_LIB)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -MMD -MP -Itests/engine $(LDFLAGS) -o $@ $< $(ENGINE_LIB) $(LDLIBS)

# the Jupyter kernelspec "mgv" (kernel.json naming bin/mgv-kernel, and its
# logos): into the user's Jupyter data dir, or under PREFIX with
# `make install-kernel PREFIX=/usr/local` (then PREFIX/share/jupyter)
install-kernel: all
	$(if $(filter 1,$(SANITIZE)),$(KERNEL_BIN),bin/mgv-kernel) install $(if $(PREFIX),--prefix $(PREFIX),--user)

# ---- install (begin)
# The version is written once, in engine/core/version.h.
VERSION    := $(shell sed -n 's/^\#define MGV_VERSION "\([^"]*\)".*/\1/p' engine/core/version.h)
SOMAJOR    := $(firstword $(subst ., ,$(VERSION)))
SHARED_LIB := $(BUILD)/libmgv.so.$(VERSION)

# the engine as a shared library for C programs (the binaries and the Lua
# module keep linking the static one: nothing to find at run time)
$(SHARED_LIB): $(ENGINE_OBJ)
	$(CC) -shared $(LDFLAGS) -Wl,-soname,libmgv.so.$(SOMAJOR) -o $@ $(ENGINE_OBJ) \
	  $(filter-out -llua5.4 -lreadline,$(LDLIBS))

# `make install [PREFIX=/usr/local] [DESTDIR=]` installs the binaries, the Lua
# module (into Lua 5.4's C-module directory under PREFIX, or LUA_CMOD),
# the engine (libmgv.so, libmgv.a, headers under include/mgv/, mgv.pc), the
# man pages, the examples and the kernelspec. scripts/install.sh keeps a
# manifest (PREFIX/share/mgv/manifest) by which `make uninstall` removes
# exactly those files and the directories the install created.
INSTALL_PREFIX := $(or $(PREFIX),/usr/local)
# Lua's C-module directory: Debian's own (INSTALL_CMOD) for PREFIX=/usr, else
# PREFIX/lib/lua/5.4, the directory lua5.4 searches under /usr/local (Debian's
# INSTALL_CMOD rebased on /usr/local, lib/x86_64-linux-gnu/lua/5.4, is not
# on its search path, so a plain `require "mgv"` would fail there)
LUA_PREFIX := $(shell pkg-config --variable=prefix lua5.4)
LUA_CMOD   ?= $(if $(filter $(LUA_PREFIX),$(INSTALL_PREFIX)),$(shell pkg-config --variable=INSTALL_CMOD lua5.4),$(INSTALL_PREFIX)/lib/lua/5.4)
# the public headers: what mgv.h includes
PUBLIC_HEADERS = $(sort $(filter engine/%.h,$(shell $(CC) -MM -Iengine engine/mgv.h)))
.PHONY: print-lua-cmod
print-lua-cmod:
	@echo $(LUA_CMOD)

INSTALL_ENV = DESTDIR="$(DESTDIR)" PREFIX="$(INSTALL_PREFIX)" BUILD="$(BUILD)" \
              VERSION="$(VERSION)" SOMAJOR="$(SOMAJOR)" LUA_CMOD="$(LUA_CMOD)" \
              HEADERS="$(PUBLIC_HEADERS)" MPI_PC="$(if $(filter 1,$(MPI)),$(MPI_PC))"

.PHONY: install uninstall lua-module install-lua
install: $(TARGETS) $(SHARED_LIB)
	@$(INSTALL_ENV) sh scripts/install.sh install

uninstall:
	@$(INSTALL_ENV) sh scripts/install.sh uninstall

# the Lua module alone, built and installed into LUA_CMOD (what the
# rockspec's `luarocks make` runs)
lua-module: $(LUA_MOD)

install-lua: $(LUA_MOD)
	install -d "$(DESTDIR)$(LUA_CMOD)"
	install -m 755 $(LUA_MOD) "$(DESTDIR)$(LUA_CMOD)/mgv.so"
# ---- install (end)

# with MPICH installed beside Open MPI, the tests also run build-mpich/mgv
# under mpirun.mpich (tests/e2e/test_mpi.py)
MPICH_TOO = $(if $(filter 1,$(MPI)),$(if $(filter-out mpich,$(MPI_PC)),$(if $(filter 1,$(SANITIZE)),,\
              $(if $(filter mpich,$(MPI_PCS)),mpich-build))))
.PHONY: mpich-build
mpich-build:
	@$(MAKE) --no-print-directory MPI_PC=mpich BUILD=build-mpich build-mpich/mgv

test: all $(MPICH_TOO)
	@BUILD=$(BUILD) SANITIZE=$(SANITIZE) MPI=$(MPI) sh tests/run.sh

bench: all
	@sh scripts/bench.sh --simd all

clean:
	rm -rf build build-san build-mpich bin/mgv bin/mgv-kernel lib

# ---- fuzz (begin)
# libFuzzer targets for every parser (fuzz/fuzz_<target>.c; needs clang):
#   make fuzz-build                 builds them into $(BUILD)/fuzz/
#   make fuzz [FUZZ_SECONDS=60]     builds them and runs each for FUZZ_SECONDS on a
#                                   scratch copy of its seed corpus fuzz/corpus/<target>/
#   make fuzz FUZZ_TARGETS="png jpeg" FUZZ_FLAGS="-jobs=2"   some targets, more options
# A run's log, grown corpus and any crashing input stay in $(BUILD)/fuzz/run/<target>/.
# The same harnesses built without libFuzzer replay every seed and every past
# finding (fuzz/regressions/<target>/) in $(BUILD)/tests/test_fuzz_replay,
# which `make` builds and `make test` runs.
FUZZ_CC      ?= clang
FUZZ_SECONDS ?= 60
FUZZ_TARGETS ?= wire json mnre met safetensors png jpeg glove
FUZZ_FLAGS   ?=
FUZZ_CFLAGS  := -std=c11 -D_GNU_SOURCE -g -O1 -fno-omit-frame-pointer \
                -fsanitize=address,undefined -fno-sanitize-recover=undefined \
                $(shell pkg-config --cflags $(PKGS)) -Iengine -Ikernel -Ifuzz
FUZZ_LIBS    := $(LDLIBS) -lzmq -luuid
FUZZ_OBJ     := $(ENGINE_SRC:%.c=$(BUILD)/fuzz/obj/%.o) $(BUILD)/fuzz/obj/kernel/wire.o
FUZZ_LIB     := $(BUILD)/fuzz/libmgvfuzz.a
FUZZ_BINS    := $(FUZZ_TARGETS:%=$(BUILD)/fuzz/fuzz_%)
FUZZ_REPLAY  := $(BUILD)/tests/test_fuzz_replay

.PHONY: fuzz fuzz-build
all: $(FUZZ_REPLAY)

$(BUILD)/fuzz/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -MMD -MP -fsanitize=fuzzer-no-link -c $< -o $@

$(FUZZ_LIB): $(FUZZ_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(BUILD)/fuzz/fuzz_%: fuzz/fuzz_%.c $(wildcard fuzz/*.h) $(FUZZ_LIB)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer -o $@ $< $(FUZZ_LIB) $(FUZZ_LIBS)

fuzz-build: $(FUZZ_BINS)

fuzz: fuzz-build
	@for t in $(FUZZ_TARGETS); do \
	  run=$(BUILD)/fuzz/run/$$t; mkdir -p $$run/corpus; cp fuzz/corpus/$$t/* $$run/corpus/; \
	  if [ -d fuzz/regressions/$$t ]; then cp fuzz/regressions/$$t/* $$run/corpus/; fi; \
	  dict=; if [ -f fuzz/$$t.dict ]; then dict=-dict=fuzz/$$t.dict; fi; \
	  echo "== fuzz_$$t: $(FUZZ_SECONDS) s (log: $$run/log)"; \
	  if ! $(BUILD)/fuzz/fuzz_$$t $$dict -max_total_time=$(FUZZ_SECONDS) -timeout=10 \
	       -rss_limit_mb=2048 -print_final_stats=1 -artifact_prefix=$$run/ $(FUZZ_FLAGS) \
	       $$run/corpus >$$run/log 2>&1; then \
	    tail -n 40 $$run/log; echo "fuzz_$$t: FINDING: the input is in $$run/"; exit 1; \
	  fi; \
	  grep -E '^#[0-9]+.*(DONE|pulse|NEW|REDUCE)' $$run/log | tail -n 1; \
	  grep -E '^stat::(number_of_executed_units|peak_rss_mb)' $$run/log; \
	done

$(FUZZ_REPLAY): fuzz/replay.c $(wildcard fuzz/*.c fuzz/*.h) kernel/wire.c kernel/kernel.h $(ENGINE_LIB)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -DFUZZ_REPLAY -Ikernel -Ifuzz $(LDFLAGS) -o $@ fuzz/replay.c \
	  $(filter-out fuzz/replay.c,$(wildcard fuzz/*.c)) kernel/wire.c $(ENGINE_LIB) $(LDLIBS) -lzmq -luuid
# ---- fuzz (end)

# the header dependencies written by -MMD
-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)
