-- test_help.lua — mgv.help / mgv.doc: every public function is documented,
-- every documented example runs as written, and lookups by value and by name
-- work.
local H = dofile((arg and arg[0] and arg[0]:match("^(.*/)") or
  (os.getenv("MGV_ROOT") or ".") .. "/tests/lua/") .. "harness.lua")
local test, eq, check = H.test, H.eq, H.check

local printed = H.printed

-- The binding's core API (this file's owner documents all of it); other
-- public functions (model, data, training loop) are listed when undocumented.
local CORE = {
  "tensor", "zeros", "ones", "full", "rand", "randn", "arange", "seed", "cat", "is_tensor",
  "broadcast_shape", "rss", "memory", "set_printoptions", "embedding", "cross_entropy",
  "margin_ranking", "kl_categorical", "gaussian_kl", "no_grad", "grad_enabled", "save", "load",
  "help", "doc",
}

test("every public function has documentation", function()
  local missing, others = {}, {}
  local core = {}
  for _, n in ipairs(CORE) do core[n] = true end
  for name, v in pairs(mgv) do
    if type(v) == "function" and not name:match("^_") and not mgv.doc(name) then
      if core[name] then missing[#missing + 1] = "mgv." .. name
      else others[#others + 1] = "mgv." .. name end
    end
  end
  for _, n in ipairs(CORE) do
    if type(mgv[n]) ~= "function" then missing[#missing + 1] = "mgv." .. n .. " (not a function)" end
  end
  for name, v in pairs(mgv.Tensor) do
    if type(v) == "function" and not mgv.doc("Tensor:" .. name) then
      missing[#missing + 1] = "Tensor:" .. name
    end
  end
  for name, v in pairs(mgv.optim) do
    if type(v) == "function" and not mgv.doc("mgv.optim." .. name) then
      missing[#missing + 1] = "mgv.optim." .. name
    end
  end
  for _, name in ipairs({"step", "zero_grad", "params"}) do
    if not mgv.doc("Optim:" .. name) then missing[#missing + 1] = "Optim:" .. name end
  end
  table.sort(missing)
  table.sort(others)
  if #others > 0 then print("NOTE undocumented (outside the core API): " .. table.concat(others, ", ")) end
  eq(#missing, 0, "undocumented: " .. table.concat(missing, ", "))
end)

test("every example runs", function()
  local bad = {}
  local n = 0
  for name, d in pairs(mgv._docs) do
    if d.example then
      n = n + 1
      local env = setmetatable({ print = function() end }, { __index = _G })
      local chunk, err = load(d.example, "=" .. name, "t", env)
      local ok = chunk ~= nil
      if ok then printed(function() ok, err = pcall(chunk) end) end
      if not ok then bad[#bad + 1] = name .. ": " .. tostring(err) end
    end
  end
  table.sort(bad)
  check(n > 80, "examples: " .. n)
  eq(#bad, 0, table.concat(bad, "\n"))
end)

test("help by value, by name, and the topic list", function()
  local z = printed(mgv.help, mgv.zeros)
  check(z:find("mgv.zeros(d1, d2, ...)", 1, true), z)
  check(z:find("Example:", 1, true), z)
  check(printed(mgv.help, "zeros") == z)
  check(printed(mgv.help, "mgv.zeros") == z)
  local r = printed(mgv.help, mgv.Tensor.reshape)
  check(r:find("t:reshape", 1, true), r)
  check(printed(mgv.help, "reshape") == r)
  check(printed(mgv.help, "t:reshape") == r)
  check(printed(mgv.help, "Tensor:reshape") == r)
  -- the module form of a method finds the method's entry
  check(printed(mgv.help, mgv.exp):find("t:exp()", 1, true))
  check(printed(mgv.help, mgv.optim.adam):find("mgv.optim.adam(params", 1, true))
  check(printed(mgv.help, "adam"):find("mgv.optim.adam(params", 1, true))
  check(printed(mgv.help, "t.grad"):find("t.grad", 1, true))
  check(printed(mgv.help, "indexing"):find("t[i]", 1, true))
  check(printed(mgv.help, mgv.zeros(1)):find("t[i]", 1, true))
  local opt = mgv.optim.sgd({mgv.zeros(1):requires_grad_()}, {lr = 1})
  check(printed(mgv.help, opt.step):find("opt:step()", 1, true))
  local all = printed(mgv.help)
  check(all:find("module functions", 1, true) and all:find("tensor methods", 1, true), all)
  check(all:find("cross_entropy", 1, true) and all:find("layer_norm", 1, true), all)
  for line in all:gmatch("[^\n]+") do check(#line <= 80, "long line: " .. line) end
  check(printed(mgv.help, "nosuchthing"):find("no help for nosuchthing", 1, true))
  eq(mgv.doc("nosuchthing"), nil)
  eq(mgv.doc(42), nil)
  check(type(mgv.doc("zeros")) == "string")
end)

H.done()
