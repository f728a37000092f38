-- custom_moe.lua — the MG-VMoE head rebuilt in pure Lua from the building
-- blocks (mgv.nn.vib_moe, mgv.vat.*) and generic ops, trained with a Lua
-- loop on the synthetic set.
--
--   bin/mgv examples/custom_moe.lua [--epochs N] [--seed N]
--
-- The encoders are a fresh mgv.model's, frozen: model:forward(ds, idx,
-- {inputs = true}) hands over what its head would see (text and image
-- tokens, masks, the entity feature, the label embeddings). The Lua head is
-- the C head's computation in its deterministic form (no expert noise, no
-- dropout: the model's evaluation mode); tests/lua/test_blocks.lua loads the
-- same weights into both and checks that losses and gradients agree.
-- loadfile("examples/custom_moe.lua")("library") returns the builder
-- without training.

local lib = {}

local Head = {}
Head.__index = Head

local function linear_param(out, inp)
  local b = 1 / math.sqrt(inp)
  return mgv.zeros(out, inp):uniform_(-b, b):requires_grad_(), mgv.zeros(out):uniform_(-b, b):requires_grad_()
end

--- lib.head{d =, experts =, entity_dim =, label_dim =, proj = 64, beta = 1,
--- vmoe_weight = 0.01, margin = 1, lr = 5e-4}: the head with fresh weights.
function lib.head(c, class)
  local self = setmetatable({ c = c, P = {} }, class or Head)
  self.moe = mgv.nn.vib_moe{ dim = c.d, experts = c.experts }
  local P = self.P
  P["fuse.weight"], P["fuse.bias"] = linear_param(1, c.entity_dim + c.d)
  P["score.x.weight"], P["score.x.bias"] = linear_param(c.proj or 64, c.entity_dim + c.d)
  P["score.label.weight"], P["score.label.bias"] = linear_param(c.proj or 64, c.label_dim)
  self.r = mgv.vat.perturbation{ dim = (c.nodes or 2) * c.d, lr = c.lr or 5e-4 }
  return self
end

--- head:parameters() -> {name = tensor}, named as model:parameters() names them
function Head:parameters()
  local t = {}
  for k, v in pairs(self.moe:parameters()) do t["vmoe." .. k] = v end
  for k, v in pairs(self.P) do t[k] = v end
  t["vat.r"] = self.r.r
  return t
end

--- head:load(params): copies the head's tensors from params (model:parameters())
function Head:load(params)
  mgv.no_grad(function()
    for k, v in pairs(self:parameters()) do v:copy(params[k]) end
  end)
end

-- the mean of o [B, N, d] over the real tokens of mask [B, N] -> [B, d]
function lib.pool(o, mask)
  local den = mgv.no_grad(function()
    local s = mask:sum(2, true)
    for i = 1, #s do if s:get(i, 1) <= 0 then s[i] = 1 end end
    return s
  end)
  return mask:unsqueeze(2):matmul(o):squeeze(2) / den
end

--- head:score(O, M, inputs) -> scores [B, C]: attention over the tokens O
-- [B, N, d] (mask M) pooled by the entity, then the zero-shot bilinear score
function Head:score(O, M, x)
  local c, P = self.c, self.P
  local DE = c.entity_dim
  local w = P["fuse.weight"]
  local logit = O:linear(w:slice(2, DE + 1, DE + c.d)):squeeze(-1) +
                x.entity:linear(w:slice(2, 1, DE), P["fuse.bias"])
  local att = logit:masked_fill(1 - M, -math.huge):softmax(2)
  local h_x = mgv.cat({ att:unsqueeze(2):matmul(O):squeeze(2), x.entity }, -1)
  local ex = h_x:linear(P["score.x.weight"], P["score.x.bias"])
  local el = x.labels:linear(P["score.label.weight"], P["score.label.bias"])
  return ex:matmul(el:transpose(1, 2))
end

--- head:forward(inputs [, target]) -> {scores, loss, rank, vmoe, nce, mg, g, G}
-- inputs as model:forward(..., {inputs = true}).inputs; target: 1-based classes.
function Head:forward(x, target)
  local c = self.c
  -- VIB-MoE on each modality (one shared layer; tokens are independent)
  local o_v, v = self.moe:forward(x.image, x.image_mask)
  local o_t, t = self.moe:forward(x.text, x.text_mask)
  local O, M = mgv.cat({ o_v, o_t }, 2), mgv.cat({ x.image_mask, x.text_mask }, 2)
  local out = { scores = self:score(O, M, x) }
  -- the batch graph over node vectors [pooled image; pooled text]
  local v_pool, t_pool = lib.pool(o_v, x.image_mask), lib.pool(o_t, x.text_mask)
  out.g = mgv.cat({ v_pool, t_pool }, -1)
  out.G = mgv.vat.graph(out.g)
  if not target then return out end
  out.rank = mgv.margin_ranking(out.scores, target, c.margin or 1)
  out.vmoe = ((t.kl + t.entropy) + (v.kl + v.entropy)) * 0.5
  local B = #target
  local eye = {}
  for i = 1, B do eye[i] = i end
  local logits = t_pool:matmul(v_pool:transpose(1, 2))
  out.nce = (mgv.cross_entropy(logits, eye) + mgv.cross_entropy(logits:transpose(1, 2), eye)) * 0.5
  out.mg = mgv.vat.loss(out.g, out.G, self.r.r)
  local aux = out.vmoe * (c.vmoe_weight or 0.01) + out.nce + out.mg
  out.loss = out.rank + aux * (c.beta or 1)
  return out
end

--- lib.config(model, inputs) -> the head's sizes and weights from a model and its inputs
function lib.config(model, x)
  local mc = model:config()
  return { d = mc.hidden, experts = mc.experts, entity_dim = x.entity:shape()[2],
           label_dim = x.labels:shape()[2], proj = mc.proj, beta = mc.beta,
           vmoe_weight = mc.vmoe_weight, lr = mc.lr }
end

-- the entries idx of the class list y
local function pick(y, idx)
  local t = {}
  for i, k in ipairs(idx) do t[i] = y[k] end
  return t
end

--- lib.targets(ds, idx) -> the gold classes of instances idx
function lib.targets(ds, idx)
  return pick(ds:labels(), idx)
end

--- lib.evaluate(head, model, ds [, batch = 64]) -> mgv.metrics of the Lua head on ds
function lib.evaluate(head, model, ds, batch)
  batch = batch or 64
  local pred = {}
  mgv.no_grad(function()
    for first = 1, #ds, batch do
      local idx = {}
      for i = first, math.min(#ds, first + batch - 1) do idx[#idx + 1] = i end
      local x = model:forward(ds, idx, { inputs = true, loss = false }).inputs
      local _, best = head:forward(x).scores:max(2)
      for i = 1, #idx do pred[idx[i]] = math.floor(best:get(i)) end
    end
  end)
  return mgv.metrics(ds:labels(), pred, ds:classes())
end

--- lib.train(head, model, task [, {epochs = 3, seed = 0, batch = 16, lr = 1e-3}]):
-- Adam on the head's weights, then r's own step, batch by batch; prints each
-- epoch's loss and validation macro-F1; returns the test metrics.
function lib.train(head, model, task, o)
  o = o or {}
  local sampler = mgv.sampler(task.train, o.seed or 0)
  local params = head:parameters()
  params["vat.r"] = nil   -- r has its own optimiser
  local opt = mgv.optim.adam(params, { lr = o.lr or 1e-3 })
  local batch = o.batch or 16
  local steps = #task.train // batch + 1
  local y = task.train:labels()   -- read once, not copied every step
  for epoch = 1, o.epochs or 3 do
    local sum = 0
    for _ = 1, steps do
      local idx = sampler:next(batch)
      local x = model:forward(task.train, idx, { inputs = true, loss = false }).inputs
      local out = head:forward(x, pick(y, idx))
      opt:zero_grad()
      out.loss:backward()
      opt:step()
      head.r:step(out.g, out.G)   -- MG-VAT: r moves against the head
      sum = sum + out.loss:item()
    end
    local v = lib.evaluate(head, model, task.val)
    print(string.format("epoch %d  loss %.4f  val macro-F1 %.4f", epoch, sum / steps, v.macro_f1))
  end
  local m = lib.evaluate(head, model, task.test)
  print(string.format("test macro-F1 %.4f", m.macro_f1))
  return m
end

--- lib.args(usage) -> {epochs = 3, seed = 0} from the script's --epochs N --seed N
function lib.args(usage)
  local a, argv, i = { epochs = 3, seed = 0 }, arg or {}, 1
  while i <= #argv do
    local k = argv[i]:match("^%-%-(.+)$")
    if not k or a[k] == nil or not tonumber(argv[i + 1]) then
      io.stderr:write("usage: ", usage, " [--epochs N] [--seed N]\n")
      os.exit(2)
    end
    a[k] = math.floor(tonumber(argv[i + 1]))
    i = i + 2
  end
  return a
end

--- lib.main(usage [, class, nodes]): a script's run: its --epochs/--seed, the
-- synthetic set, a fresh model's frozen encoders, then lib.train of a head of
-- class (default Head) whose r spans nodes node vectors (default 2)
function lib.main(usage, class, nodes)
  local a = lib.args(usage)
  mgv.seed(a.seed)
  local task = mgv.data.synth{ seed = a.seed }
  local model = mgv.model{ words = task.words, seed = a.seed }   -- frozen encoders
  local first = model:forward(task.train, { 1 }, { inputs = true, loss = false }).inputs
  local c = lib.config(model, first)
  c.nodes = nodes
  return lib.train(lib.head(c, class), model, task, a)
end

lib.Head = Head
if ... == "library" then return lib end

-- ---- training -----------------------------------------------------------------
lib.main("bin/mgv examples/custom_moe.lua")
