# mgv — build and test.
#   make                 engine library, Lua module lib/mgv.so, bin/mgv (and bin/mgv-kernel)
#   make test            every test; ends with "N passed, M failed"
#   make test SANITIZE=1 the same under AddressSanitizer + UndefinedBehaviorSanitizer
#   make bench           benchmarks (numbers, not tests)

CC      ?= cc
PKGS    := lua5.4 openblas jansson libpng
CFLAGS  ?= -O2 -g
CFLAGS  += -std=c11 -D_GNU_SOURCE -Wall -Wextra -Wno-unused-parameter -Wno-format-truncation -fPIC -pthread \
           $(shell pkg-config --cflags $(PKGS)) -Iengine -Ilua
LDLIBS  := $(shell pkg-config --libs $(PKGS)) -lreadline -ljpeg -lcrypto -lm -pthread

ifeq ($(SANITIZE),1)
BUILD   := build-san
SANFLAGS := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
CFLAGS  := $(filter-out -O2,$(CFLAGS)) -O1 $(SANFLAGS)
LDFLAGS += $(SANFLAGS)
else
BUILD   ?= build
endif

ENGINE_SRC := $(wildcard engine/*.c)
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
ifneq ($(SANITIZE),1)
	@mkdir -p bin lib
	@cp $(MGV_BIN) bin/mgv && cp $(LUA_MOD) lib/mgv.so
	@if [ -f $(KERNEL_BIN) ]; then cp $(KERNEL_BIN) bin/mgv-kernel; fi
endif

$(BUILD)/%.o: %.c $(wildcard engine/*.h lua/*.h repl/*.h kernel/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c $< -o $@

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

$(BUILD)/lua/embedded.o: $(BUILD)/lua/embedded.c lua/lmgv.h
	$(CC) $(CFLAGS) -c $< -o $@

# the module gets Lua's symbols from the host interpreter: no -llua5.4 here
$(LUA_MOD): $(LUA_OBJ) $(ENGINE_LIB)
	$(CC) -shared $(LDFLAGS) -o $@ $(LUA_OBJ) $(ENGINE_LIB) $(filter-out -llua5.4,$(LDLIBS))

$(MGV_BIN): $(REPL_OBJ) $(LUA_OBJ) $(ENGINE_LIB)
	$(CC) $(LDFLAGS) -o $@ $(REPL_OBJ) $(LUA_OBJ) $(ENGINE_LIB) $(LDLIBS) -Wl,-E

$(KERNEL_BIN): $(KERNEL_OBJ) $(LUA_OBJ) $(ENGINE_LIB)
	$(CC) $(LDFLAGS) -o $@ $(KERNEL_OBJ) $(LUA_OBJ) $(ENGINE_LIB) $(LDLIBS) -lzmq -luuid -Wl,-E

$(BUILD)/tests/%: tests/engine/%.c $(wildcard tests/engine/*.h) $(ENGINE_LIB)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -Itests/engine $(LDFLAGS) -o $@ $< $(ENGINE_LIB) $(LDLIBS)

# the Jupyter kernelspec "mgv" (kernel.json naming bin/mgv-kernel, and its
# logos): into the user's Jupyter data dir, or under PREFIX with
# `make install-kernel PREFIX=/usr/local` (then PREFIX/share/jupyter)
install-kernel: all
	$(if $(filter 1,$(SANITIZE)),$(KERNEL_BIN),bin/mgv-kernel) install $(if $(PREFIX),--prefix $(PREFIX),--user)

test: all
	@BUILD=$(BUILD) SANITIZE=$(SANITIZE) sh tests/run.sh

bench: all
	@sh scripts/bench.sh

clean:
	rm -rf build build-san bin/mgv bin/mgv-kernel lib
