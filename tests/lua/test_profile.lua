-- test_profile.lua — mgv.profile: time by op and by layer from the engine's
-- op timer; the parts add up to the wall time, names and scopes are right,
-- errors stop the profile.
local H = dofile((arg and arg[0] and arg[0]:match("^(.*/)") or
  (os.getenv("MGV_ROOT") or ".") .. "/tests/lua/") .. "harness.lua")
local test, eq, errors, check = H.test, H.eq, H.errors, H.check

local function find(rows, name)
  for _, r in ipairs(rows) do if r.name == name then return r end end
end

test("ops forward and backward: names, calls, and times that sum to the wall time", function()
  mgv.seed(3)
  local X = mgv.randn(256, 256)
  local W = mgv.randn(256, 256):requires_grad_()
  local p = mgv.profile(function()
    for _ = 1, 4 do
      local y = X:matmul(W):tanh():sum()
      y:backward()
    end
    mgv.no_grad(function() return X:matmul(X) end)
  end, { print = false })
  local mm, mmb = find(p.ops, "matmul"), find(p.ops, "matmul (backward)")
  check(mm and mmb, "matmul and its backward listed")
  eq(mm.calls, 5)                         -- four taped, one without tape
  eq(mmb.calls, 4)
  eq(find(p.ops, "tanh").calls, 4)
  eq(find(p.ops, "sum (backward)").calls, 4)
  check(mm.seconds > 0 and mmb.seconds > 0)
  -- every op's time is from the clock between marks: the sum never exceeds
  -- the wall time and misses only the Lua after the last op
  check(p.in_ops <= p.seconds + 1e-9, "in ops " .. p.in_ops .. " > wall " .. p.seconds)
  check(p.in_ops >= 0.9 * p.seconds, "in ops " .. p.in_ops .. " of wall " .. p.seconds)
  local sum = 0
  for _, r in ipairs(p.ops) do sum = sum + r.seconds end
  check(math.abs(sum - p.in_ops) < 1e-9)
  sum = 0
  for _, r in ipairs(p.layers) do sum = sum + r.seconds end
  check(math.abs(sum - p.in_ops) < 1e-9)
  eq(p.layers[1].name, "(no layer)")      -- no model: no scope
  for i = 2, #p.ops do check(p.ops[i - 1].seconds >= p.ops[i].seconds, "sorted") end
  local s = tostring(p)
  check(s:find("by op", 1, true) and s:find("matmul (backward)", 1, true), s)
end)

test("a model's step by layer: the text encoder's layers, the labels, the head, Adam", function()
  local task = mgv.data.synth{ per_class = 4 }
  local model = mgv.model{ words = task.words, hidden = 16, heads = 2, layers = 2, experts = 2,
                           proj = 16 }
  model:train_step(task.train, { 1, 2, 3, 4 })
  local p = mgv.profile(function() model:train_step(task.train, { 1, 2, 3, 4 }) end,
                        { print = false })
  for _, name in ipairs{ "text/layer 0", "text/layer 1", "labels/layer 1", "head" } do
    check(find(p.layers, name), "layer " .. name .. " missing")
  end
  check(find(p.ops, "vmoe") and find(p.ops, "vmoe (backward)"), "the VIB-MoE op")
  eq(find(p.ops, "adam (update)").calls, 2)   -- the model's step and r's own
  check(p.in_ops >= 0.9 * p.seconds)
  -- evaluation without tape: the fused layers and the ops still counted
  local q = mgv.profile(function() model:predict(task.val) end, { print = false })
  check(find(q.ops, "transformer_layer_fused"), "fused layers")
  check(not find(q.ops, "matmul (backward)"), "no backward in evaluation")
  check(q.in_ops >= 0.9 * q.seconds)
end)

test("errors: not a function, nested, and an error inside stops the profile", function()
  errors(function() mgv.profile(1) end, "expects a function")
  errors(function() mgv.profile(function() end, 3) end, "options must be a table")
  errors(function()
    mgv.profile(function() mgv.profile(function() end) end, { print = false })
  end, "already running")
  errors(function()
    mgv.profile(function() mgv.ones(2):add(1) error("boom") end, { print = false })
  end, "boom")
  -- stopped: a new profile starts empty and sees only its own ops
  local p = mgv.profile(function() return 1 + 1 end, { print = false })
  eq(#p.ops, 0)
  eq(p.in_ops, 0)
end)

H.done()
