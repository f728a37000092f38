-- bench.lua — times full training steps of the MG-VMoE head on random token
-- features (issue 6): VIB-MoE on both modalities, fusion, zero-shot ranking,
-- InfoNCE, MG-VAT with the learned perturbation step, backward, gradient
-- clipping and Adam (model:train_step), then no-grad evaluation
-- (model:predict) and the SGEMM rate of the dominant shapes.
--
--   bin/mgv examples/bench.lua [--batch 16] [--text-len 32] [--image-len 50]
--       [--hidden 256] [--experts 8] [--classes 10] [--proj 256] [--steps 20]
--       [--warmup 3] [--threads N] [--eval-batches 4] [--sgemm-reps 5] [--no-sgemm]
--       [--profile]
--   bin/mgv examples/bench.lua --paper-bert [--steps 3 --warmup 1 --threads N
--       --eval-batches 1 --profile]
--
-- --paper-bert: the paper's training step (issue 16) instead of the head's:
-- BERT-base (random weights, written as a Hugging Face directory into a
-- temporary directory removed at the end) fine-tuned on B=16 sentences of
-- 128 tokens with the MRE entity markers, cached ViT-B/16-384 tokens (577 x
-- 768 per picture, random) and the MG-VMoE head, all in the paper preset
-- (mgv.model{preset = "paper", task = "mre", ...}: K=8, proj 256, raw label
-- names through BERT, MG-VAT's r stepped on a fresh forward first); Adam
-- over every parameter. --profile prints mgv.profile of one step and of
-- one evaluation.
--
-- Prints one "key=value" per line (ms_per_step, samples_per_s, gflops,
-- sgemm_gflops, peak_rss_mb, eval_samples_per_s, ...) so scripts can grep
-- them. scripts/bench_torch.py is the same head in PyTorch; scripts/bench.sh
-- (make bench) runs both and prints the table.

local o = { batch = 16, ["text-len"] = 32, ["image-len"] = 50, hidden = 256, experts = 8,
            classes = 10, proj = 256, steps = 20, warmup = 3, threads = 0,
            ["eval-batches"] = 4, ["sgemm-reps"] = 5, seed = 0 }
local flags = { ["no-sgemm"] = true, ["paper-bert"] = true, profile = true }
local given = {}
local i = 1
while i <= #arg do
  local name = arg[i]:match("^%-%-([%w%-]+)$")
  if name and flags[name] then
    o[name] = true
  elseif name and o[name] ~= nil then
    local v = tonumber(arg[i + 1])
    if not v then error("bench.lua: --" .. name .. " needs a number", 0) end
    o[name] = math.tointeger(v) or v
    given[name] = true
    i = i + 1
  else
    error("bench.lua: unknown argument '" .. arg[i] .. "' (options: --batch --text-len "
          .. "--image-len --hidden --experts --classes --proj --steps --warmup --threads "
          .. "--eval-batches --sgemm-reps --no-sgemm --paper-bert --profile)", 0)
  end
  i = i + 1
end

if o["paper-bert"] then   -- its own defaults: a step takes seconds
  for k, v in pairs{ steps = 3, warmup = 1, ["eval-batches"] = 1 } do
    if not given[k] then o[k] = v end
  end
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

local function median(t)
  local s = { table.unpack(t) }
  table.sort(s)
  local n = #s
  return n % 2 == 1 and s[(n + 1) // 2] or (s[n // 2] + s[n // 2 + 1]) / 2
end

-- GFLOP/s of mgv.matmul (no grad, the result allocated) on the products of
-- a linear layer {rows, in, out}: forward X W^T and weight gradient Y^T X,
-- the best of --sgemm-reps each, over all the shapes given
local function matmul_rate(shapes)
  local flop, secs = 0, 0
  mgv.no_grad(function()
    for _, sh in ipairs(shapes) do
      local T, din, dout = sh[1], sh[2], sh[3]
      local X, W = mgv.randn(T, din), mgv.randn(dout, din)
      local Wt = W:transpose(1, 2)
      local best_f, best_b = math.huge, math.huge
      for _ = 1, o["sgemm-reps"] do
        local t0 = mgv.clock()
        local Y = X:matmul(Wt)                 -- forward: [T x din] [din x dout]
        best_f = math.min(best_f, mgv.clock() - t0)
        t0 = mgv.clock()
        local G = Y:transpose(1, 2):matmul(X)  -- weight gradient: [dout x T] [T x din]
        best_b = math.min(best_b, mgv.clock() - t0)
        Y, G = nil, nil
        collectgarbage()
      end
      flop = flop + 2 * 2 * T * din * dout
      secs = secs + best_f + best_b
    end
  end)
  return flop / secs / 1e9
end

-- ---- --paper-bert: the paper's training step ----------------------------------
-- The data, written into a temporary directory: a random BERT-base as a
-- Hugging Face directory, an MNRE-format data set of N sentences (two
-- batches) of more than 128 words, so every sequence is cut at 128 tokens,
-- each entity between its markers near the start, 22 relations, a GloVe of
-- the relation names' words (mgv.data.mre wants one), and the cached
-- picture tokens.
local function paper_bert()
  local Bp, Lp, Pp, H, Kp = o.batch, 128, 577, 768, 8
  local V, LAYERS, INTER = 28996, 12, 3072
  local Np = 2 * Bp
  local dir = os.tmpname()
  os.remove(dir)
  assert(os.execute("mkdir -p '" .. dir .. "/mnre'"), "bench.lua: cannot make " .. dir)
  local function write(name, text)
    local f = assert(io.open(dir .. "/" .. name, "w"))
    f:write(text)
    f:close()
  end
  local ds, model
  local ok, err = pcall(function()
    mgv.seed(o.seed)
    local bert = mgv.bert.new{ vocab_size = V, hidden = H, layers = LAYERS, heads = 12,
                               intermediate = INTER, max_position = 512, seed = o.seed }
    mgv.save(dir .. "/model.safetensors", bert:parameters())
    bert:free()
    bert = nil
    collectgarbage()
    write("config.json", string.format('{"model_type": "bert", "vocab_size": %d, "hidden_size": %d, '
      .. '"num_hidden_layers": %d, "num_attention_heads": 12, "intermediate_size": %d, '
      .. '"max_position_embeddings": 512, "type_vocab_size": 2, "layer_norm_eps": 1e-12, '
      .. '"hidden_act": "gelu", "hidden_dropout_prob": 0.1, '
      .. '"attention_probs_dropout_prob": 0.1}', V, H, LAYERS, INTER))
    local vocab = { "[PAD]" }
    for u = 1, 99 do vocab[#vocab + 1] = "[unused" .. u .. "]" end
    for _, w in ipairs{ "[UNK]", "[CLS]", "[SEP]", "[MASK]", "/" } do vocab[#vocab + 1] = w end
    local first_word = #vocab
    while #vocab < V do vocab[#vocab + 1] = "w" .. (#vocab - first_word) end
    write("vocab.txt", table.concat(vocab, "\n") .. "\n")
    local rng_words = V - first_word - 1
    -- MNRE's 22 relations (the zero-shot split gives 8 to train), 5
    -- sentences each; the benchmark trains on the first 2 B of train
    local lines = {}
    for s = 1, 22 * 5 do
      local words = {}
      for w = 1, 140 do words[w] = string.format("'w%d'", (s * 7919 + w * 104729) % rng_words) end
      local r = (s - 1) % 22
      lines[s] = string.format("{'token': [%s], 'h': {'name': 'a', 'pos': [0, 2]}, "
        .. "'t': {'name': 'b', 'pos': [3, 5]}, 'img_id': 'p%d.jpg', 'relation': '/w%d/w%d/w%d'}",
        table.concat(words, ", "), s, r + 1, (r * 3) % 40 + 1, (r * 7) % 40 + 1)
    end
    write("mnre/train.txt", table.concat(lines, "\n", 1, 66) .. "\n")
    write("mnre/val.txt", table.concat(lines, "\n", 67, 88) .. "\n")
    write("mnre/test.txt", table.concat(lines, "\n", 89, 110) .. "\n")
    local gl = {}
    for w = 1, 40 do gl[w] = string.format('"w%d": [%d, 1]', w, w) end
    write("glove.json", '{"dimensions": 2, "vectors": {' .. table.concat(gl, ", ") .. '}}')
    local task = mgv.data.mre{ dir = dir .. "/mnre", glove = mgv.glove.open(dir .. "/glove.json",
                               dir .. "/glove.bin") }
    ds = task.train
    if #ds < Np then error("bench.lua: --batch " .. Bp .. " is too large", 0) end
    -- the cached ViT tokens: a features file (the text entries are
    -- placeholders; a BERT model reads only the picture tokens)
    local fpath = dir .. "/vit.safetensors"
    mgv.save(fpath, { text = mgv.zeros(#ds, 1, H), entity = mgv.zeros(#ds, 1),
                      labels = mgv.zeros(ds.n_classes, 1), image = mgv.randn(#ds, Pp, H) * 0.5 })
    ds:load_features(fpath)
    model = mgv.model{ preset = "paper", task = "mre", bert = dir, images = true,
                       image = "features", seed = o.seed }
  end)
  os.execute("rm -rf '" .. dir .. "'")
  if not ok then error(err, 0) end
  collectgarbage()
  local C = ds.n_classes
  local batches = { {}, {} }
  for s = 1, Bp do batches[1][s], batches[2][s] = s, Bp + s end

  -- FLOPs of the GEMMs one step runs: the fresh forward that steps r (no
  -- tape) takes BERT over the B x 128 sentence tokens and the VIB-MoE over
  -- all T = B (L + P) tokens; the taped forward takes BERT over the
  -- sentences and the C x 16 label tokens, and the VIB-MoE over the text
  -- tokens only (the picture rows are the fresh forward's: same weights,
  -- same fixed features); backward: BERT's input and weight gradients, the
  -- VIB-MoE's weight gradient over all tokens and its input gradient over
  -- the text tokens (the picture features are not trained).
  local per_tok = 2 * LAYERS * (4 * H * H + 2 * H * INTER)
  local function bert(n, len) return n * len * per_tok + 2 * LAYERS * 2 * n * len * len * H end
  local sent, labels = bert(Bp, Lp), bert(C, 16)
  local T = Bp * (Lp + Pp)
  local vmoe_fwd = 2 * T * H * (Kp + 2 * Kp * H)
  local text_share = (Bp * Lp) / T
  local flops = sent + 3 * (sent + labels) + 2 * vmoe_fwd + 2 * vmoe_fwd * text_share
  local dist = mgv.dist.size() > 1
  if dist and mgv.dist.rank() > 0 then print = function() end end   -- rank 0 reports

  for s = 1, o.warmup do model:train_step(ds, batches[(s - 1) % 2 + 1]) end
  local times, last = {}, nil
  for s = 1, o.steps do
    local t0 = mgv.clock()
    last = model:train_step(ds, batches[(s - 1) % 2 + 1])
    times[s] = mgv.clock() - t0
  end
  local med = median(times)
  local train_rss = vmhwm_mb()
  local comm = mgv.dist.stats()
  local eval_s = math.huge
  for _ = 1, math.max(1, o["eval-batches"]) do
    local t0 = mgv.clock()
    model:predict(ds, { batch = Bp, count = 2 * Bp })
    eval_s = math.min(eval_s, mgv.clock() - t0)
  end
  if o.profile then
    print("-- one training step:")
    mgv.profile(function() model:train_step(ds, batches[1]) end)
    print("-- one evaluation of " .. 2 * Bp .. " samples:")
    mgv.profile(function() model:predict(ds, { batch = Bp, count = 2 * Bp }) end)
  end
  -- the SGEMM rate on BERT's large products and the VIB-MoE's
  local sgemm = 0
  if not o["no-sgemm"] then
    sgemm = matmul_rate({ { Bp * Lp, H, 3 * H }, { Bp * Lp, H, INTER }, { Bp * Lp, INTER, H } })
  end
  local n_params = 0
  for _, t in pairs(model:parameters()) do n_params = n_params + t:numel() end
  print(string.format("config: paper-bert B=%d L=%d P=%d d=%d K=%d C=%d params=%d threads=%d steps=%d",
                      Bp, Lp, Pp, H, Kp, C, n_params, o.threads, o.steps))
  print("simd_path=" .. mgv.simd())
  if dist then   -- the collectives of the timed steps (and the warm-up's: per step overall)
    local n = o.warmup + o.steps
    print(string.format("ranks=%d", mgv.dist.size()))
    print(string.format("comm_bytes_per_step=%.0f", comm.bytes / n))
    print(string.format("comm_ms_per_step=%.2f", comm.seconds / n * 1e3))
  end
  print(string.format("ms_per_step=%.2f", med * 1e3))
  print(string.format("ms_min=%.2f", math.min(table.unpack(times)) * 1e3))
  print(string.format("ms_max=%.2f", math.max(table.unpack(times)) * 1e3))
  print(string.format("samples_per_s=%.2f", Bp / med))
  print(string.format("gemm_gflop_per_step=%.3f", flops / 1e9))
  print(string.format("gflops=%.2f", flops / med / 1e9))
  if sgemm > 0 then print(string.format("sgemm_gflops=%.2f", sgemm)) end
  print(string.format("peak_rss_mb=%.1f", train_rss))
  print(string.format("eval_samples_per_s=%.2f", 2 * Bp / eval_s))
  print(string.format("loss=%.4f", last.loss))
end

if o["paper-bert"] then
  paper_bert()
  return
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
if o.profile then
  print("-- one training step:")
  mgv.profile(function() model:train_step(ds, batches[1]) end)
  print("-- one evaluation of " .. N .. " samples:")
  mgv.profile(function() model:predict(ds, { batch = B }) end)
end

-- ---- SGEMM rate of the dominant shapes, through mgv.matmul in no-grad mode ----
-- The engine stacks the text and image tokens of a batch, T = B (L + P) rows,
-- and multiplies them by the experts' weights (forward) and the gradient by
-- them (weight gradient). mgv.matmul: the engine's product, allocation of the
-- result included; scripts/sgemm_rate.c times bare cblas_sgemm on the same
-- shapes.
local sgemm = 0
if not o["no-sgemm"] then sgemm = matmul_rate({ { B * (L + P), d, 2 * K * d } }) end

-- ---- report ----------------------------------------------------------------------
print(string.format("config: B=%d L=%d P=%d d=%d K=%d C=%d proj=%d threads=%d steps=%d",
                    B, L, P, d, K, C, proj, o.threads, o.steps))
print("simd_path=" .. mgv.simd())
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
