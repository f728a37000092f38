-- blocks.lua — the model's parts as Lua building blocks: the VIB-MoE layer
-- (mgv.nn.vib_moe, over the fused C op mgv.vmoe_experts) and MG-VAT's learned
-- perturbation (mgv.vat.perturbation, over the C step of head.c). With
-- mgv.vat.graph / probs / loss / power and the generic ops they rebuild the
-- head (examples/custom_moe.lua) or variants of it.
-- Embedded into the binary; called by luaopen_mgv with (mgv, mgv.Tensor, meta).

local M = ...

M.nn = M.nn or {}

local PARAMS = { "gate.weight", "gate.bias", "mu.weight", "mu.bias", "logvar.weight", "logvar.bias" }

local function check_size(v, what, op)
  if math.type(v) ~= "integer" or v < 1 then
    error(op .. ": " .. what .. " must be a positive integer, got " .. tostring(v), 3)
  end
end

local function check_keys(opts, known, op)
  for k in pairs(opts) do
    if not known[k] then error(op .. ": unknown option '" .. tostring(k) .. "'", 3) end
  end
end

-- sum(x * mask) / sum(mask), as the head's masked means (mean without a mask)
local function masked_mean(x, mask)
  if not mask then return x:mean() end
  local count = mask:sum():item()
  if count <= 0 then return x:sum() * 0 end
  return (x * mask):sum() * (1 / count)
end

local VibMoE = {}
VibMoE.__index = VibMoE

--- mgv.nn.vib_moe{dim = d, experts = K [, sample = false] [, route = fn]} -> layer.
-- Weights as the model's (PyTorch's uniform initialisation, from mgv.seed's
-- generator); route(logits [..., K]) -> gates replaces the softmax.
function M.nn.vib_moe(opts)
  local op = "nn.vib_moe"
  if type(opts) ~= "table" then error(op .. ": an options table {dim =, experts =} expected", 2) end
  check_keys(opts, { dim = true, experts = true, sample = true, route = true }, op)
  local d, K = opts.dim, opts.experts
  check_size(d, "dim", op)
  check_size(K, "experts", op)
  if opts.route ~= nil and type(opts.route) ~= "function" then
    error(op .. ": route must be a function(logits) -> gates", 2)
  end
  local bound = 1 / math.sqrt(d)
  local function param(...) return M.zeros(...):uniform_(-bound, bound):requires_grad_() end
  local self = setmetatable({ dim = d, K = K, sample = opts.sample and true or false,
                              route = opts.route, params = {
    ["gate.weight"] = param(K, d), ["gate.bias"] = param(K),
    ["mu.weight"] = param(K * d, d), ["mu.bias"] = param(K * d),
    ["logvar.weight"] = param(K * d, d), ["logvar.bias"] = param(K * d) } }, VibMoE)
  self.experts = {}
  M.no_grad(function()   -- plain views sharing the weights' storage
    local P = self.params
    for k = 1, K do
      local a, b = (k - 1) * d + 1, k * d
      self.experts[k] = {
        mu = { weight = P["mu.weight"]:slice(1, a, b), bias = P["mu.bias"]:slice(1, a, b) },
        logvar = { weight = P["logvar.weight"]:slice(1, a, b), bias = P["logvar.bias"]:slice(1, a, b) } }
    end
  end)
  return self
end

--- o, info = moe:forward(x [, mask]): x [..., d] (mask [...], 1 for real tokens)
-- -> o [..., d] and {gates [..., K], kl, entropy} (0-d, means over the mask).
function VibMoE:forward(x, mask)
  local P = self.params
  if not M.is_tensor(x) or x:shape()[x:dim()] ~= self.dim then
    error("vib_moe:forward: x must be a tensor [..., " .. self.dim .. "]", 2)
  end
  local logits = x:linear(P["gate.weight"], P["gate.bias"])
  local gates = self.route and self.route(logits) or logits:softmax(-1)
  local okl = M.vmoe_experts(x, gates, P["mu.weight"], P["mu.bias"], P["logvar.weight"],
                             P["logvar.bias"], { sample = self.sample })
  local d = self.dim
  -- a routed gate may be exactly 0: 0 log 0 counts as 0 (as in the head)
  local ent = -(gates * (self.route and (gates + 1e-30):log() or gates:log())):sum(-1)
  return okl:slice(-1, 1, d), { gates = gates, kl = masked_mean(okl:select(-1, d + 1), mask),
                                entropy = masked_mean(ent, mask) }
end

--- moe:parameters() -> {name = tensor} (gate/mu/logvar .weight/.bias)
function VibMoE:parameters()
  local t = {}
  for k, v in pairs(self.params) do t[k] = v end
  return t
end

--- moe:load(params [, prefix = ""]): copies params[prefix .. name] into the layer
-- (e.g. moe:load(model:parameters(), "vmoe.")).
function VibMoE:load(params, prefix)
  prefix = prefix or ""
  M.no_grad(function()
    for _, name in ipairs(PARAMS) do
      local src = params[prefix .. name]
      if not src then error("vib_moe:load: no tensor '" .. prefix .. name .. "'", 3) end
      self.params[name]:copy(src)
    end
  end)
end

function VibMoE:__tostring()
  return string.format("VIB-MoE layer: dim %d, %d experts%s", self.dim, self.K,
                       self.sample and ", sampling" or "")
end

M.nn.VibMoE = VibMoE   -- the methods, for help and completion

local Perturbation = {}
Perturbation.__index = Perturbation
M.vat.Perturbation = Perturbation

--- mgv.vat.perturbation{dim = D [, lr = 5e-4] [, init = 0.05]} -> the learned r
-- [1, D] of MG-VAT (U(-init, init)), with its own Adam.
function M.vat.perturbation(opts)
  local op = "vat.perturbation"
  if type(opts) ~= "table" then error(op .. ": an options table {dim =} expected", 2) end
  check_keys(opts, { dim = true, lr = true, init = true }, op)
  check_size(opts.dim, "dim", op)
  local init = opts.init or 0.05
  local r = M.zeros(1, opts.dim):uniform_(-init, init):requires_grad_()
  return setmetatable({ r = r, dim = opts.dim,
                        opt = M.optim.adam({ r }, { lr = opts.lr or 5e-4 }) }, Perturbation)
end

--- r:step(g, G) -> the objective -L_mg + |r| before the step (g and G held fixed)
function Perturbation:step(g, G)
  return M.vat._step(self.r, self.opt, g, G)
end

function Perturbation:__tostring()
  return string.format("MG-VAT perturbation: [1 x %d], Adam lr %g", self.dim, self.opt.lr)
end
