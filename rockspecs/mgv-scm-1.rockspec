-- The Lua module of mgv for LuaRocks, built by the project's Makefile:
--   luarocks --lua-version 5.4 make --tree T rockspecs/mgv-scm-1.rockspec
-- from the checkout (the build runs `make lua-module`, then
-- `make install-lua LUA_CMOD=<the rock's lib dir>`).
rockspec_format = "3.0"
package = "mgv"
version = "scm-1"
-- no public address yet: `luarocks make` builds the checkout it runs in
source = {
   url = "git+file://./",
}
description = {
   summary = "The MG-VMoE engine from Lua: tensors, autograd, encoders, zero-shot extraction",
   detailed = [[
A C11 engine for zero-shot multimodal information extraction with the
MG-VMoE model, as the Lua 5.4 module `mgv`: float32 tensors with autograd,
optimisers, BERT and ViT from Hugging Face files, the MNRE and MET data sets,
training, evaluation and pictures.]],
}
dependencies = {
   "lua >= 5.4, < 5.5",
}
external_dependencies = {
   -- Debian: libopenblas-dev libjansson-dev libpng-dev libjpeg-dev libssl-dev
   OPENBLAS = { library = "openblas" },
   JANSSON = { header = "jansson.h", library = "jansson" },
   LIBPNG = { header = "png.h", library = "png16" },
   LIBJPEG = { header = "jpeglib.h", library = "jpeg" },
   CRYPTO = { library = "crypto" },
}
build = {
   type = "make",
   build_target = "lua-module",
   install_target = "install-lua",
   install_variables = {
      LUA_CMOD = "$(LIBDIR)",
   },
}
