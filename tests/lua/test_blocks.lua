-- test_blocks.lua — the building blocks (mgv.nn.vib_moe, mgv.vmoe_experts,
-- mgv.vat.*): values against their formulas, gradients against central
-- finite differences, the routing interventions of a model, and the Lua head
-- of examples/custom_moe.lua against the C head (same weights, evaluation
-- mode: no expert noise, no dropout).
local H = dofile((arg and arg[0] and arg[0]:match("^(.*/)") or
  (os.getenv("MGV_ROOT") or ".") .. "/tests/lua/") .. "harness.lua")
local test, eq, near, values, errors, check = H.test, H.eq, H.near, H.values, H.errors, H.check
local T = mgv.tensor
local ROOT = (arg and arg[0] and arg[0]:match("^(.*/)tests/lua/") or (os.getenv("MGV_ROOT") or ".") .. "/")

-- Central differences of f() (a 0-d tensor) in every entry of x against
-- x.grad from backward; inputs are small, so every entry is checked.
local function gradcheck(f, xs, tol)
  for _, x in ipairs(xs) do x:zero_grad() end
  f():backward()
  for n, x in ipairs(xs) do
    local g = x.grad
    check(g, "input " .. n .. " got no gradient")
    local flat, gflat = x:view(-1), g:reshape(-1)
    for i = 1, #flat do
      local v = flat:get(i)
      local h = 1e-2 * math.max(1, math.abs(v))
      local fp, fm = mgv.no_grad(function()
        flat[i] = v + h
        local a = f():item()
        flat[i] = v - h
        local b = f():item()
        flat[i] = v
        return a, b
      end)
      local num, ana = (fp - fm) / (2 * h), gflat:get(i)
      check(math.abs(num - ana) <= (tol or 2e-2) * math.max(1, math.abs(num)),
            string.format("input %d entry %d: analytic %.6g, numeric %.6g", n, i, ana, num))
    end
  end
end

local function leaf(t) return t:requires_grad_() end
local function maxabs(t) return mgv.no_grad(function() return math.sqrt((t * t):max():item()) end) end

test("vat.graph is (cos + 1) / 2 of the rows", function()
  local G = mgv.vat.graph(T{{1, 0}, {0, 2}, {1, 1}})
  local c = (1 / math.sqrt(2) + 1) / 2
  values(G, {{1, 0.5, c}, {0.5, 1, c}, {c, c, 1}}, 1e-6, {3, 3})
  errors(function() return mgv.vat.graph(mgv.zeros(3)) end, "vat.graph: node vectors [3], expected [B x D]")
end)

test("vat.probs and vat.loss follow their formulas", function()
  mgv.seed(3)
  local g, G, r = mgv.randn(4, 3), mgv.rand(4, 4), mgv.randn(1, 3) * 0.3
  local function probs(x)
    local a = (x * G:matmul(x)):sum(2, true)
    local b = (x * (1 - G):matmul(x)):sum(2, true)
    return mgv.cat({ a, b }, 2):softmax(2)
  end
  local p, q = mgv.vat.probs(g, G), mgv.vat.probs(g, G, r)
  values(p, probs(g):totable(), 1e-5, {4, 2})
  values(q, probs(g + r):totable(), 1e-5, {4, 2})
  local kl = (p * (p:log() - q:log())):sum(2):mean():item()
  near(mgv.vat.loss(g, G, r):item(), kl, 1e-5)
  errors(function() return mgv.vat.probs(g, mgv.rand(3, 3)) end, "does not fit node vectors")
  errors(function() return mgv.vat.loss(g, G, mgv.zeros(1, 2)) end, "perturbation [1x2] does not fit")
end)

test("vat.graph, vat.probs and vat.loss gradients match finite differences", function()
  mgv.seed(4)
  local g, W = leaf(mgv.randn(4, 3)), mgv.randn(4, 4)
  gradcheck(function() return (mgv.vat.graph(g) * W):sum() end, { g })
  local G, r, V = leaf(mgv.rand(4, 4)), leaf(mgv.randn(1, 3) * 0.5), mgv.randn(4, 2)
  local g2 = leaf(mgv.randn(4, 3) * 0.5)
  gradcheck(function() return (mgv.vat.probs(g2, G, r) * V):sum() end, { g2, G, r })
  gradcheck(function() return mgv.vat.loss(g2, G, r) end, { g2, G, r })
  -- through the graph of the nodes themselves, as the head uses it
  gradcheck(function() return mgv.vat.loss(g2, mgv.vat.graph(g2), r) end, { g2, r })
end)

test("vat.perturbation steps on -L_mg + |r| and vat.power has norm eps", function()
  mgv.seed(5)
  local g = mgv.randn(5, 4)
  local G = mgv.vat.graph(g)
  local p = mgv.vat.perturbation{ dim = 4, lr = 0.01 }
  eq(tostring(p), "MG-VAT perturbation: [1 x 4], Adam lr 0.01")
  local r0 = p.r:clone():detach()
  local want = r0:reshape(-1):l2_norm(1):item() - mgv.vat.loss(g, G, r0):item()
  near(p:step(g, G), want, 1e-5)
  -- Adam's first step moves every entry by lr against its gradient's sign
  for j = 1, 4 do near(math.abs(p.r:get(1, j) - r0:get(1, j)), 0.01, 1e-4) end
  check(p.r.grad == nil, "the step leaves no gradient behind")
  local ra = mgv.vat.power(g, G, { xi = 0.1, eps = 0.5, iters = 2 })
  eq(ra.requires_grad, false)
  for i = 1, 5 do near(ra[i]:l2_norm(1):item(), 0.5, 1e-5) end
  errors(function() return mgv.vat.power(g, G, { iters = 0 }) end, "iters 0 must be at least 1")
  errors(function() return mgv.vat.power(g, G, { step = 1 }) end, "unknown option 'step'")
  errors(function() return mgv.vat.perturbation{ dim = 0 } end, "dim must be a positive integer")
end)

test("nn.vib_moe: gates, output, kl and entropy from the experts' views", function()
  mgv.seed(6)
  local moe = mgv.nn.vib_moe{ dim = 3, experts = 2 }
  eq(tostring(moe), "VIB-MoE layer: dim 3, 2 experts")
  local names = {}
  for k in pairs(moe:parameters()) do names[#names + 1] = k end
  table.sort(names)
  eq(table.concat(names, " "), "gate.bias gate.weight logvar.bias logvar.weight mu.bias mu.weight")
  local x, mask = mgv.randn(2, 4, 3), T{{1, 1, 1, 0}, {1, 1, 0, 0}}
  local o, info = moe:forward(x, mask)
  eq(table.concat(o:shape(), "x"), "2x4x3")
  eq(table.concat(info.gates:shape(), "x"), "2x4x2")
  local P = moe:parameters()
  local gates = x:linear(P["gate.weight"], P["gate.bias"]):softmax(-1)
  values(info.gates, gates:totable(), 1e-6, {2, 4, 2})
  local want, kl = 0, 0
  for k = 1, 2 do
    local e = moe.experts[k]
    local mu = x:linear(e.mu.weight, e.mu.bias)
    local lv = x:linear(e.logvar.weight, e.logvar.bias)
    want = want + gates:slice(3, k, k) * mu
    kl = kl + mgv.gaussian_kl(mu, lv, 1)
  end
  values(o, want:totable(), 1e-5, {2, 4, 3})
  near(info.kl:item(), ((kl * mask):sum() / mask:sum()):item(), 1e-5)
  local ent = -(gates * gates:log()):sum(3)
  near(info.entropy:item(), ((ent * mask):sum() / mask:sum()):item(), 1e-5)
  -- the views share the weights
  mgv.no_grad(function() P["mu.bias"][4] = 7 end)
  eq(moe.experts[2].mu.bias:get(1), 7)
  errors(function() return moe:forward(mgv.randn(2, 4)) end, "x must be a tensor [..., 3]")
  errors(function() return mgv.nn.vib_moe{ dim = 3 } end, "experts must be a positive integer")
  errors(function() return mgv.nn.vib_moe{ dim = 3, experts = 2, k = 1 } end, "unknown option 'k'")
end)

test("nn.vib_moe gradients in x and its weights match finite differences", function()
  mgv.seed(7)
  local moe = mgv.nn.vib_moe{ dim = 3, experts = 2 }
  local P = moe:parameters()
  local x, mask, W = leaf(mgv.randn(2, 3, 3)), T{{1, 1, 0}, {1, 1, 1}}, mgv.randn(2, 3, 3)
  local function f()
    local o, info = moe:forward(x, mask)
    return (o * W):sum() + info.kl * 0.1 + info.entropy
  end
  gradcheck(f, { x, P["gate.weight"], P["gate.bias"], P["mu.weight"], P["mu.bias"],
                 P["logvar.weight"], P["logvar.bias"] })
end)

test("nn.vib_moe with sampling draws noise; route replaces the softmax", function()
  mgv.seed(8)
  local moe = mgv.nn.vib_moe{ dim = 3, experts = 2, sample = true }
  local x = mgv.randn(4, 3)
  local a, b = moe:forward(x), moe:forward(x)
  check(maxabs(a - b) > 1e-4, "two samples differ")
  local top1 = mgv.nn.vib_moe{ dim = 3, experts = 2, route = function(l)
    return mgv.no_grad(function()
      local g = mgv.zeros(table.unpack(l:shape()))
      for i = 1, #l do g[i][l[i]:get(1) >= l[i]:get(2) and 1 or 2] = 1 end
      return g
    end)
  end }
  local _, info = top1:forward(x)
  for i = 1, 4 do near(info.gates[i]:max():item(), 1, 0) end
  near(info.entropy:item(), 0, 1e-6)
end)

-- a small default model on a small synthetic task (shared by the tests below)
local task = mgv.data.synth{ per_class = 12, seed = 1 }
local model = mgv.model{ words = task.words, seed = 1 }
local sampler = mgv.sampler(task.train, 1)
for _ = 1, 5 do model:train_step(task.train, sampler:next(16)) end

test("disabling an expert zeroes its gates, renormalises the rest and changes the scores", function()
  local idx = {1, 2, 3, 4, 5, 6}
  local full = model:forward(task.test, idx)
  local off = model:forward(task.test, idx, { disable_experts = {2} })
  for _, key in ipairs({ "gate_text", "gate_image" }) do
    eq(maxabs(off[key]:select(-1, 2)), 0)
    local g = full[key]
    local keep = mgv.cat({ g:slice(-1, 1, 1), g:slice(-1, 3, 4) }, -1)
    local want = keep / keep:sum(-1, true)
    local got = mgv.cat({ off[key]:slice(-1, 1, 1), off[key]:slice(-1, 3, 4) }, -1)
    values(got, want:totable(), 1e-5, want:shape())
  end
  check(maxabs(full.scores - off.scores) > 1e-4, "the scores change")
  check(off.loss and off.loss:item() == off.loss:item(), "the loss stays a number")
  local u = model:forward(task.test, idx, { gates = "uniform" })
  values(u.gate_text[1][1], {0.25, 0.25, 0.25, 0.25}, 0)
  local forced = model:forward(task.test, idx, { gates = T{1, 0, 0, 0} })
  eq(-(-forced.gate_image:select(-1, 1)):max():item(), 1)
  -- predictions and mgv.evaluate take the same options; nothing sticks
  local m_all = mgv.evaluate(model, task.test)
  local m_off = mgv.evaluate(model, task.test, { disable_experts = {2} })
  local differ = 0
  for i = 1, #m_all.pred do differ = differ + (m_all.pred[i] ~= m_off.pred[i] and 1 or 0) end
  check(differ > 0, "some prediction changes")
  eq(mgv.evaluate(model, task.test).macro_f1, m_all.macro_f1)
  errors(function() return model:forward(task.test, idx, { disable_experts = {1, 2, 3, 4} }) end,
         "disable_experts leaves no expert")
  errors(function() return model:forward(task.test, idx, { disable_experts = {5} }) end,
         "disable_experts[1] is 5, not an expert number in 1..4")
  errors(function() return model:predict(task.test, { gates = "top" }) end,
         "gates must be 'uniform' or a tensor")
  errors(function() return model:forward(task.test, idx, { gates = T{1, 0, 0} }) end, "got [3]")
  errors(function() return model:forward(task.test, idx, { gates = T{-1, 1, 1, 1} }) end, ">= 0")
  errors(function() return model:forward(task.test, idx, { gates = "uniform", disable_experts = {1} }) end,
         "not both")
end)

test("the Lua head of examples/custom_moe.lua agrees with the C head to 1e-5", function()
  local lib = assert(loadfile(ROOT .. "examples/custom_moe.lua"))("library")
  local idx = {1, 4, 7, 10, 13, 16, 19, 22}
  -- evaluation mode (training = false): no expert noise, no dropout
  local c = model:forward(task.train, idx, { inputs = true, grads = true })
  local x = {}
  for k, v in pairs(c.inputs) do x[k] = v:detach() end
  local head = lib.head(lib.config(model, x))
  head:load(model:parameters())
  local lua = head:forward(x, lib.targets(task.train, idx))
  lua.loss:backward()
  values(lua.scores, c.scores:totable(), 1e-5, c.scores:shape())
  for _, k in ipairs({ "loss", "rank", "vmoe", "nce", "mg" }) do
    near(lua[k]:item(), c[k]:item(), 1e-5, k)
  end
  values(lua.G, c.graph:totable(), 1e-5, c.graph:shape())
  local n = 0
  for name, p in pairs(head:parameters()) do
    local gc, gl = c.grads[name], p.grad
    check(gc and gl, name .. ": a gradient on both sides")
    local diff = maxabs(gc - gl)
    check(diff <= 1e-5, string.format("%s: gradients differ by %.3g", name, diff))
    n = n + 1
  end
  eq(n, 13)
  check(maxabs(c.grads["vmoe.mu.weight"]) > 1e-3, "the gradients are not all zero")
  -- model:forward with grads leaves no gradient on the model
  for name, p in pairs(model:parameters()) do check(p.grad == nil, name .. " kept a gradient") end
end)

H.done()
