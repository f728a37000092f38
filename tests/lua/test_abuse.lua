-- test_abuse.lua — every public function of the mgv module, called wrongly.
--
-- The functions are found programmatically: the module table and its
-- sub-tables (mgv.Tensor, mgv.data, mgv.glove, mgv.json, mgv.optim,
-- mgv.plot, ...) and the metatables (metamethods and methods) of every kind
-- of object the API hands out: tensors, data sets, models, GloVe tables,
-- samplers, optimisers, plots, progress bars. Each function is called
--   - with no arguments and with only nil;
--   - with its valid arguments (a template below) where each position in turn
--     (and one past the end) holds each of ~50 bad values: nil, booleans,
--     0, -1, NaN, +-inf, huge and negative sizes, math.mininteger/maxinteger,
--     strings, tables (empty, ragged, self-referencing, huge shapes),
--     functions, coroutines, files, objects of the wrong class, freed/closed
--     objects, tensors of odd shapes (0-d, empty, 8-d, views, NaN-filled);
--   - with its valid arguments and 20 extra ones;
--   - with every option of an options table (found from the "known: ..."
--     message) set to each bad scalar value;
--   - with 25 random combinations of two bad positions (fixed seed);
-- each in pcall. Every call must succeed or raise a Lua error whose value is
-- a non-empty string, and the process must not crash (the test runs itself
-- in a child process, in a temporary directory that receives any file a
-- call writes, and a parent reports a crash with the call that caused it).
-- One PASS line per group of functions, and a NOTE with the counts.
--
-- Not called with bad arguments (they only loop or block by design):
--   none at present. mgv.train runs with a tiny model, task and options so
--   that even its defaults (20 epochs) finish quickly; os.tmpname is
--   redirected into the temporary directory.
-- mgv.help / mgv.doc / mgv._show_results print; their output goes to the
-- child's stdout, which the parent shows only on failure.
local ROOT = os.getenv("MGV_ROOT") or "."
local MGV = os.getenv("MGV_BIN") or ROOT .. "/build/mgv"

-------------------------------------------------------------------------------
-- the parent: runs the child in a temporary directory and watches its end
-------------------------------------------------------------------------------
if not os.getenv("MGV_ABUSE_CHILD") then
  local function sh_quote(s) return "'" .. s:gsub("'", "'\\''") .. "'" end
  -- on a tmpfs when there is one: the saves fsync, and thousands of fsyncs
  -- on a disk would dominate the run
  local shm = io.open("/dev/shm/.mgv-abuse-probe", "w")
  if shm then shm:close() os.remove("/dev/shm/.mgv-abuse-probe") end
  local tmp = os.tmpname()
  os.remove(tmp)
  if shm then tmp = "/dev/shm/" .. tmp:match("[^/]+$") end
  assert(os.execute("mkdir -p " .. sh_quote(tmp)))
  local self = arg[0]
  if self:sub(1, 1) ~= "/" then self = os.getenv("PWD") .. "/" .. self end
  local root = ROOT:sub(1, 1) == "/" and ROOT or os.getenv("PWD") .. "/" .. ROOT
  local bin = MGV:sub(1, 1) == "/" and MGV or os.getenv("PWD") .. "/" .. MGV
  local p = io.popen("cd " .. sh_quote(tmp) .. " && MGV_ABUSE_CHILD=1 MGV_ROOT=" .. sh_quote(root) ..
    " MGV_ABUSE_TMP=" .. sh_quote(tmp) .. " " .. sh_quote(bin) .. " " .. sh_quote(self) .. " 2>&1")
  local tail, n_tail = {}, 0
  for line in p:lines() do
    if line:match("^PASS ") or line:match("^FAIL ") or line:match("^NOTE ") then
      print(line)
      io.stdout:flush()
    else
      n_tail = n_tail + 1
      tail[n_tail % 60] = line
    end
  end
  local ok, how, code = p:close()
  local f = io.open(tmp .. "/last_call")
  local last = f and f:read("a") or "?"
  if f then f:close() end
  if not ok then
    print(string.format("FAIL the abuse run ended by %s %s; the last call was: %s", tostring(how),
      tostring(code), last))
    print("last output lines:")
    for i = n_tail - 59, n_tail do
      if i >= 1 and tail[i % 60] then print("  " .. tail[i % 60]) end
    end
  end
  os.execute("rm -rf " .. sh_quote(tmp))
  os.exit(ok and 0 or 1)
end

-------------------------------------------------------------------------------
-- the child
-------------------------------------------------------------------------------
local TMP = assert(os.getenv("MGV_ABUSE_TMP"))
local sanitized = os.getenv("SANITIZE") == "1" or os.getenv("MGV_ASAN_PRELOAD") ~= nil
-- a 256 MiB budget: huge sizes fail at once, and so do defaults that build
-- big networks (a BERT-base is 430 MB) when a call passes an empty options table
mgv.set_memory_limit(mgv.memory() + 256 * 2 ^ 20)
do
  local n = 0
  os.tmpname = function() n = n + 1 return TMP .. "/tmpname" .. n end
end
local real_print = print
local function report(s) real_print(s) io.stdout:flush() end
local last = assert(io.open(TMP .. "/last_call", "w"))

-- fixtures: made once, remade when a call freed them ------------------------
local F = {}
local function alive_tensor(t) return pcall(function() return t:dim() end) end
local function alive_obj(o)
  local ok, s = pcall(tostring, o)
  return ok and not s:find("freed") and not s:find("closed")
end

local makers = {
  task = function() return mgv.data.synth{classes = 6, per_class = 4, seed = 1} end,
  x = function() return mgv.randn(2, 3) end,
  y = function() return mgv.randn(3, 2) end,
  v = function() return mgv.randn(3) end,
  p = function() return mgv.randn(3):requires_grad_() end,
  idx = function() return mgv.tensor{1, 2} end,
  model = function()
    return mgv.model{words = F.task.words, task = "synth", hidden = 8, heads = 2, layers = 1,
      experts = 2, proj = 8, patch = 4, max_len = 16}
  end,
  glove = function()
    return mgv.glove.open(ROOT .. "/tests/fixtures/glove_small.json", TMP .. "/glove.cache")
  end,
  plot = function() return mgv.plot.bars({1, 2, 3}) end,
  bar = function() return mgv.progress(10, "x") end,
}
makers.ds = function() return F.task.train end
makers.sampler = function() return mgv.sampler(F.task.train, 1) end
makers.optim = function() return mgv.optim.adam({F.p}, {lr = 0.1}) end
makers.out = function()
  return F.model:forward(F.task.train, {1, 2})
end

local order = {"task", "x", "y", "v", "p", "idx", "model", "glove", "plot", "bar", "ds",
  "sampler", "optim", "out"}

local function refresh()
  if not F.task or not alive_obj(F.task.train) or not alive_obj(F.task.all) or
     not alive_obj(F.task.val) or not alive_tensor(F.task.words) then
    F.task = makers.task()
    F.ds, F.sampler, F.model, F.out = nil, nil, nil, nil
  end
  for _, k in ipairs(order) do
    local v = F[k]
    local ok
    if v == nil then ok = false
    elseif mgv.is_tensor(v) then ok = alive_tensor(v)
    elseif k == "out" then ok = alive_tensor(v.scores)
    elseif k == "sampler" then ok = pcall(function() return v:next(1) end)
    elseif k == "plot" then ok = pcall(function() return v:size() end)
    elseif k == "optim" then ok = pcall(function() return v:params() end)
    elseif type(v) == "userdata" then ok = alive_obj(v)
    else ok = true end
    if not ok then F[k] = makers[k]() end
  end
  if not pcall(function() return F.optim:params() end) or not alive_tensor(F.p) then
    F.p = makers.p()
    F.optim = makers.optim()
  end
end
refresh()

local saved_file = TMP .. "/good.safetensors"
mgv.save(saved_file, {a = mgv.ones(2)}, {k = "v"})

-- the bad values --------------------------------------------------------------
local selfref = {}
selfref[1] = selfref
selfref.self = selfref
local deep = {}
do
  local d = deep
  for _ = 1, 300 do d[1] = {} d = d[1] end
end
local freed_tensor = mgv.zeros(2, 2)
freed_tensor:free()
local closed_task = mgv.data.synth{classes = 6, per_class = 4, seed = 2}
local freed_ds = closed_task.train
freed_ds:free()
local freed_model = makers.model()
freed_model:free()
local closed_glove = makers.glove()
closed_glove:close()
local dead_co = coroutine.create(function() end)
coroutine.resume(dead_co)

local BAD = {
  {"nil", nil}, {"false", false}, {"true", true},
  {"0", 0}, {"-1", -1}, {"1", 1}, {"2", 2}, {"0.5", 0.5}, {"-0.5", -0.5},
  {"NaN", 0 / 0}, {"inf", math.huge}, {"-inf", -math.huge}, {"1e300", 1e300},
  {"2^31", 2 ^ 31}, {"-2^31", -2 ^ 31}, {"2^31 (int)", 1 << 31}, {"2^53", 2 ^ 53},
  {"2^63", 2 ^ 63}, {"1e9", 1e9}, {"maxinteger", math.maxinteger},
  {"mininteger", math.mininteger}, {"-2^40", -(1 << 40)},
  {"''", ""}, {"'abc'", "abc"}, {"'1'", "1"}, {"'-1'", "-1"}, {"'nan'", "nan"},
  {"'a\\0b'", "a\0b"}, {"long string", string.rep("x", 100000)},
  {"{}", {}}, {"{1,2,3}", {1, 2, 3}}, {"ragged", {{1, 2}, {3}}}, {"{a=1}", {a = 1}},
  {"{1e9,1e9}", {1e9, 1e9}}, {"{-1,2}", {-1, 2}}, {"{NaN}", {0 / 0}}, {"{0}", {0}},
  {"self-ref table", selfref}, {"300-deep table", deep}, {"{'a','b'}", {"a", "b"}},
  {"function", function() return 1 end}, {"erroring function", function() error("inner") end},
  {"coroutine", coroutine.create(function() end)}, {"dead coroutine", dead_co},
  {"io.stdout", io.stdout},
  {"0-d tensor", mgv.tensor(1.5)}, {"empty tensor", mgv.zeros(0)}, {"[0x3] tensor", mgv.zeros(0, 3)},
  {"8-d tensor", mgv.ones(1, 2, 1, 2, 1, 1, 1, 2)}, {"transposed view", mgv.randn(3, 4):transpose(1, 2)},
  {"broadcast view", mgv.ones(1, 1):expand(1000, 1000)},
  {"NaN tensor", mgv.full({2, 3}, 0 / 0)}, {"inf tensor", mgv.full({3}, math.huge)},
  {"freed tensor", freed_tensor}, {"freed dataset", freed_ds}, {"freed model", freed_model},
  {"closed glove", closed_glove},
}
local SCALARS = {}
for _, b in ipairs(BAD) do
  local t = type(b[2])
  if t == "nil" or t == "boolean" or t == "number" or t == "string" then SCALARS[#SCALARS + 1] = b end
end
local OBJ_BAD = {   -- objects of other classes, added when fixtures exist
  {"dataset", function() return F.ds end}, {"model", function() return F.model end},
  {"glove", function() return F.glove end}, {"sampler", function() return F.sampler end},
  {"optim", function() return F.optim end}, {"plot", function() return F.plot end},
  {"task table", function() return F.task end}, {"forward() table", function() return F.out end},
}

-- valid arguments per function (a function of the fixtures) -------------------
local T = {}
local function t(name, f) T[name] = f end
-- module functions
t("mgv.tensor", function() return {{{1, 2}, {3, 4}}} end)
for _, n in ipairs{"zeros", "ones", "rand", "randn"} do t("mgv." .. n, function() return {2, 3} end) end
t("mgv.full", function() return {{2, 2}, 7} end)
t("mgv.arange", function() return {0, 5, 1} end)
t("mgv.seed", function() return {42} end)
t("mgv.is_tensor", function() return {F.x} end)
t("mgv.set_memory_limit", function() return {2 ^ 30} end)
t("mgv.cat", function() return {{F.x, F.x}, 1} end)
t("mgv.broadcast_shape", function() return {F.x, F.v} end)
t("mgv.embedding", function() return {F.y, F.idx} end)
t("mgv.cross_entropy", function() return {F.x, F.idx} end)
t("mgv.margin_ranking", function() return {F.x, F.idx, 1} end)
t("mgv.kl_categorical", function() return {F.x:log_softmax(), F.x:log_softmax(), -1} end)
t("mgv.gaussian_kl", function() return {F.x, F.x, 1} end)
t("mgv.no_grad", function() return {function() return 1 end} end)
t("mgv.grad_enabled", function() return {true} end)
t("mgv.threads", function() return {2} end)
t("mgv.save", function() return {TMP .. "/s.safetensors", {a = F.x}, {k = "v"}} end)
t("mgv.load", function() return {saved_file} end)
t("mgv.set_printoptions", function() return {{precision = 4}} end)
t("mgv.inspect", function() return {{1, 2, {a = 3}}, {depth = 2}} end)
t("mgv.doc", function() return {"mgv.zeros"} end)
t("mgv.help", function() return {"mgv.zeros"} end)
t("mgv.isatty", function() return {2} end)
t("mgv.json.encode", function() return {{a = 1, b = {1, 2}}, true} end)
t("mgv.json.decode", function() return {'{"a": [1, 2]}'} end)
t("mgv.optim.sgd", function() return {{F.p}, {lr = 0.1, momentum = 0.9}} end)
t("mgv.optim.adam", function() return {{F.p}, {lr = 0.1}} end)
t("mgv.optim.adamw", function() return {{F.p}, {lr = 0.1}} end)
t("mgv.optim.clip_grad_norm", function() return {{F.p}, 1} end)
t("mgv.data.synth", function() return {{classes = 6, per_class = 4}} end)
t("mgv.data.mre", function() return {{dir = TMP .. "/nodir", glove = F.glove}} end)
t("mgv.data.met", function() return {{file = TMP .. "/nofile.json", glove = F.glove}} end)
t("mgv.data.features", function() return {TMP .. "/nofeatures.safetensors"} end)
t("mgv.glove.open", function() return {ROOT .. "/tests/fixtures/glove_small.json", TMP .. "/g2.cache"} end)
t("mgv.model", function()
  return {{words = F.task.words, task = "synth", hidden = 8, heads = 2, layers = 1, experts = 2,
    proj = 8, patch = 4, max_len = 16}}
end)
t("mgv.sampler", function() return {F.ds, 1} end)
t("mgv.metrics", function() return {{1, 2, 1}, {1, 2, 2}, {"a", "b"}} end)
t("mgv.glove_baseline", function() return {F.ds, F.task.words} end)
t("mgv.predict", function() return {F.model, F.ds, {batch = 4}} end)
t("mgv.evaluate", function() return {F.model, F.ds, {batch = 4}} end)
t("mgv.progress", function() return {10, "x"} end)
t("mgv.train", function()
  return {F.model, F.task, {epochs = 1, steps_per_epoch = 1, quiet = true, batch = 2,
    dir = TMP}}
end)
t("mgv._pcall", function() return {function(a) return a end, 1} end)
t("mgv.plot.heatmap", function() return {F.x, {title = "t"}} end)
t("mgv.plot.bars", function() return {{1, 2, 3}, {labels = {"a", "b", "c"}}} end)
t("mgv.plot.lines", function() return {{{1, 2, 3}}, {title = "t"}} end)
t("mgv.plot.scatter", function() return {{1, 2}, {2, 1}, {labels = {"a", "b"}}} end)
t("mgv.plot.graph", function() return {mgv.rand(3, 3), {1, 2, 1}} end)
t("mgv.plot.image", function() return {mgv.rand(3, 4, 4)} end)
t("mgv.plot.gates", function() return {F.out, 1, F.task.vocab} end)
t("mgv.plot.usage", function() return {F.out, F.ds:labels()} end)
t("mgv.plot.history", function()
  return {{{epoch = 1, train = {loss = 1}, val_macro_f1 = 0.5, val_micro_f1 = 0.5}}}
end)
t("mgv.bert.new", function() return {{vocab_size = 50, hidden = 8, layers = 1, heads = 2, max_position = 16}} end)
t("mgv.vit.new", function() return {{hidden = 8, layers = 1, heads = 2, image_size = 8, patch = 4}} end)
t("mgv._complete", function() return {"mgv.ze"} end)
t("mgv._doc_name", function() return {mgv.zeros} end)
t("mgv._help_line", function() return {"?mgv.zeros"} end)
t("mgv._show_results", function() return {1, "a"} end)
-- tensor methods: self first; ops that take a second tensor get one
local tensor_args = {
  add = {"y2"}, sub = {"y2"}, mul = {"y2"}, div = {"y2"}, matmul = {"y"}, linear = {"y3"},
  cosine_similarity = {"x"}, masked_fill = {"x", 0}, layer_norm = {"v3"}, index_select = {1, "idx"},
  reshape = {3, 2}, view = {3, 2}, transpose = {1, 2}, permute = {2, 1}, slice = {1, 1, 2},
  select = {1, 1}, unsqueeze = {1}, squeeze = {}, expand = {2, 3}, pow = {2}, scale = {2},
  sum = {1}, mean = {1}, max = {1}, softmax = {1}, log_softmax = {1}, dropout = {0.5},
  get = {1, 1}, set = {5, 1, 1}, fill = {1}, copy = {"x"}, uniform_ = {0, 1}, normal_ = {0, 1},
  size = {1}, flatten = {}, l2_norm = {},
}
local function tensor_template(name)
  local spec = tensor_args[name] or {}
  return function()
    local a = {mgv.randn(2, 3)}
    for _, s in ipairs(spec) do
      if s == "y2" then a[#a + 1] = mgv.randn(2, 3)
      elseif s == "y" then a[#a + 1] = mgv.randn(3, 2)
      elseif s == "y3" then a[#a + 1] = mgv.randn(4, 3)
      elseif s == "x" then a[#a + 1] = mgv.randn(2, 3)
      elseif s == "v3" then a[#a + 1] = mgv.ones(3)
      elseif s == "idx" then a[#a + 1] = mgv.tensor{1, 2}
      else a[#a + 1] = s end
    end
    return a
  end
end
-- methods of the other classes
t("Dataset:instance", function() return {F.ds, 1} end)
t("Dataset:image", function() return {F.ds, 1} end)
t("Dataset:subset", function() return {F.ds, {1, 2}} end)
t("Dataset:load_features", function() return {F.ds, TMP .. "/nofeatures.safetensors"} end)
t("Dataset:load_images", function() return {F.ds, ROOT .. "/tests/fixtures/images", {size = 8}} end)
t("Model:train_step", function() return {F.model, F.ds, {1, 2}} end)
t("Model:predict", function() return {F.model, F.ds, {batch = 4}} end)
t("Model:forward", function() return {F.model, F.ds, {1, 2}, {training = false}} end)
t("Model:save", function() return {F.model, TMP .. "/m.safetensors", {k = "v"}, true} end)
t("Model:load", function()
  F.model:save(TMP .. "/m0.safetensors")
  return {F.model, TMP .. "/m0.safetensors"}
end)
t("Model:set_lr", function() return {F.model, 1e-3} end)
t("Glove:lookup", function() return {F.glove, "the"} end)
t("Glove:vector", function() return {F.glove, "the"} end)
t("Sampler:next", function() return {F.sampler, 4} end)
t("Plot:save", function() return {F.plot, TMP .. "/p.png"} end)
t("Plot:pixel", function() return {F.plot, 1, 1} end)
t("Bar:update", function() return {F.bar, 5, "info"} end)

-- enumeration -----------------------------------------------------------------
local funcs, seen_name = {}, {}
-- MGV_ABUSE_SKIP: comma-separated name prefixes to leave out (debugging only)
local skip = {}
for p in (os.getenv("MGV_ABUSE_SKIP") or ""):gmatch("[^,]+") do skip[#skip + 1] = p end
local function skipped(name)
  for _, p in ipairs(skip) do if name:sub(1, #p) == p then return true end end
  return false
end
local function add(name, f, self_kind)
  if seen_name[name] or skipped(name) then return end
  seen_name[name] = true
  funcs[#funcs + 1] = {name = name, f = f, self_kind = self_kind}
end
local function walk_module(tbl, prefix, depth)
  local keys = {}
  for k in pairs(tbl) do if type(k) == "string" then keys[#keys + 1] = k end end
  table.sort(keys)
  for _, k in ipairs(keys) do
    local v = tbl[k]
    if type(v) == "function" then add(prefix .. "." .. k, v)
    elseif type(v) == "table" and k ~= "_docs" and k ~= "Tensor" and depth < 3 then
      walk_module(v, prefix .. "." .. k, depth + 1)
    end
  end
end
walk_module(mgv, "mgv", 0)
-- classes: name, a fixture key, how to list methods
local classes = {
  {"Tensor", "x"}, {"Dataset", "ds"}, {"Model", "model"}, {"Glove", "glove"},
  {"Sampler", "sampler"}, {"Optim", "optim"}, {"Plot", "plot"}, {"Bar", "bar"},
}
for _, c in ipairs(classes) do
  local cname, key = c[1], c[2]
  local obj = F[key]
  local mt = debug.getmetatable(obj)
  local methods = {}
  if type(obj) == "table" and not mt then
    for k, v in pairs(obj) do if type(v) == "function" then methods[k] = v end end
  else
    local idx = mt.__methods or mt.__index
    if cname == "Tensor" then idx = mgv.Tensor end
    if type(idx) == "table" then for k, v in pairs(idx) do if type(v) == "function" then methods[k] = v end end end
    for k, v in pairs(mt) do
      if type(v) == "function" then add(cname .. "." .. k, v, key) end
    end
  end
  local names = {}
  for k in pairs(methods) do names[#names + 1] = k end
  table.sort(names)
  for _, k in ipairs(names) do add(cname .. ":" .. k, methods[k], key) end
end
for k in pairs(mgv.Tensor) do
  if not T["Tensor:" .. k] then T["Tensor:" .. k] = tensor_template(k) end
  -- the ops are module functions too: mgv.exp(t) == t:exp()
  if mgv[k] and not T["mgv." .. k] then T["mgv." .. k] = tensor_template(k) end
end
for _, mm in ipairs{"__add", "__sub", "__mul", "__div", "__pow"} do
  T["Tensor." .. mm] = function() return {mgv.randn(2, 3), mgv.randn(2, 3)} end
end
T["Tensor.__index"] = function() return {mgv.randn(2, 3), 1} end
T["Tensor.__newindex"] = function() return {mgv.randn(2, 3), 1, 0} end

-- the calls -------------------------------------------------------------------
local calls, errors_raised, bad = 0, 0, {}
local group_bad

local function pack(...) return {n = select("#", ...), ...} end

local function call(name, pattern, f, args, n)
  calls = calls + 1
  last:seek("set")
  last:write(name, " ", pattern, "          \n")
  last:flush()
  local r = pack(pcall(f, table.unpack(args, 1, n)))
  if not r[1] then
    errors_raised = errors_raised + 1
    local e = r[2]
    if type(e) ~= "string" or #e == 0 then
      group_bad[#group_bad + 1] = name .. " " .. pattern .. ": error value is a " .. type(e) ..
        " (" .. tostring(e) .. ")"
    end
  end
end

local function state_restore(saved)
  mgv.set_memory_limit(saved.limit)
  mgv.grad_enabled(saved.grad)
  mgv.threads(saved.threads)
  mgv.set_printoptions(saved.print)
  print = real_print
end

local function template_of(fn)
  local tf = T[fn.name]
  if tf then return tf end
  if fn.self_kind then return function() return {F[fn.self_kind]} end end
  return function() return {} end
end

local rng_state = 12345
local function rand(n)   -- a small LCG: the same sequence under every build
  rng_state = (rng_state * 1103515245 + 12345) % 2147483648
  return rng_state % n + 1
end

local no_template = {}
local function abuse(fn)
  local saved = {limit = select(2, mgv.memory()), grad = mgv.grad_enabled(),
    threads = mgv.threads(), print = mgv.set_printoptions{}}
  local tf = template_of(fn)
  if not T[fn.name] and not fn.self_kind and fn.name ~= "mgv.clock" and fn.name ~= "mgv.rss" and
     fn.name ~= "mgv.memory" then
    no_template[#no_template + 1] = fn.name
  end
  local function run(pattern, build)
    refresh()
    local ok, a, n = pcall(build)
    if not ok then
      group_bad[#group_bad + 1] = fn.name .. " " .. pattern .. ": building arguments failed: " .. tostring(a)
      return
    end
    call(fn.name, pattern, fn.f, a, n)
    state_restore(saved)
  end
  run("()", function() return {}, 0 end)
  run("(nil)", function() return {nil}, 1 end)
  run("(valid)", function() local a = tf() return a, #a end)
  local width = #tf() + 1
  for i = 1, width do
    for _, b in ipairs(BAD) do
      run(string.format("(arg %d = %s)", i, b[1]), function()
        local a = tf()
        local n = math.max(#a, i)
        a[i] = b[2]
        return a, n
      end)
    end
    for _, b in ipairs(OBJ_BAD) do
      run(string.format("(arg %d = %s)", i, b[1]), function()
        local a = tf()
        local n = math.max(#a, i)
        a[i] = b[2]()
        return a, n
      end)
    end
  end
  run("(valid + 20 extra)", function()
    local a = tf()
    local n = #a
    for k = 1, 20 do a[n + k] = BAD[(k * 7) % #BAD + 1][2] end
    return a, n + 20
  end)
  -- options tables: find the known options and abuse each
  local a0 = tf()
  for i = 1, #a0 + 1 do
    if a0[i] == nil or type(a0[i]) == "table" and getmetatable(a0[i]) == nil and not mgv.is_tensor(a0[i]) then
      refresh()
      local probe = tf()
      probe[i] = {zz_abuse_probe = 1}
      local ok, e = pcall(fn.f, table.unpack(probe, 1, math.max(#probe, i)))
      state_restore(saved)
      local known = not ok and type(e) == "string" and e:match("unknown option 'zz_abuse_probe' %(known: ([^)]*)%)")
      if known then
        for opt in known:gmatch("[%w_]+") do
          for _, b in ipairs(SCALARS) do
            run(string.format("(arg %d {%s = %s})", i, opt, b[1]), function()
              local a = tf()
              local o = {}
              if type(a[i]) == "table" then for k, v in pairs(a[i]) do o[k] = v end end
              o[opt] = b[2]
              a[i] = o
              return a, math.max(#a, i)
            end)
          end
        end
      end
    end
  end
  for _ = 1, 25 do
    local i, j = rand(width), rand(width)
    local bi, bj = BAD[rand(#BAD)], BAD[rand(#BAD)]
    run(string.format("(arg %d = %s, arg %d = %s)", i, bi[1], j, bj[1]), function()
      local a = tf()
      local n = math.max(#a, i, j)
      a[i] = bi[2]
      a[j] = bj[2]
      return a, n
    end)
  end
end

-- groups: by prefix (mgv, mgv.data, ..., Tensor methods, Dataset, ...)
local groups, group_order = {}, {}
for _, fn in ipairs(funcs) do
  local g = fn.name:match("^(.*)[.:]") or fn.name
  if g:match("^mgv%.") == nil and g ~= "mgv" then g = g:match("^[^.:]+") end
  if not groups[g] then groups[g] = {} group_order[#group_order + 1] = g end
  table.insert(groups[g], fn)
end

local total_funcs = 0
for _, g in ipairs(group_order) do
  group_bad = {}
  local c0 = calls
  for _, fn in ipairs(groups[g]) do abuse(fn) total_funcs = total_funcs + 1 end
  collectgarbage()
  local name = string.format("%s: %d functions, %d calls, each a success or an error with a message",
    g, #groups[g], calls - c0)
  if #group_bad == 0 then
    report("PASS " .. name)
  else
    report("FAIL " .. name)
    for k = 1, math.min(#group_bad, 20) do report("  " .. group_bad[k]) end
  end
end

-- regression checks for what this test found (kept explicit) -----------------
local function regress(name, fn)
  local ok, e = pcall(fn)
  report((ok and "PASS " or "FAIL ") .. "regression: " .. name .. (ok and "" or ": " .. tostring(e)))
end
regress("integer options out of int range are errors, not truncated", function()
  local ok, e = pcall(mgv.data.synth, {classes = 2 ^ 32 + 6})
  assert(not ok and e:find("out of range"), e)
end)
regress("synth{sentence_len = 1e9} is an error (was: the OOM killer)", function()
  local ok, e = pcall(mgv.data.synth, {sentence_len = 1e9})
  assert(not ok and e:find("sizes too large"), e)
end)
regress("a model with 1e9 layers is an error (was: ASan abort on a 160 GB calloc)", function()
  local ok, e = pcall(mgv.model, {words = F.task.words, task = "synth", layers = 1e9})
  assert(not ok and e:find("layers"), e)
end)
regress("slice with a huge step (was: signed overflow in the length)", function()
  local s = mgv.arange(5):slice(1, 2, -1, math.maxinteger)
  assert(s:numel() == 1 and s:get(1) == 1)
  local g = mgv.arange(5):requires_grad_()
  g:slice(1, 1, -1, math.maxinteger):sum():backward()
  assert(g.grad:get(1) == 1 and g.grad:get(2) == 0)
end)
regress("json.encode of a cycle or a bad key raises and leaks nothing (ASan checks)", function()
  for _ = 1, 50 do
    assert(not pcall(mgv.json.encode, selfref))
    assert(not pcall(mgv.json.encode, {a = {1, {[{}] = 1}}}))
    assert(not pcall(mgv.json.encode, {x = {"\xff"}}))
  end
end)

report(string.format("NOTE abuse: %d functions, %d calls, %d raised errors (all with string messages)%s",
  total_funcs, calls, errors_raised,
  #no_template > 0 and "; no valid-argument template for: " .. table.concat(no_template, ", ") or ""))
last:close()
os.exit(0)
