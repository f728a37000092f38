-- bench.lua — times full training steps of the MG-VMoE head on random token
-- features (issue 6): VIB-MoE on both modalities, fusion, zero-shot ranking,
-- InfoNCE, MG-VAT with the learned perturbation step, backward, gradient
-- clipping and Adam (model:train_step), then no-grad evaluation
-- (model:predict) and the SGEMM rate of the dominant shapes.
--
--   bin/mgv examples/bench.lua [--batch 16] [--text-len 32] [--image-len 50]
--       [--hidden 256] [--experts 8] [--classes 10] [--proj 256] [--steps 20]
--       [--warmup 3] [--threads N] [--eval-batches 4] [--sgemm-reps 5] [--no-sgemm]
--
-- Prints one "key=value" per line (ms_per_step, samples_per_s, gflops,
-- sgemm_gflops, peak_rss_mb, eval_samples_per_s, ...) so scripts can grep
-- them. scripts/bench_torch.py is the same head in PyTorch; scripts/bench.sh
-- (make bench) runs both and prints the table.

local o = { batch = 16, ["text-len"] = 32, ["image-len"] = 50, hidden = 256, experts = 8,
            classes = 10, proj = 256, steps = 20, warmup = 3, threads = 0,
            ["eval-batches"] = 4, ["sgemm-reps"] = 5, seed = 0 }
local flags = { ["no-sgemm"] = true }
local i = 1
while i <= #arg do
  local name = arg[i]:match("^%-%-([%w%-]+)$")
  if name and flags[name] then
    o[name] = true
  elseif name and o[name] ~= nil then
    local v = tonumber(arg[i + 1])
    if not v then error("bench.lua: --" .. name .. " needs a number", 0) end
    o[name] = math.tointeger(v) or v
    i = i + 1
  else
    error("bench.lua: unknown argument '" .. arg[i] .. "' (options: --batch --text-len "
          .. "--image-len --hidden --experts --classes --proj --steps --warmup --threads "
          .. "--eval-batches --sgemm-reps --no-sgemm)", 0)
  end
  i = i + 1
end

local B, L, P, d, K = o.batch, o["text-len"], o["image-len"], o.hidden, o.experts
local C, proj = o.classes, o.proj
local DE, DL = 2 * d, d              -- entity feature [h_cls; h_entity], label vector
local N = 2 * B                      -- two batches, taken in turn

-- threads: mgv.threads sets OpenBLAS and the engine's elementwise pool at once
if mgv.threads then
  if o.threads > 0 then mgv.threads(o.threads) end
  o.threads = mgv.threads()
elseif o.threads == 0 then
  o.threads = tonumber(os.getenv("OPENBLAS_NUM_THREADS") or "") or 0
end

local function vmhwm_mb()   -- peak resident set size of the process so far
  local f = io.open("/proc/self/status")
  if not f then return 0 end
  local s = f:read("a")
  f:close()
  return (tonumber(s:match("VmHWM:%s*(%d+)")) or 0) / 1024
end

-- ---- the data set: random token features, written once, loaded back --------
mgv.seed(o.seed)
local path = os.tmpname()
do
  local text_mask, image_mask = mgv.ones(N, L), mgv.ones(N, P)
  -- every other sample has its last quarter of text tokens and the last
  -- tenth of image tokens padded (the same pattern in bench_torch.py)
  mgv.no_grad(function()
    for s = 2, N, 2 do
      text_mask[s]:slice(1, L - L // 4 + 1, L):fill(0)
      image_mask[s]:slice(1, P - P // 10 + 1, P):fill(0)
    end
  end)
  local target = {}
  for s = 1, N do target[s] = (s - 1) % C end
  local names = {}
  for c = 1, C do names[c] = string.format('"class%d"', c) end
  mgv.save(path, { text = mgv.randn(N, L, d) * 0.5, text_mask = text_mask,
                   entity = mgv.randn(N, DE) * 0.5, image = mgv.randn(N, P, d) * 0.5,
                   image_mask = image_mask, labels = mgv.randn(C, DL) * 0.5,
                   target = mgv.tensor(target) },
           { classes = "[" .. table.concat(names, ",") .. "]" })
end
local ds = mgv.data.features(path)
os.remove(path)
collectgarbage()

local model = mgv.model{ text = "features", image = "features", hidden = d, experts = K,
                         entity_dim = DE, label_dim = DL, proj = proj, seed = o.seed }
local batches = { {}, {} }
for s = 1, B do batches[1][s], batches[2][s] = s, B + s end

-- ---- FLOPs of the GEMMs of one training step --------------------------------
-- A product [m x k] [k x n] costs 2mkn; the products are those of the
-- reference model (the engine computes a few small ones differently, e.g. the
-- entity part of the fusion logits once per sample). Tokens T = B (L + P).
--   VIB-MoE, both modalities, one shared layer: gate (K), mu (Kd) and
--   log sigma^2 (Kd) from d inputs: forward 2 T d (K + 2Kd). Backward needs
--   only the weight gradient dW = dY^T X (the features are data, no grad):
--   the same again. This is the dominant term (>99 %).
--   fusion logits: a [T x (DE+d)] [(DE+d) x 1] product; backward dW and dX.
--   score.x [B x (DE+d)] -> proj, score.label [C x DL] -> proj, scores
--   [B x proj][proj x C], InfoNCE logits [B x d][d x B], the graph G
--   [B x 2d][2d x B], G g and (1 - G) g for p and for p~ (4 products
--   [B x B][B x 2d]): each forward product costs its 2mkn once more for
--   each operand gradient in backward (counted as 2x forward).
--   The perturbation step redoes G, p, p~ on the node vectors: 5 products
--   forward, backward through the p~ branch (2 products, 2 gradients each).
local function gemm_flops()
  local T = B * (L + P)
  local vmoe = 2 * T * d * (K + 2 * K * d) * 2
  local fuse = 2 * T * (DE + d) * 3
  local small = (2 * B * (DE + d) * proj + 2 * C * DL * proj + 2 * B * proj * C
                 + 2 * B * d * B + 2 * B * 2 * d * B + 4 * 2 * B * B * 2 * d) * 3
  local perturb = 5 * 2 * B * B * 2 * d + 2 * 2 * (2 * B * B * 2 * d)
  return vmoe + fuse + small + perturb, vmoe
end
local flops, vmoe_flops = gemm_flops()

-- ---- training steps ---------------------------------------------------------
local function median(t)
  local s = { table.unpack(t) }
  table.sort(s)
  local n = #s
  return n % 2 == 1 and s[(n + 1) // 2] or (s[n // 2] + s[n // 2 + 1]) / 2
end

for s = 1, o.warmup do model:train_step(ds, batches[(s - 1) % 2 + 1]) end
local times, cpu, last = {}, {}, nil
for s = 1, o.steps do
  local t0, c0 = mgv.clock(), os.clock()
  last = model:train_step(ds, batches[(s - 1) % 2 + 1])
  times[s], cpu[s] = mgv.clock() - t0, os.clock() - c0
end
local med = median(times)
local tmin, tmax = math.min(table.unpack(times)), math.max(table.unpack(times))
local train_rss = vmhwm_mb()

-- ---- evaluation: no-grad forward, deterministic -------------------------------
local n_eval = o["eval-batches"]
local eval_s = math.huge
for rep = 1, 3 do
  local t0 = mgv.clock()
  for _ = 1, n_eval do model:predict(ds, { batch = B }) end
  eval_s = math.min(eval_s, mgv.clock() - t0)
end
local eval_sps = n_eval * N / eval_s

-- ---- SGEMM rate of the dominant shapes, through mgv.matmul in no-grad mode ----
-- The engine stacks the text and image tokens of a batch, T = B (L + P) rows,
-- and multiplies them by the experts' weights (forward) and the gradient by
-- them (weight gradient). mgv.matmul: the engine's product, allocation of the
-- result included; scripts/sgemm_rate.c times bare cblas_sgemm on the same
-- shapes.
local sgemm = 0
if not o["no-sgemm"] then
  local total_f, total_t = 0, 0
  mgv.no_grad(function()
    for _, T in ipairs({ B * (L + P) }) do
      local X = mgv.randn(T, d)
      local W = mgv.randn(2 * K * d, d)
      local Wt = W:transpose(1, 2)
      local best_f, best_b = math.huge, math.huge
      for _ = 1, o["sgemm-reps"] do
        local t0 = mgv.clock()
        local Y = X:matmul(Wt)                 -- forward: [T x d] [d x 2Kd]
        best_f = math.min(best_f, mgv.clock() - t0)
        t0 = mgv.clock()
        local G = Y:transpose(1, 2):matmul(X)  -- weight gradient: [2Kd x T] [T x d]
        best_b = math.min(best_b, mgv.clock() - t0)
        Y, G = nil, nil
        collectgarbage()
      end
      total_f = total_f + 2 * 2 * T * d * 2 * K * d
      total_t = total_t + best_f + best_b
    end
  end)
  sgemm = total_f / total_t / 1e9
end

-- ---- report ----------------------------------------------------------------------
print(string.format("config: B=%d L=%d P=%d d=%d K=%d C=%d proj=%d threads=%d steps=%d",
                    B, L, P, d, K, C, proj, o.threads, o.steps))
print(string.format("ms_per_step=%.2f", med * 1e3))
print(string.format("ms_min=%.2f", tmin * 1e3))
print(string.format("ms_max=%.2f", tmax * 1e3))
print(string.format("cpu_ms_per_step=%.2f", median(cpu) * 1e3))   -- all threads
print(string.format("samples_per_s=%.1f", B / med))
print(string.format("gemm_gflop_per_step=%.3f", flops / 1e9))
print(string.format("vmoe_gemm_share=%.4f", vmoe_flops / flops))
print(string.format("gflops=%.2f", flops / med / 1e9))
if sgemm > 0 then print(string.format("sgemm_gflops=%.2f", sgemm)) end
print(string.format("peak_rss_mb=%.1f", train_rss))
print(string.format("eval_samples_per_s=%.1f", eval_sps))
print(string.format("loss=%.4f", last.loss))
