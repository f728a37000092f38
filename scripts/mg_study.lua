-- mg_study.lua — looks inside MG-VAT and the VIB-MoE while the main job's
-- synthetic-set model trains (the same data, model options, epochs and
-- selection as `examples/zeroshot.lua --task synth`):
--
--   bin/mgv scripts/mg_study.lua [--seeds "0 1 2 3 4"] [--vmoe-weight W]
--       [--experts K] [--mg-update after|reference] [--json FILE]
--
-- After each epoch, on 8 fixed training batches of 16 (no dropout, no noise:
-- model:forward), it measures |r|, the mean |g_i| of the graph's nodes, the
-- spread of the off-diagonal entries of G, the logit gap
-- <g, G g> - <g, (1 - G) g> of p (log p1 - log p2), L_mg, and L_mg had r
-- its direction but length 1; the training
-- L_mg is the epoch's mean. After training (best epoch restored) it prints
-- mgv.routing_stats on the validation and test classes (and on the test
-- classes before training), and val/test macro-F1.
local o = { seeds = "0 1 2 3 4", ["mg-update"] = "after" }
local i = 1
while i <= #arg do
  local k = arg[i]:match("^%-%-([%w%-]+)$")
  if not k or arg[i + 1] == nil then error("bad argument " .. arg[i]) end
  o[k] = arg[i + 1]
  i = i + 2
end
local function num(x) return x and assert(tonumber(x), "a number expected") end
local function mean(t) local s = 0 for _, v in ipairs(t) do s = s + v end return s / #t end
local function std(t)
  local m, q = mean(t), 0
  for _, v in ipairs(t) do q = q + (v - m) ^ 2 end
  return #t > 1 and math.sqrt(q / (#t - 1)) or 0
end
local function norm(rows)
  local s = 0
  for _, v in ipairs(rows) do
    if type(v) == "table" then for _, x in ipairs(v) do s = s + x * x end else s = s + v * v end
  end
  return math.sqrt(s)
end

local all = {}
for seed in o.seeds:gmatch("%d+") do
  seed = tonumber(seed)
  local task = mgv.data.synth{ seed = seed }
  local model = mgv.model{ task = "met", images = true, seed = seed, words = task.words,
    vmoe_weight = num(o["vmoe-weight"]), experts = num(o.experts) and math.tointeger(num(o.experts)),
    mg_update = o["mg-update"] }
  -- 8 fixed batches of 16 training instances, spread over the split
  local batches, n = {}, #task.train
  for b = 0, 7 do
    local idx = {}
    for j = 0, 15 do idx[#idx + 1] = (b * 16 + j) * 7919 % n + 1 end
    batches[#batches + 1] = idx
  end
  local epochs = {}
  local function measure(info)
    local gn, goff, gap, mg, pmax, mg1 = {}, {}, {}, {}, {}, {}
    for _, idx in ipairs(batches) do
      local out = model:forward(task.train, idx, { training = false })
      local g, G = out.g:totable(), out.graph:totable()
      for _, row in ipairs(g) do gn[#gn + 1] = norm(row) end
      for a, row in ipairs(G) do
        -- p's logits <g_a, G g>_a and <g_a, (1 - G) g>_a (p itself rounds to 0 and 1)
        local qa, qb = 0, 0
        for b, x in ipairs(row) do
          if a ~= b then goff[#goff + 1] = x end
          local dot = 0
          for k, v in ipairs(g[a]) do dot = dot + v * g[b][k] end
          qa, qb = qa + x * dot, qb + (1 - x) * dot
        end
        gap[#gap + 1] = qa - qb
      end
      for _, p in ipairs(out.p:totable()) do pmax[#pmax + 1] = math.max(p[1], p[2]) end
      mg[#mg + 1] = out.mg:item()
    end
    -- L_mg had r the same direction but length 1 (the learned r scaled up)
    local r = model:parameters()["vat.r"]
    local saved, rn = r:clone(), norm(r:totable())
    mgv.no_grad(function() r:copy(saved:scale(1 / math.max(rn, 1e-12))) end)
    for _, idx in ipairs(batches) do
      mg1[#mg1 + 1] = model:forward(task.train, idx, { training = false }).mg:item()
    end
    mgv.no_grad(function() r:copy(saved) end)
    local lo, hi = math.huge, -math.huge
    for _, x in ipairs(goff) do lo, hi = math.min(lo, x), math.max(hi, x) end
    local e = { epoch = info and info.epoch or 0, r = norm(model:parameters()["vat.r"]:totable()),
      g = mean(gn), G_mean = mean(goff), G_std = std(goff), G_min = lo, G_max = hi,
      gap = mean(gap), gap_std = std(gap), p_max = mean(pmax), mg = mean(mg), mg1 = mean(mg1),
      mg_train = info and info.train.mg, val = info and info.val_macro_f1 }
    epochs[#epochs + 1] = e
  end
  measure(nil)
  local r0 = mgv.routing_stats(model, task.test)   -- the untrained router, for comparison
  local t0 = mgv.clock()
  local result = mgv.train(model, task, { epochs = 15, patience = 5, batch = 16, seed = seed,
    quiet = true, on_epoch = measure })
  local test = mgv.evaluate(model, task.test, { label = "test" })
  local rv, rt = mgv.routing_stats(model, task.val), mgv.routing_stats(model, task.test)
  print(string.format("\nseed %d: best epoch %d, val macro-F1 %.4f, test macro-F1 %.4f (%.1f s)", seed,
    result.best_epoch, result.val_macro_f1, test.macro_f1, mgv.clock() - t0))
  print("epoch   |r|   mean|g_i|  G off-diag mean  std    min    max   logit gap (mean ± std)  max p  L_mg(eval)  L_mg(|r|=1)  L_mg(train)  val")
  for _, e in ipairs(epochs) do
    print(string.format("%5d  %.4f  %8.3f  %15.4f  %.4f  %.4f  %.4f  %10.2f ± %-8.2f  %.4f  %10.2e  %11.2e  %11s  %s", e.epoch,
      e.r, e.g, e.G_mean, e.G_std, e.G_min, e.G_max, e.gap, e.gap_std, e.p_max, e.mg, e.mg1,
      e.mg_train and string.format("%.2e", e.mg_train) or "-", e.val and string.format("%.4f", e.val) or "-"))
  end
  print("routing on the test classes:")
  print(rt)
  all[#all + 1] = { seed = seed, val = result.val_macro_f1, test = test.macro_f1, epochs = epochs,
    best_epoch = result.best_epoch,
    routing = { untrained = { text = { entropy = r0.text.entropy, mi = r0.text.mi },
                              image = { entropy = r0.image.entropy, mi = r0.image.mi } }, val = { text = { entropy = rv.text.entropy, mi = rv.text.mi },
                        image = { entropy = rv.image.entropy, mi = rv.image.mi } },
                test = { text = { entropy = rt.text.entropy, mi = rt.text.mi, usage = rt.text.usage },
                         image = { entropy = rt.image.entropy, mi = rt.image.mi, usage = rt.image.usage } } } }
end

-- the summary over seeds: mean ± std
local function ms(f)
  local t = {}
  for _, r in ipairs(all) do t[#t + 1] = f(r) end
  return string.format("%.3g ± %.2g", mean(t), std(t))
end
local function at_best(r) return r.epochs[r.best_epoch + 1] end
print(string.format("\nsummary over %d seeds (vmoe_weight %s, experts %s, mg_update %s):", #all,
  o["vmoe-weight"] or "default", o.experts or "default", o["mg-update"]))
print("val macro-F1 " .. ms(function(r) return r.val end) .. ", test macro-F1 " .. ms(function(r) return r.test end))
print("at the best epoch: |r| " .. ms(function(r) return at_best(r).r end) ..
  ", mean |g_i| " .. ms(function(r) return at_best(r).g end) ..
  ", G off-diag mean " .. ms(function(r) return at_best(r).G_mean end) ..
  " std " .. ms(function(r) return at_best(r).G_std end) ..
  ", |logit gap| " .. ms(function(r) return math.abs(at_best(r).gap) end) ..
  ", max p " .. ms(function(r) return at_best(r).p_max end) ..
  ", L_mg at |r| 1 " .. ms(function(r) return at_best(r).mg1 end) ..
  ", L_mg eval " .. ms(function(r) return at_best(r).mg end) ..
  ", L_mg train " .. ms(function(r) return at_best(r).mg_train or 0 end))
print("routing, test classes: text entropy " .. ms(function(r) return r.routing.test.text.entropy end) ..
  ", text MI " .. ms(function(r) return r.routing.test.text.mi end) ..
  ", image entropy " .. ms(function(r) return r.routing.test.image.entropy end) ..
  ", image MI " .. ms(function(r) return r.routing.test.image.mi end))
print("routing before training, test classes: text entropy " .. ms(function(r) return r.routing.untrained.text.entropy end) ..
  ", text MI " .. ms(function(r) return r.routing.untrained.text.mi end) ..
  ", image entropy " .. ms(function(r) return r.routing.untrained.image.entropy end) ..
  ", image MI " .. ms(function(r) return r.routing.untrained.image.mi end))
print("routing, validation classes: text entropy " .. ms(function(r) return r.routing.val.text.entropy end) ..
  ", text MI " .. ms(function(r) return r.routing.val.text.mi end) ..
  ", image entropy " .. ms(function(r) return r.routing.val.image.entropy end) ..
  ", image MI " .. ms(function(r) return r.routing.val.image.mi end))
if o.json then
  local f = assert(io.open(o.json, "w"))
  f:write(mgv.json.encode(all), "\n")
  f:close()
end
