-- test_errors.lua — every failure is a Lua error with a message that says
-- what went wrong (never a crash): engine messages naming ops and shapes,
-- argument errors for nil / wrong types / freed tensors, out-of-range
-- indices, and backward twice.
local H = dofile((arg and arg[0] and arg[0]:match("^(.*/)") or
  (os.getenv("MGV_ROOT") or ".") .. "/tests/lua/") .. "harness.lua")
local test, eq, errors, check = H.test, H.eq, H.errors, H.check
local T = mgv.tensor

test("shape mismatches name the op and the shapes", function()
  errors(function() return mgv.zeros(2, 3):matmul(mgv.zeros(4, 5)) end,
    "matmul: shapes [2x3] and [4x5] do not fit")
  local e = errors(function() return mgv.zeros(2, 3) + mgv.zeros(4) end, "[2x3]")
  check(e:find("[4]", 1, true), e)
  errors(function() return mgv.zeros(3):matmul(mgv.zeros(3, 1)) end, "matmul")
  errors(function() return mgv.zeros(2, 3):linear(mgv.zeros(4, 5)) end, "linear")
  errors(function() return mgv.zeros(6):reshape(4, 2) end, "reshape")
  errors(function() return mgv.cat({mgv.zeros(2, 2), mgv.zeros(2, 3)}, 1) end, "[2x3]")
  errors(function() return mgv.zeros(2, 3):layer_norm(mgv.ones(4)) end, "layer_norm")
  errors(function() return mgv.zeros(2, 3):masked_fill(mgv.ones(4), 1) end, "masked_fill")
  errors(function() return mgv.kl_categorical(mgv.zeros(2, 3), mgv.zeros(3, 2)) end, "kl_categorical")
  errors(function() return mgv.gaussian_kl(mgv.zeros(2, 3), mgv.zeros(2, 4)) end, "gaussian_kl")
end)

test("errors carry the Lua position of the call", function()
  local ok, err = pcall(function() return mgv.zeros(2, 3):matmul(mgv.zeros(4, 5)) end)
  eq(ok, false)
  check(err:find("^tests/lua/test_errors%.lua:%d+: matmul") or err:find("test_errors%.lua:%d+: matmul"), err)
end)

test("nil and wrong types are argument errors", function()
  local x = mgv.zeros(2, 2)
  errors(function() return x:matmul(nil) end, "bad argument #1 to 'matmul' (mgv.Tensor expected, got nil)")
  errors(function() return x:matmul("abc") end, "bad argument #1 to 'matmul' (mgv.Tensor expected, got string)")
  errors(function() return x:matmul({}) end, "mgv.Tensor expected, got table")
  errors(function() return mgv.Tensor.exp(5) end, "bad argument #1 to 'exp' (mgv.Tensor expected, got number)")
  errors(function() return mgv.exp() end, "mgv.Tensor expected, got no value")
  errors(function() return x:softmax("a") end, "number expected, got string")
  errors(function() return x:add(nil) end, "number or mgv.Tensor expected, got nil")
  errors(function() return x + nil end, "number or mgv.Tensor expected, got nil")
  errors(function() return x + {} end, "number or mgv.Tensor expected, got table")
  errors(function() return x:scale(x) end, "number expected, got mgv.Tensor")
  errors(function() return mgv.zeros(nil) end, "shape entries must be integers, got nil")
  errors(function() return mgv.zeros(2.5) end, "shape entries must be integers")
  errors(function() return x:reshape("a") end, "shape entries must be integers")
  errors(function() return x:sum("a") end, "number expected, got string")
  errors(function() return mgv.cross_entropy(x, "a") end, "table of indices or mgv.Tensor expected")
  errors(function() return mgv.cross_entropy(x, nil) end, "got nil")
  errors(function() return mgv.optim.sgd(x, {lr = 1}) end, "table expected, got mgv.Tensor")
  errors(function() return mgv.embedding(x, {1, "b"}) end, "element [2] is a string, expected a number")
  errors(function() return mgv.no_grad() end, "function expected, got no value")
  errors(function() return x:backward("a") end, "mgv.Tensor expected, got string")
end)

test("out-of-range indices and axes", function()
  local x = T{{1, 2, 3}, {4, 5, 6}}
  errors(function() return x[3] end, "index 3 out of range for an axis of size 2")
  errors(function() return x[-3] end, "index -3 out of range")
  errors(function() return x:get(1, 4) end, "get: index 4 out of range for an axis of size 3")
  errors(function() return x:set(0, 0, 1) end, "set: index 0 does not exist")
  errors(function() return x:select(2, 4) end, "select: index 4 out of range")
  errors(function() return x:index_select(2, {1, 4}) end, "index_select: index 4 out of range 1..3")
  errors(function() return x:softmax(3) end, "axis 3 out of range for a tensor with 2 axes")
  errors(function() return x:sum(-3) end, "axis -3 out of range")
  errors(function() return x:size(0) end, "axis 0 does not exist")
  errors(function() return x:unsqueeze(4) end, "axis 4 out of range for a tensor with 3 axes")
  errors(function() return x:slice(1, 1, 2, 0) end, "step must be at least 1")
  errors(function() return mgv.embedding(mgv.zeros(3, 2), {0}) end, "index 0 out of range 1..3")
end)

test("backward twice and other autograd misuse", function()
  local w = mgv.ones(2):requires_grad_()
  local loss = (w * w):sum()
  loss:backward()
  errors(function() loss:backward() end,
    "backward: the graph behind this tensor was already freed by an earlier backward")
  errors(function() (w * 2):backward() end, "backward: tensor [2] is not a scalar")
  errors(function() mgv.ones(1):backward() end, "does not require grad")
  errors(function() mgv.no_grad(function() return (w * 2):sum() end):backward() end, "does not require grad")
end)

test("freed tensors are argument errors", function()
  local t = mgv.zeros(3)
  t:free()
  errors(function() return t:sum() end, "tensor has been freed")
  errors(function() return mgv.zeros(3) + t end, "tensor has been freed")
  errors(function() return mgv.zeros(3):add(t) end, "tensor has been freed")
  errors(function() return #t end, "tensor has been freed")
  errors(function() t[1] = 1 end, "tensor has been freed")
  errors(function() return t.grad end, "freed")
end)

test("engine errors leave the state usable", function()
  for _ = 1, 100 do pcall(function() return mgv.zeros(2, 3):matmul(mgv.zeros(4, 5)) end) end
  local r = mgv.ones(2, 3):matmul(mgv.ones(3, 1))
  eq(r:get(1, 1), 3)
end)

H.done()
