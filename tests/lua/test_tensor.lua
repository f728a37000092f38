-- test_tensor.lua — constructors, geometry, indexing and assignment, element
-- access, conversion, printing of the mgv.Tensor userdata.
local H = dofile((arg and arg[0] and arg[0]:match("^(.*/)") or
  (os.getenv("MGV_ROOT") or ".") .. "/tests/lua/") .. "harness.lua")
local test, eq, near, values, errors, check = H.test, H.eq, H.near, H.values, H.errors, H.check

test("module loaded as global and package.loaded", function()
  check(type(mgv) == "table")
  eq(require("mgv"), mgv)
  eq(package.loaded.mgv, mgv)
  check(type(mgv.version) == "string")
end)

test("tensor from nested table", function()
  local t = mgv.tensor{{1, 2, 3}, {4, 5, 6}}
  values(t, {{1, 2, 3}, {4, 5, 6}}, 0, {2, 3})
  eq(t:dim(), 2)
  eq(t:numel(), 6)
  eq(#t, 2)
  eq(t:size(1), 2)
  eq(t:size(-1), 3)
  eq(table.concat(t:size(), "x"), "2x3")
  local s = mgv.tensor(2.5)
  eq(s:dim(), 0)
  eq(s:item(), 2.5)
  values(mgv.tensor{}, {}, 0, {0})
  values(mgv.tensor{{}}, {}, 0, {1, 0})
  local c = mgv.tensor(t)        -- copy
  c:set(9, 1, 1)
  eq(t:get(1, 1), 1)
  eq(mgv.tensor{{{1}, {2}}}:dim(), 3)
end)

test("ragged and non-number tables are errors", function()
  errors(function() mgv.tensor{{1, 2}, {3}} end, "ragged nested table: element [2] has 1 entries, expected 2")
  errors(function() mgv.tensor{{1, 2}, 3} end, "element [2] is a number, expected a table")
  errors(function() mgv.tensor{1, {2}} end, "element [2] is a table, expected a number")
  errors(function() mgv.tensor{1, "x"} end, "element [2] is a string, expected a number")
  errors(function() mgv.tensor("abc") end, "bad argument #1 to 'tensor'")
end)

test("zeros ones full rand randn arange", function()
  values(mgv.zeros(2, 3), {{0, 0, 0}, {0, 0, 0}}, 0, {2, 3})
  values(mgv.zeros{2, 3}, {{0, 0, 0}, {0, 0, 0}}, 0, {2, 3})
  values(mgv.ones(3), {1, 1, 1}, 0, {3})
  eq(mgv.zeros():dim(), 0)
  values(mgv.full({2, 2}, 7), {{7, 7}, {7, 7}}, 0)
  values(mgv.full(3, 0.5), {0.5, 0.5, 0.5}, 0)
  values(mgv.arange(4), {0, 1, 2, 3}, 0, {4})
  values(mgv.arange(1, 2, 0.25), {1, 1.25, 1.5, 1.75}, 0)
  values(mgv.arange(5, 1, -2), {5, 3}, 0)
  mgv.seed(7)
  local r = mgv.rand(1000)
  local lo, hi, sum = 1, 0, 0
  for i = 1, 1000 do
    local v = r[i]
    lo, hi, sum = math.min(lo, v), math.max(hi, v), sum + v
  end
  check(lo >= 0 and hi < 1, "rand in [0,1)")
  near(sum / 1000, 0.5, 0.1)
  local n = mgv.randn(20000)
  near(n:mean():item(), 0, 0.05)
  near((n * n):mean():item(), 1, 0.05)
  mgv.seed(7)
  eq(mgv.rand(1000)[17], r[17], "same seed, same numbers")
  errors(function() mgv.zeros(2, -1) end, "negative size -1")
  errors(function() mgv.zeros(2, "a") end, "shape entries must be integers")
  errors(function() mgv.zeros(1, 1, 1, 1, 1, 1, 1, 1, 1) end, "9 dimensions (at most 8)")
end)

test("uniform_ normal_ fill copy", function()
  mgv.seed(3)
  local u = mgv.zeros(500):uniform_(-2, -1)
  local lo, hi = 0, -3
  for i = 1, 500 do lo, hi = math.min(lo, u[i]), math.max(hi, u[i]) end
  check(lo >= -2 and hi < -1)
  local g = mgv.zeros(20000):normal_(3, 2)
  near(g:mean():item(), 3, 0.1)
  local t = mgv.zeros(2, 2)
  eq(t:fill(4), t)
  values(t, {{4, 4}, {4, 4}}, 0)
  t:copy(mgv.tensor{1, 2})   -- broadcast
  values(t, {{1, 2}, {1, 2}}, 0)
  t:copy({{5, 6}, {7, 8}})
  values(t, {{5, 6}, {7, 8}}, 0)
  t:copy(0)
  values(t, {{0, 0}, {0, 0}}, 0)
  errors(function() t:copy(mgv.zeros(3)) end, "copy: source [3] does not broadcast to [2x2]")
  -- overlapping copy: the transpose of itself
  local m = mgv.tensor{{1, 2}, {3, 4}}
  m:copy(m:transpose())
  values(m, {{1, 3}, {2, 4}}, 0)
end)

test("integer indexing with negatives and out of range", function()
  local t = mgv.tensor{{1, 2, 3}, {4, 5, 6}}
  values(t[1], {1, 2, 3}, 0, {3})
  values(t[-1], {4, 5, 6}, 0)
  eq(t[2][3], 6)
  eq(t[-1][-3], 4)
  eq(t[2.0][1], 4)
  errors(function() return t[3] end, "index: index 3 out of range for an axis of size 2")
  errors(function() return t[-3] end, "index -3 out of range")
  errors(function() return t[0] end, "index 0 does not exist (indices are 1-based")
  errors(function() return t[1.5] end, "tensor indices must be integers")
  errors(function() return mgv.tensor(1)[1] end, "0-d tensor")
  eq(t.nosuchfield, nil)
  -- a row is a view: writing through it changes t
  local row = t[1]
  row[2] = 20
  eq(t:get(1, 2), 20)
end)

test("assignment by index", function()
  local t = mgv.zeros(2, 3)
  t[1] = 7
  values(t, {{7, 7, 7}, {0, 0, 0}}, 0)
  t[-1] = mgv.tensor{1, 2, 3}
  values(t, {{7, 7, 7}, {1, 2, 3}}, 0)
  t[2] = {9, 8, 7}
  values(t[2], {9, 8, 7}, 0)
  t[1] = mgv.tensor(5)       -- 0-d broadcast
  values(t[1], {5, 5, 5}, 0)
  local v = mgv.zeros(3)
  v[2] = 4.5
  v[-1] = -1
  values(v, {0, 4.5, -1}, 0)
  errors(function() v[4] = 1 end, "out of range")
  errors(function() v[0] = 1 end, "index 0 does not exist")
  errors(function() t[1] = "x" end, "cannot assign a string")
  errors(function() t[1] = mgv.zeros(2) end, "does not broadcast")
  errors(function() t.foo = 1 end, "cannot set field 'foo'")
end)

test("get set item totable", function()
  local t = mgv.tensor{{1, 2}, {3, 4}}
  eq(t:get(2, 1), 3)
  eq(t:get(-1, -1), 4)
  eq(t:set(10, 1, 2), t)
  eq(t:get(1, 2), 10)
  errors(function() t:get(1) end, "get: 1 indices for a tensor of shape [2x2] (2 needed)")
  errors(function() t:get(1, 3) end, "get: index 3 out of range")
  eq(mgv.tensor(3):get(), 3)
  eq(mgv.tensor{{5}}:item(), 5)
  errors(function() t:item() end, "item: tensor [2x2] has 4 elements, not 1")
  local tt = t:totable()
  eq(tt[1][2], 10)
  eq(tt[2][1], 3)
  eq(mgv.tensor(1.5):totable(), 1.5)
  eq(#mgv.zeros(0):totable(), 0)
  -- totable follows strides
  local tr = mgv.tensor{{1, 2}, {3, 4}}:transpose():totable()
  eq(tr[1][2], 3)
end)

test("clone detach", function()
  local a = mgv.tensor{1, 2}
  local b = a:clone()
  b[1] = 9
  eq(a[1], 1)
  local w = mgv.ones(2):requires_grad_()
  local c = w:clone()
  eq(c.requires_grad, true)
  c:sum():backward()
  values(w.grad, {1, 1}, 0)
  local d = w:detach()
  eq(d.requires_grad, false)
  mgv.no_grad(function() d[1] = 3 end)
  eq(w[1], 3, "detach shares storage")
end)

test("__close and free", function()
  collectgarbage()
  collectgarbage()
  local before = mgv.memory()
  do
    local big <close> = mgv.zeros(1000, 1000)
    check(mgv.memory() >= before + 4e6, "allocated")
  end
  check(mgv.memory() < before + 4e6, "closed at end of scope")
  local t = mgv.zeros(10)
  t:free()
  t:free()   -- idempotent
  errors(function() return t + 1 end, "tensor has been freed")
  errors(function() return t:sum() end, "tensor has been freed")
  errors(function() return t[1] end, "tensor has been freed")
  eq(tostring(t), "tensor(<freed>)")
end)

test("printing small tensors", function()
  eq(tostring(mgv.tensor{{1, 2}, {3, 4}}), "tensor([[1, 2],\n        [3, 4]], shape=[2x2])")
  eq(tostring(mgv.tensor{1.5, -2}), "tensor([ 1.5000, -2.0000], shape=[2])")
  eq(tostring(mgv.tensor(3)), "tensor(3, shape=[])")
  eq(tostring(mgv.zeros(0, 3)), "tensor([], shape=[0x3])")
  eq(tostring(mgv.tensor{1e-6, 1}), "tensor([1.0000e-06, 1.0000e+00], shape=[2])")
  eq(tostring(mgv.tensor{0, 1}:log()), "tensor([-inf,    0], shape=[2])")
  local w = mgv.ones(2):requires_grad_()
  eq(tostring(w), "tensor([1, 1], shape=[2], requires_grad=true)")
  eq(tostring(w * 2), "tensor([2, 2], shape=[2], grad_fn=<scale>)")
  eq(tostring(mgv.arange(24):reshape(2, 3, 4)),
    "tensor([[[ 0,  1,  2,  3],\n" ..
    "         [ 4,  5,  6,  7],\n" ..
    "         [ 8,  9, 10, 11]],\n\n" ..
    "        [[12, 13, 14, 15],\n" ..
    "         [16, 17, 18, 19],\n" ..
    "         [20, 21, 22, 23]]], shape=[2x3x4])")
  local nan = mgv.tensor{0, 1} / 0
  check(tostring(nan):find("nan", 1, true) and tostring(nan):find("inf", 1, true))
end)

test("printing large tensors is summarised", function()
  local s = tostring(mgv.randn(1000, 1000))
  local lines = select(2, s:gsub("\n", "\n")) + 1
  check(lines < 30, "lines: " .. lines)
  check(#s < 3000, "chars: " .. #s)
  check(s:find("...", 1, true) and s:find("shape=[1000x1000]", 1, true))
  local v = tostring(mgv.arange(100000))
  eq(v, "tensor([    0,     1,     2, ..., 99997, 99998, 99999], shape=[100000])")
  local s3 = tostring(mgv.zeros(50, 50, 50))
  check(#s3 < 2000 and s3:find("shape=[50x50x50]", 1, true))
  -- at the threshold (1000 elements) everything is printed, wrapped to 80 columns
  local full = tostring(mgv.arange(1000))
  check(full:find("999", 1, true) and not full:find("...", 1, true))
  for line in full:gmatch("[^\n]+") do check(#line <= 80, "line width " .. #line) end
  local old = mgv.set_printoptions{precision = 2}
  eq(tostring(mgv.tensor{math.pi}), "tensor([3.14], shape=[1])")
  mgv.set_printoptions(old)
  eq(tostring(mgv.tensor{math.pi}), "tensor([3.1416], shape=[1])")
end)

H.done()
