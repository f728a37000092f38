-- test_repl_helpers.lua — the Lua side of the REPL: completion (mgv._complete),
-- value printing (mgv.inspect, mgv._show_results), "?x" (mgv._help_line), and
-- documentation for every public function of the whole API, including the
-- model, data set, sampler and GloVe methods. Bad input gives messages.
local H = dofile((arg and arg[0] and arg[0]:match("^(.*/)") or
  (os.getenv("MGV_ROOT") or ".") .. "/tests/lua/") .. "harness.lua")
local test, eq, check, errors = H.test, H.eq, H.check, H.errors

local ROOT = os.getenv("MGV_ROOT") or "."

local function set(list)
  local s = {}
  for _, v in ipairs(list) do s[v] = true end
  return s
end

local printed = H.printed

local task = mgv.data.synth{ per_class = 4, classes = 30 }
local model = mgv.model{ words = task.words, hidden = 16, heads = 2, experts = 2, proj = 16 }

test("completion: module functions, tables, keywords, globals", function()
  eq(table.concat(mgv._complete("mgv.ze"), ","), "mgv.zeros")
  eq(table.concat(mgv._complete("mgv.optim.ad"), ","), "mgv.optim.adam,mgv.optim.adamw")
  eq(table.concat(mgv._complete("mgv.data.sy"), ","), "mgv.data.synth")
  local top = set(mgv._complete("pri"))
  check(top.print, "print")
  check(set(mgv._complete("fun"))["function"], "keywords")
  check(set(mgv._complete("mg")).mgv, "mgv")
  check(set(mgv._complete("string.fo"))["string.format"], "string.format")
  -- private names only on request
  check(not set(mgv._complete("mgv."))["mgv._docs"], "hidden _names")
  check(set(mgv._complete("mgv._"))["mgv._complete"], "_names when asked")
  -- sorted, full words
  local all = mgv._complete("mgv.")
  check(#all > 50, "many names")
  for i = 2, #all do check(all[i - 1] < all[i], "sorted") end
end)

test("completion: methods through metatables", function()
  _G.t_ = mgv.ones(2)
  eq(table.concat(mgv._complete("t_:res"), ","), "t_:reshape")
  check(set(mgv._complete("t_.gr"))["t_.grad"], "tensor fields after '.'")
  check(set(mgv._complete("t_.gr"))["t_.grad_fn"], "grad_fn")
  check(not set(mgv._complete("t_:gr"))["t_:grad"], "fields are not methods")
  _G.m_, _G.ds_ = model, task.train
  eq(table.concat(mgv._complete("m_:train_"), ","), "m_:train_step")
  check(set(mgv._complete("m_."))["m_.steps"], "model fields")
  check(set(mgv._complete("ds_:"))["ds_:classes"], "data set methods")
  check(set(mgv._complete("ds_:"))["ds_:load_images"], "data set methods")
  _G.s_ = mgv.sampler(task.train)
  eq(table.concat(mgv._complete("s_:ne"), ","), "s_:next")
  _G.o_ = mgv.optim.sgd({ mgv.zeros(1):requires_grad_() }, { lr = 1 })
  check(set(mgv._complete("o_:"))["o_:step"], "optimiser methods")
  check(set(mgv._complete("o_."))["o_.lr"], "optimiser fields")
  _G.str_ = "abc"
  check(set(mgv._complete("str_:up"))["str_:upper"], "string methods")
  _G.task_ = task
  check(set(mgv._complete("task_.train:"))["task_.train:subset"], "a path through a table")
  -- a Lua class: methods through a chain of __index tables
  local Base = { hello = function() end }
  local Mid = setmetatable({ mid = function() end }, { __index = Base })
  _G.obj_ = setmetatable({ own = 1 }, { __index = Mid })
  local c = set(mgv._complete("obj_:"))
  check(c["obj_:hello"] and c["obj_:mid"] and not c["obj_:own"], "inherited methods")
  check(set(mgv._complete("obj_."))["obj_.own"], "own fields")
  for _, k in ipairs({ "t_", "m_", "ds_", "s_", "o_", "str_", "task_", "obj_" }) do _G[k] = nil end
end)

test("completion: odd input gives no matches, never an error", function()
  errors(function() mgv._complete(nil) end, "a string expected")
  errors(function() mgv._complete({}) end, "a string expected")
  for _, w in ipairs({ "", "1abc", "a..b", "a:b:c", ":x", ".x", "nosuch.x", "mgv.zeros.x",
    "mgv.zeros:x", "x[1].y", "(", "mgv. ze", "\0", "é" }) do
    local ok, r = pcall(mgv._complete, w)
    check(ok and type(r) == "table", "word '" .. w .. "': " .. tostring(r))
    if w ~= "" then check(#r == 0 or w == "é", "no matches for '" .. w .. "'") end
  end
  -- an __index that raises, a protected metatable
  _G.bad_ = setmetatable({}, { __index = function() error("no") end })
  eq(#mgv._complete("bad_.x.y"), 0)
  _G.locked_ = setmetatable({ a1 = 1 }, { __metatable = "locked" })
  eq(table.concat(mgv._complete("locked_.a"), ","), "locked_.a1")
  _G.bad_, _G.locked_ = nil, nil
end)

test("inspect: scalars, strings, nested tables", function()
  eq(mgv.inspect(42), "42")
  eq(mgv.inspect(1.5), "1.5")
  eq(mgv.inspect(nil), "nil")
  eq(mgv.inspect(true), "true")
  eq(mgv.inspect("a\nb"), '"a\\nb"')
  eq(mgv.inspect({}), "{}")
  eq(mgv.inspect({ 1, 2, 3 }), "{1, 2, 3}")
  eq(mgv.inspect({ 1, x = 2, [5] = 3, ["end"] = 4, ["a b"] = 5 }),
    '{1, [5] = 3, ["a b"] = 5, ["end"] = 4, x = 2}')
  eq(mgv.inspect({ a = { b = { c = 1 } } }), "{a = {b = {c = 1}}}")
  eq(mgv.inspect({ 0 / 0 == 0 / 0, math.huge }), "{false, inf}")
  eq(mgv.inspect({ f = mgv.zeros }), "{f = function: mgv.zeros}")
  check(mgv.inspect({ f = print }):find("^{f = builtin: ") or mgv.inspect({ f = print }):find("^{f = function: "))
end)

test("inspect: cycles, depth, length, width, long strings", function()
  local t = { name = "x" }
  t.self = t
  t.list = { t }
  eq(mgv.inspect(t), '{list = {<cycle>}, name = "x", self = <cycle>}')
  -- a table seen twice but not inside itself prints twice
  local shared = { 1 }
  eq(mgv.inspect({ shared, shared }), "{{1}, {1}}")
  eq(mgv.inspect({ a = { b = { c = { d = { e = 1 } } } } }), "{a = {b = {c = {d = {...}}}}}")
  eq(mgv.inspect({ a = { b = 1 } }, { depth = 1 }), "{a = {...}}")
  local long = {}
  for i = 1, 100 do long[i] = i end
  local s = mgv.inspect(long)
  check(s:find("... (60 more)", 1, true), s)
  s = mgv.inspect(long, { items = 3 })
  eq(s, "{1, 2, 3, ... (97 more)}")
  -- wide tables break into lines, each within the width
  local wide = {}
  for i = 1, 30 do wide["key" .. i] = i * 1000 end
  s = mgv.inspect(wide, { width = 40 })
  for line in s:gmatch("[^\n]+") do check(#line <= 40, "line too long: " .. line) end
  check(select(2, s:gsub("\n", "")) >= 30, s)
  s = mgv.inspect({ string.rep("x", 500) })
  check(#s < 300 and s:find("(500 bytes)", 1, true), s)
end)

test("inspect: tensors and objects", function()
  eq(mgv.inspect(mgv.tensor{ 1, 2 }), tostring(mgv.tensor{ 1, 2 }))
  eq(mgv.inspect({ w = mgv.zeros(300, 2) }), "{w = tensor(shape=[300x2])}")
  eq(mgv.inspect({ b = mgv.ones(2) }), "{b = tensor([1, 1], shape=[2])}")
  local w = mgv.zeros(20):requires_grad_()
  eq(mgv.inspect({ w }), "{tensor(shape=[20], requires_grad=true)}")
  check(mgv.inspect({ w * 2 }):find("^{tensor%(shape=%[20%], grad_fn=<%w+>%)}$"), mgv.inspect({ w * 2 }))
  local freed = mgv.zeros(3)
  freed:free()
  eq(mgv.inspect({ freed }), "{tensor(<freed>)}")
  -- objects: in full at the top, their first line inside a table
  check(mgv.inspect(model):find("parameters:", 1, true))
  eq(mgv.inspect({ m = model }), "{m = MG-VMoE model (MET, 0 steps trained) ...}")
  eq(mgv.inspect({ d = task.train }), "{d = Dataset: 40 instances, 10 classes, with images}")
  check(mgv.inspect(mgv.sampler(task.train)):find("^mgv.Sampler: "))
  -- a __tostring that fails does not break printing
  local broken = setmetatable({}, { __tostring = function() error("oops") end })
  eq(mgv.inspect({ broken }), "{<table: __tostring failed>}")
  check(mgv.inspect(broken):find("{}", 1, true) or mgv.inspect(broken):find("failed"))
end)

test("inspect: bad options are messages", function()
  errors(function() mgv.inspect({}, 5) end, "inspect: options must be a table, got number")
  errors(function() mgv.inspect({}, { colour = 1 }) end, "unknown option 'colour'")
  errors(function() mgv.inspect({}, { depth = 0 }) end, "option 'depth' must be a positive integer")
  errors(function() mgv.inspect({}, { width = 1.5 }) end, "positive integer")
end)

test("the REPL's result line", function()
  eq(mgv._show_results(), "")
  eq(mgv._show_results("abc"), "abc")   -- strings as they are, as lua.c
  eq(mgv._show_results(1, "a", nil), "1\ta\tnil")
  eq(mgv._show_results({ 1 }, { 2 }), "{1}\t{2}")
  check(mgv._show_results(mgv.zeros(2, 2), 1):find("\n1$"), "multi-line values: one per line")
end)

test("?x: names, expressions, methods of objects, odd input", function()
  check(printed(mgv._help_line, "zeros"):find("mgv.zeros(d1", 1, true))
  check(printed(mgv._help_line, "  mgv.zeros  "):find("mgv.zeros(d1", 1, true))
  check(printed(mgv._help_line, ""):find("module functions", 1, true))
  _G.mdl_ = model
  check(printed(mgv._help_line, "mdl_:train_step"):find("model:train_step(ds", 1, true))
  check(printed(mgv._help_line, "mdl_"):find("mgv.Model", 1, true))
  check(printed(mgv._help_line, "mdl_.save"):find("model:save(path", 1, true))
  _G.mdl_ = nil
  check(printed(mgv._help_line, "train_step"):find("model:train_step(ds", 1, true))
  check(printed(mgv._help_line, "Dataset:labels"):find("ds:labels()", 1, true))
  check(printed(mgv._help_line, "data.synth"):find("mgv.data.synth{", 1, true))
  check(printed(mgv._help_line, "mgv.json.decode"):find("mgv.json.decode(text)", 1, true))
  for _, odd in ipairs({ "nosuch", "nosuch.x.y", ")))", "1 +", "\0" }) do
    check(printed(mgv._help_line, odd):find("no help for", 1, true), "odd: " .. odd)
  end
  -- a call is never run: the help of the function named
  check(printed(mgv._help_line, "error('x')"):find("error: a function of the Lua standard library", 1, true))
  errors(function() mgv._help_line(nil) end, "help: a string expected, got nil")
  errors(function() mgv._help_line(5) end, "a string expected")
end)

test("help on values of every class", function()
  check(mgv.doc(model):find("mgv.Model", 1, true))
  check(mgv.doc(task.train):find("mgv.Dataset", 1, true))
  check(mgv.doc(mgv.sampler(task.train)):find("mgv.Sampler", 1, true))
  check(mgv.doc(model.train_step):find("model:train_step", 1, true))
  check(mgv.doc(task.train.subset):find("ds:subset", 1, true))
  check(mgv.doc(mgv.data.synth):find("mgv.data.synth", 1, true))
  check(mgv.doc(mgv.json.encode):find("mgv.json.encode", 1, true))
  local cache = os.tmpname()
  os.remove(cache)
  local g = mgv.glove.open(ROOT .. "/tests/fixtures/glove_small.json", cache)
  check(mgv.doc(g):find("mgv.Glove", 1, true))
  check(mgv.doc(g.lookup):find("g:lookup", 1, true))
  g:close()
  os.remove(cache)
  eq(mgv._doc_name(mgv.zeros), "mgv.zeros")
  eq(mgv._doc_name(print), nil)
  eq(mgv._doc_name("zeros"), nil)
end)

test("every public function and method has documentation", function()
  local missing = {}
  local function need(name, f)
    if type(f) == "function" and not mgv.doc(name) then missing[#missing + 1] = name end
  end
  for name, v in pairs(mgv) do
    if not name:match("^_") then
      if type(v) == "function" then need("mgv." .. name, v)
      elseif type(v) == "table" and name ~= "Tensor" then
        for k, f in pairs(v) do
          if not k:match("^_") then need("mgv." .. name .. "." .. k, f) end
        end
      end
    end
  end
  local reg = debug.getregistry()
  for class, regname in pairs({ Model = "mgv.Model", Dataset = "mgv.Dataset",
    Sampler = "mgv.Sampler", Glove = "mgv.Glove" }) do
    local mt = reg[regname]
    check(type(mt) == "table", regname .. " registered")
    local methods = type(mt.__methods) == "table" and mt.__methods or mt.__index
    check(type(methods) == "table", regname .. " has a methods table")
    check(mgv.doc(class), "class topic " .. class)
    for k, f in pairs(methods) do
      if type(f) == "function" and not (mgv._docs[class .. ":" .. k]) then
        missing[#missing + 1] = class .. ":" .. k
      end
    end
  end
  table.sort(missing)
  eq(#missing, 0, "undocumented: " .. table.concat(missing, ", "))
  -- every entry has a signature, a paragraph and an example
  for name, d in pairs(mgv._docs) do
    check(type(d.sig) == "string" and #d.sig > 0, name .. ": signature")
    check(type(d.text) == "string" and #d.text > 5, name .. ": text")
    check(type(d.example) == "string" and #d.example > 0, name .. ": example")
  end
end)

H.done()
