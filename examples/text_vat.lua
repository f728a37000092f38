-- text_vat.lua — a variant the C model cannot express, from the building
-- blocks: VIB-MoE on the text tokens only (the pictures are ignored) and
-- MG-VAT's graph over text nodes (each sample's pooled text), which the C
-- model turns off without images. Reuses examples/custom_moe.lua's head
-- (fusion, scores, training loop) and replaces its forward pass.
--
--   bin/mgv examples/text_vat.lua [--epochs N] [--seed N]

local dir = (arg and arg[0] and arg[0]:match("^(.*/)")) or "examples/"
local lib = assert(loadfile(dir .. "custom_moe.lua"))("library")

local TextHead = setmetatable({}, { __index = lib.Head })
TextHead.__index = TextHead

function TextHead:forward(x, target)
  local c = self.c
  local o_t, t = self.moe:forward(x.text, x.text_mask)
  local out = { scores = self:score(o_t, x.text_mask, x) }
  out.g = lib.pool(o_t, x.text_mask)           -- one node per sample: its text
  out.G = mgv.vat.graph(out.g)
  if not target then return out end
  out.rank = mgv.margin_ranking(out.scores, target, c.margin or 1)
  out.vmoe = t.kl + t.entropy
  out.mg = mgv.vat.loss(out.g, out.G, self.r.r)
  out.loss = out.rank + (out.vmoe * (c.vmoe_weight or 0.01) + out.mg) * (c.beta or 1)
  return out
end

-- r lives in the text nodes' space [1 x d]
lib.main("bin/mgv examples/text_vat.lua", TextHead, 1)
