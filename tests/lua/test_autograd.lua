-- test_autograd.lua — gradients through the Lua API: backward, .grad,
-- requires_grad, retain_grad, no_grad, grad_enabled, in-place rules, and a
-- linear regression trained with Adam compared against Adam written here in
-- plain Lua (doubles) on the same data.
local H = dofile((arg and arg[0] and arg[0]:match("^(.*/)") or
  (os.getenv("MGV_ROOT") or ".") .. "/tests/lua/") .. "harness.lua")
local test, eq, near, values, errors, check = H.test, H.eq, H.near, H.values, H.errors, H.check
local T = mgv.tensor

test("backward of a scalar, accumulation, zero_grad", function()
  local w = T{1, 2}:requires_grad_()
  eq(w.requires_grad, true)
  eq(w.is_leaf, true)
  eq(w.grad, nil)
  ;(w * w):sum():backward()
  values(w.grad, {2, 4}, 0)
  ;(w * w):sum():backward()
  values(w.grad, {4, 8}, 0, {2})
  eq(w:zero_grad(), w)
  eq(w.grad, nil)
  ;(w * 3):sum():backward()
  values(w.grad, {3, 3}, 0)
  w.grad = nil
  eq(w.grad, nil)
  w.grad = T{7, 7}
  values(w.grad, {7, 7}, 0)
  errors(function() w.grad = T{1, 2, 3} end, "grad: gradient [3] does not match tensor [2]")
end)

test("backward with an explicit gradient", function()
  local w = T{1, 2}:requires_grad_()
  local y = w * 3
  y:backward(T{1, 2})
  values(w.grad, {3, 6}, 0)
  w:zero_grad()
  ;(w * 3):backward(2)
  values(w.grad, {6, 6}, 0)
  errors(function() (w * 3):backward() end, "backward: tensor [2] is not a scalar")
  errors(function() (w * 3):backward(T{1, 2, 3}) end, "backward: gradient [3] does not match tensor [2]")
end)

test("gradients through metamethods with numbers on either side", function()
  local w = T{1, 2, 4}:requires_grad_()
  ;(2 - w):sum():backward()
  values(w.grad, {-1, -1, -1}, 0)
  w:zero_grad()
  ;(1 / w):sum():backward()
  values(w.grad, {-1, -0.25, -1 / 16}, 1e-6)
  w:zero_grad()
  ;(w / 2 + 1):sum():backward()
  values(w.grad, {0.5, 0.5, 0.5}, 0)
  w:zero_grad()
  ;(w ^ 3):sum():backward()
  values(w.grad, {3, 12, 48}, 1e-5)
  w:zero_grad()
  ;(-w):sum():backward()
  values(w.grad, {-1, -1, -1}, 0)
end)

test("gradients through views, matmul, cross_entropy", function()
  local w = mgv.zeros(2, 2):requires_grad_()
  w[1]:sum():backward()
  values(w.grad, {{1, 1}, {0, 0}}, 0)
  -- d/dA sum(A B) = 1 B^T
  local A = T{{1, 2}, {3, 4}}:requires_grad_()
  local B = T{{5, 6}, {7, 8}}
  A:matmul(B):sum():backward()
  values(A.grad, {{11, 15}, {11, 15}}, 0)
  -- d CE / d logits = (softmax - onehot) / N
  local z = mgv.zeros(2, 4):requires_grad_()
  mgv.cross_entropy(z, {1, 3}):backward()
  values(z.grad, {{(0.25 - 1) / 2, 0.125, 0.125, 0.125}, {0.125, 0.125, (0.25 - 1) / 2, 0.125}}, 1e-6)
  -- embedding scatter-adds
  local E = mgv.zeros(3, 2):requires_grad_()
  mgv.embedding(E, {2, 2, 3}):sum():backward()
  values(E.grad, {{0, 0}, {2, 2}, {1, 1}}, 0)
  -- clone is differentiable
  local c = T{1, 2}:requires_grad_()
  c:clone():mul(T{3, 4}):sum():backward()
  values(c.grad, {3, 4}, 0)
end)

test("backward twice is an error", function()
  local w = T{1}:requires_grad_()
  local loss = (w * 2):sum()
  loss:backward()
  errors(function() loss:backward() end, "backward: the graph behind this tensor was already freed")
  errors(function() T{1}:sum():backward() end, "backward: the tensor does not require grad")
end)

test("retain_grad grad_fn is_leaf", function()
  local w = T{1, 2}:requires_grad_()
  local h = (w * 2):retain_grad()
  local k = w * 2
  eq(h.grad_fn ~= nil, true)
  eq(h.is_leaf, false)
  eq(w.grad_fn, nil)
  ;(h + k):sum():backward()
  values(h.grad, {1, 1}, 0)
  eq(k.grad, nil)
  values(w.grad, {4, 4}, 0)
end)

test("requires_grad field and method", function()
  local t = mgv.zeros(2)
  eq(t.requires_grad, false)
  t.requires_grad = true
  eq(t.requires_grad, true)
  t.requires_grad = false
  eq(t.requires_grad, false)
  eq(t:requires_grad_(), t)
  eq(t.requires_grad, true)
  t:requires_grad_(false)
  eq(t.requires_grad, false)
  local w = mgv.randn(3, 4):requires_grad_()
  errors(function() (w * 2):requires_grad_() end, "requires_grad: only leaf tensors")
  errors(function() local y = w * 2; y.requires_grad = false end, "only leaf tensors")
end)

test("in-place changes of parameters need no_grad", function()
  local w = mgv.ones(2):requires_grad_()
  errors(function() w[1] = 5 end, "assignment: the tensor requires grad")
  errors(function() w:fill(0) end, "fill: the tensor requires grad")
  errors(function() w:set(1, 1) end, "set: the tensor requires grad")
  errors(function() w:copy(T{1, 2}) end, "copy: the tensor requires grad")
  errors(function() w:uniform_() end, "uniform_: the tensor requires grad")
  mgv.no_grad(function()
    w[1] = 5
    w:set(6, 2)
  end)
  values(w, {5, 6}, 0)
  w:detach():fill(2)
  values(w, {2, 2}, 0)
end)

test("no_grad and grad_enabled", function()
  local w = mgv.ones(2):requires_grad_()
  local y, extra = mgv.no_grad(function(a, b) return w * a, b end, 2, "x")
  eq(y.requires_grad, false)
  eq(extra, "x")
  values(y, {2, 2}, 0)
  eq(mgv.grad_enabled(), true)
  local ok, err = pcall(mgv.no_grad, function() error("boom") end)
  eq(ok, false)
  check(tostring(err):find("boom", 1, true))
  eq(mgv.grad_enabled(), true, "restored after an error")
  eq(mgv.grad_enabled(false), true)
  eq(mgv.grad_enabled(), false)
  eq((w * 2).requires_grad, false)
  eq(mgv.grad_enabled(true), false)
  eq((w * 2).requires_grad, true)
  -- nested
  mgv.no_grad(function()
    mgv.no_grad(function() end)
    eq(mgv.grad_enabled(), false)
  end)
  errors(function() mgv.no_grad(5) end, "bad argument #1 to 'no_grad'")
end)

-- Same data for the engine and the reference: y = X w* + b*.
local N, D = 32, 3
local w_true, b_true = {2, -3, 0.5}, 1
local function data()
  local X, y = {}, {}
  for i = 1, N do
    X[i] = {}
    local s = b_true
    for j = 1, D do
      X[i][j] = math.sin(i * (0.37 + 0.61 * j) + j) * 2
      s = s + w_true[j] * X[i][j]
    end
    y[i] = s
  end
  return X, y
end

-- Adam in plain Lua on the same model (W [1 x D], b [1]), torch's formulas.
local function reference_adam(X, y, steps, lr)
  local p = {}
  for j = 1, D + 1 do p[j] = 0 end
  local m, v = {}, {}
  for j = 1, D + 1 do m[j], v[j] = 0, 0 end
  local b1, b2, eps = 0.9, 0.999, 1e-8
  local loss
  for t = 1, steps do
    local g = {}
    for j = 1, D + 1 do g[j] = 0 end
    loss = 0
    for i = 1, N do
      local r = p[D + 1] - y[i]
      for j = 1, D do r = r + p[j] * X[i][j] end
      loss = loss + r * r / N
      for j = 1, D do g[j] = g[j] + 2 * r * X[i][j] / N end
      g[D + 1] = g[D + 1] + 2 * r / N
    end
    for j = 1, D + 1 do
      m[j] = b1 * m[j] + (1 - b1) * g[j]
      v[j] = b2 * v[j] + (1 - b2) * g[j] * g[j]
      local mh, vh = m[j] / (1 - b1 ^ t), v[j] / (1 - b2 ^ t)
      p[j] = p[j] - lr * mh / (math.sqrt(vh) + eps)
    end
  end
  return p, loss
end

test("linear regression with Adam matches a plain-Lua Adam", function()
  local Xt, yt = data()
  local X, y = T(Xt), T(yt):reshape(N, 1)
  local W = mgv.zeros(1, D):requires_grad_()
  local b = mgv.zeros(1):requires_grad_()
  local opt = mgv.optim.adam({W, b}, {lr = 0.1})
  local steps, loss = 400
  for _ = 1, steps do
    opt:zero_grad()
    local pred = X:linear(W, b)
    loss = ((pred - y) ^ 2):mean()
    loss:backward()
    opt:step()
  end
  local p, ref_loss = reference_adam(Xt, yt, steps, 0.1)
  for j = 1, D do near(W:get(1, j), p[j], 1e-3, "W[" .. j .. "]") end
  near(b:item(), p[D + 1], 1e-3, "b")
  near(loss:item(), ref_loss, 1e-3)
  -- and it learned the truth
  for j = 1, D do near(W:get(1, j), w_true[j], 0.05) end
  check(loss:item() < 1e-2, "loss " .. loss:item())
  eq(opt.steps, steps)
end)

H.done()
