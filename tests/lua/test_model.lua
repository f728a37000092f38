-- test_model.lua — MG-VMoE from Lua: data sets, the model object, a training
-- step, prediction, inspection tensors, checkpoints, metrics, the sampler,
-- JSON, the training loop, and argument errors.
local H = dofile((arg and arg[0] and arg[0]:match("^(.*/)") or
  (os.getenv("MGV_ROOT") or ".") .. "/tests/lua/") .. "harness.lua")
local test, eq, near, errors, check = H.test, H.eq, H.near, H.errors, H.check

local task = mgv.data.synth{ seed = 1, per_class = 12, classes = 30 }

test("synthetic task: splits, classes, instances", function()
  eq(#task.train, 10 * 12)
  eq(task.train.n_classes, 10)
  eq(#task.val:classes(), 10)
  eq(#task.all, 30 * 12)
  -- splits are disjoint in classes
  local seen = {}
  for _, part in ipairs{ "train", "val", "test" } do
    for _, c in ipairs(task[part]:classes()) do
      check(not seen[c], "class " .. c .. " in two splits")
      seen[c] = true
    end
  end
  local inst = task.train:instance(1)
  eq(#inst.tokens, 10)
  eq(#inst.spans, 1)
  eq(inst.spans[1][1], inst.spans[1][2])       -- one-word mention, inclusive span
  check(inst.label >= 1 and inst.label <= 10)
  eq(inst.class, task.train:classes()[inst.label])
  local img = task.train:image(1)
  eq(table.concat(img:shape(), "x"), "3x16x16")
  eq(task.words:size(2), 100)
  eq(#task.vocab, task.words:size(1))
  local labels = task.train:labels()
  eq(#labels, #task.train)
  errors(function() task.train:instance(0) end, "does not exist")
  errors(function() task.train:instance(#task.train + 1) end, "out of range")
end)

test("synthetic data is seeded", function()
  local a = mgv.data.synth{ seed = 3, per_class = 4 }
  local b = mgv.data.synth{ seed = 3, per_class = 4 }
  eq(table.concat(a.test:classes(), ","), table.concat(b.test:classes(), ","))
  near(((a.words - b.words) * (a.words - b.words)):sum():item(), 0, 1e-12)
  errors(function() mgv.data.synth{ classes = 7 } end, "even")
  errors(function() mgv.data.synth{ colour = "red" } end, "unknown option 'colour'")
end)

local model = mgv.model{ words = task.words, task = "met", hidden = 32, heads = 2, experts = 4,
                         proj = 32, seed = 5 }

test("model object: config, parameters, printing", function()
  local c = model:config()
  eq(c.hidden, 32)
  eq(c.experts, 4)
  eq(c.task, "met")
  eq(c.images, true)
  local p = model:parameters()
  eq(table.concat(p["vmoe.gate.weight"]:shape(), "x"), "4x32")
  eq(table.concat(p["vmoe.mu.weight"]:shape(), "x"), "128x32")
  eq(table.concat(p["vat.r"]:shape(), "x"), "1x64")
  check(p["text.proj.weight"].requires_grad)
  local s = tostring(model)
  check(s:find("MG%-VMoE model"), s)
  check(s:find("experts 4"), s)
  check(s:find("parameters:"), s)
  eq(model.steps, 0)
end)

test("train_step returns the loss terms and counts steps", function()
  local sampler = mgv.sampler(task.train, 0)
  local batch = sampler:next(16)
  eq(#batch, 16)
  -- round-robin over the 10 classes: the first 10 are one of each
  local seen = {}
  for i = 1, 10 do seen[task.train:instance(batch[i]).label] = true end
  local n = 0
  for _ in pairs(seen) do n = n + 1 end
  eq(n, 10)
  local st = model:train_step(task.train, batch)
  for _, k in ipairs{ "loss", "rank", "vmoe", "nce", "mg", "accuracy", "grad_norm" } do
    check(type(st[k]) == "number" and st[k] == st[k], k)
  end
  check(st.loss > 0)
  near(st.loss, st.rank + 1.0 * (model:config().vmoe_weight * st.vmoe + st.nce + st.mg), 1e-4)
  eq(model.steps, 1)
end)

test("predict, forward and inspection tensors", function()
  local pred = model:predict(task.val)
  eq(#pred, #task.val)
  for i = 1, #pred do check(pred[i] >= 1 and pred[i] <= 10) end
  local again = model:predict(task.val, { batch = 7 })
  for i = 1, #pred do eq(again[i], pred[i]) end
  local part = model:predict(task.val, { first = 5, count = 3 })
  eq(#part, 3)
  eq(part[1], pred[5])
  local out = model:forward(task.val, { 1, 2, 3 })
  eq(table.concat(out.scores:shape(), "x"), "3x10")
  eq(out.gate_text:size(1), 3)
  eq(out.gate_text:size(3), 4)
  eq(table.concat(out.graph:shape(), "x"), "3x3")
  eq(table.concat(out.p:shape(), "x"), "3x2")
  eq(table.concat(out.p_tilde:shape(), "x"), "3x2")
  -- gates are distributions over experts; G has ones on its diagonal
  near(out.gate_text[1][1]:sum():item(), 1, 1e-5)
  near(out.graph:get(2, 2), 1, 1e-5)
  -- expert usage per sample: the gates averaged over real tokens
  eq(table.concat(out.usage_text:shape(), "x"), "3x4")
  near(out.usage_text[2]:sum():item(), 1, 1e-5)
  local ntok = #out.tokens[2]
  near(out.usage_text:get(2, 3), out.gate_text[2]:slice(1, 1, ntok):mean(1):get(3), 1e-5)
  eq(table.concat(out.usage_image:shape(), "x"), "3x4")
  eq(#out.tokens, 3)
  eq(out.tokens[1][1], -2)   -- [CLS]
  check(out.loss ~= nil)
end)

test("checkpoint round trip and resume metadata", function()
  local path = os.tmpname()
  model:save(path, { note = "hello" }, true)
  local other = mgv.model{ words = task.words, task = "met", hidden = 32, heads = 2, experts = 4,
                           proj = 32, seed = 99 }
  other:load(path)
  local a, b = model:predict(task.test), other:predict(task.test)
  for i = 1, #a do eq(a[i], b[i]) end
  eq(other.steps, model.steps)
  local _, meta = mgv.load(path)
  eq(meta.note, "hello")
  eq(meta.format, "mgv-mgvmoe-1")
  local wrong = mgv.model{ words = task.words, task = "met", hidden = 16, heads = 2, experts = 4,
                           proj = 32 }
  errors(function() wrong:load(path) end, "in the checkpoint")
  errors(function() model:load("/nonexistent/x.safetensors") end, "nonexistent")
  os.remove(path)
end)

test("metrics as sklearn", function()
  -- gold 1 1 2 2 3, pred 1 2 2 2 1: P = (1/2, 2/3, 0), R = (1/2, 1, 0)
  local m = mgv.metrics({ 1, 1, 2, 2, 3 }, { 1, 2, 2, 2, 1 }, { "a", "b", "c" })
  near(m.macro_p, (0.5 + 2 / 3 + 0) / 3, 1e-9)
  near(m.macro_r, (0.5 + 1 + 0) / 3, 1e-9)
  near(m.macro_f1, (0.5 + 0.8 + 0) / 3, 1e-9)
  near(m.micro_f1, 3 / 5, 1e-9)
  eq(m.per_class[2].name, "b")
  eq(m.per_class[2].support, 2)
  check(m.table:find("macro avg"))
  errors(function() mgv.metrics({ 1, 2 }, { 1 }) end, "2 gold labels but 1 predictions")
  errors(function() mgv.metrics({ 0 }, { 1 }) end, "not a class number")
end)

test("json encode and decode", function()
  local s = mgv.json.encode{ a = 1, b = { 1, 2, 3 }, c = "x", d = true, e = 0.5 }
  local t = mgv.json.decode(s)
  eq(t.a, 1)
  eq(#t.b, 3)
  eq(t.c, "x")
  eq(t.d, true)
  near(t.e, 0.5)
  eq(mgv.json.encode{}, "[]")
  errors(function() mgv.json.decode("{bad") end, "json.decode")
end)

-- counts the temporary files Lua code asks for while fn runs
local function temp_files_made(fn)
  local made, tmpname, tmpfile = 0, os.tmpname, io.tmpfile
  os.tmpname = function() made = made + 1 return tmpname() end
  io.tmpfile = function() made = made + 1 return tmpfile() end
  local ok, err = pcall(fn)
  os.tmpname, io.tmpfile = tmpname, tmpfile
  return made, ok, err
end

local function same_weights(m, snap)
  local worst = 0
  for k, p in pairs(m:parameters()) do
    local diff = p - snap[k]
    local d = math.max(diff:max():item(), (-diff):max():item())
    if d > worst then worst = d end
  end
  return worst
end

local function weights(m)
  local s = {}
  mgv.no_grad(function() for k, p in pairs(m:parameters()) do s[k] = p:clone() end end)
  return s
end

test("the training loop puts the best weights back and writes nothing", function()
  local m2 = mgv.model{ words = task.words, task = "met", hidden = 32, heads = 2, experts = 4,
                        proj = 32, seed = 2 }
  local at, r = {}, nil
  local made, ok, err = temp_files_made(function()
    r = mgv.train(m2, task, { epochs = 3, patience = 5, quiet = true, on_epoch = function(info)
      at[info.epoch] = weights(m2)
      -- spoil the last epoch's weights after it was kept: the loop must restore the best
      if info.epoch == 3 then mgv.no_grad(function() m2:parameters()["vmoe.gate.weight"]:fill(7) end) end
    end })
  end)
  check(ok, err)
  eq(made, 0)
  eq(#r.history, 3)
  eq(r.interrupted, nil)
  eq(r.dir, nil)
  check(r.best_epoch >= 1 and r.best_epoch <= 3)
  near(r.val_macro_f1, r.history[r.best_epoch].val_macro_f1, 1e-12)
  eq(same_weights(m2, at[r.best_epoch]), 0)
  -- the model scores validation as recorded for its best epoch
  local v = mgv.evaluate(m2, task.val)
  near(v.macro_f1, r.val_macro_f1, 1e-9)
  near(v.micro_f1, r.val_micro_f1, 1e-9)
end)

test("an error inside training is raised and leaves no file", function()
  local m2 = mgv.model{ words = task.words, task = "met", hidden = 32, heads = 2, experts = 4,
                        proj = 32, seed = 3 }
  local made, ok, err = temp_files_made(function()
    mgv.train(m2, task, { epochs = 3, quiet = true, on_epoch = function(info)
      if info.epoch == 2 then error("boom in epoch 2") end
    end })
  end)
  eq(ok, false)
  check(tostring(err):find("boom in epoch 2", 1, true), err)
  eq(made, 0)
  errors(function() mgv.train(m2, task, { checkpoint = "x" }) end, "'checkpoint' is now 'dir'")
  errors(function() mgv.train(m2, task, { resume = true }) end, "resume needs dir")
  errors(function() mgv.train(m2, task, { dir = "/nonexistent/folder" }) end, "is not a folder")
end)

test("the training loop with dir: best and last epochs on disk, resume", function()
  local dir = os.tmpname()
  os.remove(dir)
  assert(os.execute("mkdir '" .. dir .. "'"))
  local m2 = mgv.model{ words = task.words, task = "met", hidden = 32, heads = 2, experts = 4,
                        proj = 32, seed = 2 }
  local r = mgv.train(m2, task, { epochs = 2, patience = 5, quiet = true, dir = dir })
  eq(r.dir, dir)
  local best, bmeta = mgv.load(dir .. "/best.safetensors")
  eq(tonumber(bmeta.epoch), r.best_epoch)
  eq(same_weights(m2, best), 0)
  local _, lmeta = mgv.load(dir .. "/last.safetensors")
  eq(lmeta.epoch, "2")
  eq(tonumber(lmeta.best_epoch), r.best_epoch)
  -- resume continues after the last epoch
  local r2 = mgv.train(m2, task, { epochs = 3, patience = 5, quiet = true, dir = dir, resume = true })
  eq(#r2.history, 1)
  eq(r2.history[1].epoch, 3)
  check(r2.best_epoch >= r.best_epoch)
  local names = {}
  for name in io.popen("ls -A '" .. dir .. "'"):lines() do names[#names + 1] = name end
  eq(table.concat(names, " "), "best.safetensors last.safetensors")
  os.remove(dir .. "/best.safetensors")
  os.remove(dir .. "/last.safetensors")
  os.remove(dir)
end)

test("pictures for instances that name one, by policy", function()
  -- the synthetic instances carry pixels already and name no file: nothing to read
  local d = mgv.data.synth{ seed = 2, per_class = 2 }
  local fix = (os.getenv("MGV_ROOT") or ".") .. "/tests/fixtures/images"
  eq(d.test:load_images(fix, { size = 8, policy = "blank" }), 0)
  eq(table.concat(d.test:image(1):shape(), "x"), "3x16x16")   -- pixels kept
  errors(function() d.test:load_images(fix, { policy = "maybe" }) end, "policy must be")
  errors(function() d.test:load_images(fix, { size = 0 }) end, "size 0")
end)

test("precomputed features from a file", function()
  -- 24 instances of 3 classes; entity features carry the class, labels too
  mgv.seed(7)
  local N, L, P, d, C = 24, 5, 4, 8, 3
  local labels = mgv.randn(C, 6)
  local target, entity = {}, mgv.zeros(N, 12)
  for i = 1, N do
    target[i] = (i - 1) % C
    mgv.no_grad(function() entity[i]:slice(1, 1, 6):copy(labels[target[i] + 1]) end)
  end
  local mask = mgv.ones(N, L)
  mask[1][5] = 0
  local path = os.tmpname()
  mgv.save(path, { text = mgv.randn(N, L, d), text_mask = mask, entity = entity,
                   image = mgv.randn(N, P, d), labels = labels, target = mgv.tensor(target) },
           { classes = '["alpha", "beta", "gamma"]' })
  local ds = mgv.data.features(path)
  eq(#ds, N)
  eq(table.concat(ds:classes(), ","), "alpha,beta,gamma")
  eq(ds:labels()[2], 2)
  local m = mgv.model{ text = "features", image = "features", hidden = d, heads = 2, experts = 2,
                       entity_dim = 12, label_dim = 6, proj = 8, seed = 1, lr = 1e-2 }
  check(tostring(m):find("precomputed"))
  local first
  for step = 1, 30 do
    local st = m:train_step(ds, { 1, 2, 3, 4, 5, 6, 7, 8 })
    first = first or st.rank
    if step == 30 then check(st.rank < first, "ranking loss fell: " .. first .. " -> " .. st.rank) end
  end
  local out = m:forward(ds, { 1, 2 })
  eq(table.concat(out.gate_image:shape(), "x"), "2x4x2")
  eq(#m:predict(ds), N)
  -- a subset keeps the rows of its instances
  local sub = ds:subset{ 3, 1 }
  eq(#sub, 16)
  eq(#m:predict(sub), 16)
  -- the text encoder's data set has no features: a message
  local m2 = mgv.model{ text = "features", hidden = 32, heads = 2, images = false }
  errors(function() m2:train_step(task.train, { 1 }) end, "no precomputed text features")
  errors(function() task.train:load_features(path) end, "rows")
  os.remove(path)
end)

test("bad arguments are messages", function()
  errors(function() mgv.model{} end, "words")
  errors(function() mgv.model{ words = task.words, task = "ner" } end, "task must be")
  errors(function() mgv.model{ words = task.words, hidden = 30, heads = 4 } end, "multiple of heads")
  errors(function() mgv.model{ words = task.words, bogus = 1 } end, "unknown option 'bogus'")
  errors(function() model:train_step(task.train, {}) end, "empty batch")
  errors(function() model:train_step(task.train, { #task.train + 1 }) end, "out of range")
  errors(function() model:train_step(nil, { 1 }) end, "Dataset expected")
  errors(function() model:predict(task.val, { first = 0 }) end, "outside")
  errors(function() mgv.data.mre{ dir = "/nonexistent" } end, "glove")
  local text_only = mgv.model{ words = task.words, task = "met", images = false, hidden = 32,
                               heads = 2 }
  local st = text_only:train_step(task.train, { 1, 2, 3 })
  eq(st.nce, 0)
  eq(st.mg, 0)
  local freed = mgv.model{ words = task.words, hidden = 32, heads = 2 }
  freed:free()
  errors(function() freed:predict(task.val) end, "freed")
end)

test("options come from one table: parsing, config, the summary and help agree", function()
  local opts = mgv._model_options()
  check(#opts >= 30, #opts)
  local c = model:config()
  for _, o in ipairs(opts) do
    check(type(o.help) == "string" and o.help ~= "", o.name)
    if o.default ~= nil then check(c[o.name] ~= nil, "config lacks " .. o.name) end
  end
  -- a twin from the config has the same config
  local twin_cfg = model:config()
  twin_cfg.text_encoder = nil
  twin_cfg.words = task.words
  local twin = mgv.model(twin_cfg)
  for k, v in pairs(c) do eq(twin:config()[k], v, k) end
  -- the printed summary shows every option with a value
  local s = tostring(model)
  for _, o in ipairs(opts) do
    if c[o.name] ~= nil then check(s:find(o.name .. " ", 1, true), o.name .. " in " .. s) end
  end
  check(s:find("vmoe_weight 0.01", 1, true), s)
  -- help lists them with our default and the paper's value where known
  local h = mgv.doc("mgv.model")
  check(h:find("vmoe_weight = 0.01", 1, true), h)
  check(h:find("the paper: 1e-05", 1, true), h)
  for _, o in ipairs(opts) do check(h:find(o.name .. " = ", 1, true), o.name) end
  -- bad values name the option and what it takes
  errors(function() mgv.model{ words = task.words, hidden = "wide" } end,
    "option 'hidden' must be an integer")
  errors(function() mgv.model{ words = task.words, beta = {} } end, "option 'beta' must be a number")
  errors(function() mgv.model{ words = task.words, vat = "big" } end,
    "vat must be 'learned' or 'power' (got 'big')")
  errors(function() mgv.model{ words = task.words, bert = 1 } end, "option 'bert' must be a string")
  -- 'mre' turns images off unless asked
  eq(mgv.model{ words = task.words, task = "mre", hidden = 8, heads = 2 }:config().images, false)
  eq(mgv.model{ words = task.words, task = "mre", hidden = 8, heads = 2, images = true }:config().images, true)
end)

test("checkpoint metadata: every entry kept, non-strings refused", function()
  local path = os.tmpname()
  local meta = {}
  for i = 1, 50 do meta["key" .. i] = "value" .. i end
  meta.number = 3
  model:save(path, meta)
  local _, got = mgv.load(path)
  for i = 1, 50 do eq(got["key" .. i], "value" .. i) end
  eq(got.number, "3")
  eq(got.format, "mgv-mgvmoe-1")
  errors(function() model:save(path, { flag = true }) end, "metadata 'flag' is a boolean")
  errors(function() model:save(path, { [1] = "x" }) end, "metadata key 1 is a number")
  errors(function() model:save(path, "notes") end, "table expected")
  os.remove(path)
end)

H.done()
