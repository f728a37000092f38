-- plot.lua — the pure-Lua part of mgv.plot: routing pictures made from
-- model:forward outputs (gates, usage), training curves (history), and the
-- help texts of mgv.plot, added to help.lua's documentation table so that
-- mgv.help("plot.heatmap") and the notebook's ?mgv.plot.heatmap find them.
-- The charts themselves are C (lua/lplot.c over engine/formats/plot.c).
-- Embedded into the binary; called by luaopen_mgv with (mgv, mgv.Tensor, meta).

local M = ...
local P = M.plot

local function copy(t)
  local c = {}
  for k, v in pairs(t or {}) do c[k] = v end
  return c
end

local function value(t, i)
  if M.is_tensor(t) then return t:get(i) end
  return t[i]
end

-- the text encoder's special tokens (engine/nn/text_encoder.h MGV_TOK_*)
local SPECIAL = { [-1] = "[UNK]", [-2] = "[CLS]", [-3] = "[E]", [-4] = "[/E]", [-5] = "[E1]",
                  [-6] = "[/E1]", [-7] = "[E2]", [-8] = "[/E2]", [0] = "[UNK]" }

-- The text of token id (as model:forward's out.tokens gives it): a word of
-- vocab, a special token's name, or "#id". Shared with routing.lua.
function M._token_name(id, vocab)
  return (vocab and id > 0 and vocab[id]) or SPECIAL[id] or ("#" .. id)
end

local function expert_names(K)
  local cols = {}
  for k = 1, K do cols[k] = "E" .. k end
  return cols
end

-- The heatmap of one route (model:route): text tokens, or with image = true
-- the patches, x experts, on 0..1 unless min/max say otherwise.
local function route_gates(r, opts, image)
  local part = image and r.image or r
  if not part then error("plot.gates: sample " .. r.index .. " has no image part", 3) end
  opts.rows = opts.rows or part.tokens
  opts.cols = opts.cols or expert_names(part.gates:size(2))
  if opts.min == nil and opts.max == nil then opts.min, opts.max = 0, 1 end
  opts.title = opts.title or string.format("%s#%d: %s, predicted %s", image and "image " or "",
    r.index, r.class, r.pred)
  opts.xlabel = opts.xlabel or "expert"
  return P.heatmap(part.gates, opts)
end

--- gates(route [, other_route] [, opts]) or gates(out, i [, vocab [, opts]]):
-- a route from model:route as a heatmap tokens x experts on a fixed 0..1
-- scale titled with its index and classes, two routes side by side; or, from
-- model:forward's output, the gates of batch item i with rows labelled by
-- vocab[token id]. opts: heatmap options, plus image = true for the image
-- tokens' gates.
function P.gates(out, i, vocab, opts)
  if getmetatable(out) == M._Route then
    local other = getmetatable(i) == M._Route and i or nil
    if other then opts = copy(vocab) else opts = copy(i) end
    local image = opts.image
    opts.image = nil
    local a = route_gates(out, copy(opts), image)
    if not other then return a end
    return P.join({ a, route_gates(other, copy(opts), image) })
  end
  opts = copy(opts)
  local image = opts.image
  opts.image = nil
  local g = image and out.gate_image or out.gate_text
  if g == nil then error("plot.gates: the output has no " .. (image and "gate_image" or "gate_text"), 2) end
  g = g[i]
  local toks = (not image) and out.tokens and out.tokens[i]
  local n = toks and math.min(#toks, g:size(1)) or g:size(1)
  if n < g:size(1) then g = g:slice(1, 1, n) end
  if not opts.rows then
    local rows = {}
    for t = 1, n do
      if image then rows[t] = "patch " .. t
      elseif toks and toks[t] then rows[t] = M._token_name(toks[t], vocab)
      else rows[t] = tostring(t) end
    end
    opts.rows = rows
  end
  opts.cols = opts.cols or expert_names(g:size(2))
  if opts.min == nil and opts.max == nil then opts.min, opts.max = 0, 1 end
  opts.title = opts.title or string.format("%s gates of item %d", image and "image" or "text", i)
  opts.xlabel = opts.xlabel or "expert"
  return P.heatmap(g, opts)
end

--- bars(values [, opts]) as in C, or bars(stats [, opts]) for
-- mgv.routing_stats's result (stats:plot).
local c_bars = P.bars
function P.bars(v, opts)
  if getmetatable(v) == M._RoutingStats then return v:plot(opts) end
  return c_bars(v, opts)
end

--- usage(out, labels [, opts]): mean expert usage per class as grouped bars
-- (out.usage_text [B x K] averaged over the items of each class).
-- labels: the class of each item (numbers or strings, a table or tensor).
-- opts: bars options, plus image = true for usage_image.
function P.usage(out, labels, opts)
  opts = copy(opts)
  local image = opts.image
  opts.image = nil
  local u = image and out.usage_image or out.usage_text
  if u == nil then error("plot.usage: the output has no usage", 2) end
  local B, K = u:size(1), u:size(2)
  local sums, counts, order = {}, {}, {}
  for b = 1, B do
    local c = value(labels, b)
    if c == nil then error("plot.usage: no label for item " .. b, 2) end
    if not sums[c] then
      order[#order + 1] = c
      sums[c], counts[c] = {}, 0
      for k = 1, K do sums[c][k] = 0 end
    end
    counts[c] = counts[c] + 1
    for k = 1, K do sums[c][k] = sums[c][k] + u:get(b, k) end
  end
  table.sort(order, function(a, b)
    if type(a) == type(b) then return a < b end
    return type(a) == "number"
  end)
  local rows, names = {}, {}
  for r, c in ipairs(order) do
    rows[r] = {}
    for k = 1, K do rows[r][k] = sums[c][k] / counts[c] end
    names[r] = tostring(c)
  end
  if not opts.labels then opts.labels = names end
  if not opts.series then
    local s = {}
    for k = 1, K do s[k] = "E" .. k end
    opts.series = s
  end
  opts.title = opts.title or "mean expert usage per class"
  opts.ylabel = opts.ylabel or "usage"
  return P.bars(rows, opts)
end

--- history(h [, opts]): training curves from mgv.train's result.history
-- (or the infos given to on_epoch) in two panels: the training losses (total
-- and, when recorded, its terms), and validation macro/micro-F1 on 0..1.
-- opts: lines options (title names the whole; width, height, font per panel).
function P.history(h, opts)
  opts = copy(opts)
  if type(h) == "table" and h.history then h = h.history end
  if type(h) ~= "table" or #h == 0 then error("plot.history: no epochs to draw", 2) end
  local x, macro, micro = {}, {}, {}
  local terms = { "loss", "rank", "vmoe", "nce", "mg" }
  local losses, have = {}, {}
  for _, t in ipairs(terms) do losses[t] = {} end
  for i, e in ipairs(h) do
    x[i] = e.epoch or i
    local tr = e.train or e
    for _, t in ipairs(terms) do
      local v = tr[t]
      losses[t][i] = type(v) == "number" and v or 0 / 0
      if type(v) == "number" and (t == "loss" or v ~= 0) then have[t] = true end
    end
    macro[i] = e.val_macro_f1 or 0 / 0
    micro[i] = e.val_micro_f1 or 0 / 0
  end
  local ys, names = {}, {}
  for _, t in ipairs(terms) do
    if have[t] or t == "loss" then
      ys[#ys + 1] = losses[t]
      names[#names + 1] = t == "loss" and "train loss" or t
    end
  end
  local title = opts.title
  opts.title, opts.x = nil, opts.x or x
  local a = copy(opts)
  a.title, a.series, a.ylabel, a.xlabel = title and (title .. ": losses") or "training losses", names, "loss", "epoch"
  local b = copy(opts)
  b.title, b.series, b.ylabel, b.xlabel = "validation F1", { "macro-F1", "micro-F1" }, "F1", "epoch"
  b.min, b.max = 0, 1   -- F1 on its own scale; opts.min / max are the losses'
  return P.join({ P.lines(ys, a), P.lines({ macro, micro }, b) }, { vertical = true })
end

--- ego(model, ds, i [, {k = 8, pool = N, seed = 0, font =, title =, classes =}]):
-- sample i in the centre of its k strongest edges in the MG-VAT graph over
-- a pool of its split (model:neighbours), nodes numbered by data set index
-- and coloured by class, edge width by weight.
function P.ego(model, ds, i, opts)
  opts = copy(opts)
  local nb = model:neighbours(ds, i, opts.k or 8, { pool = opts.pool, seed = opts.seed })
  opts.k, opts.pool, opts.seed = nil, nil, nil
  local n = #nb + 1
  local G, names, labels = {}, { tostring(nb.index) }, { nb.class }
  for a = 1, n do
    G[a] = {}
    for b = 1, n do G[a][b] = 0 end
  end
  for j, e in ipairs(nb) do
    G[1][j + 1], G[j + 1][1] = e.weight, e.weight
    names[j + 1], labels[j + 1] = tostring(e.index), e.class
  end
  opts.names, opts.center, opts.top = names, 1, 0
  opts.title = opts.title or string.format("#%d %s: %d strongest of %d", nb.index, nb.class, #nb, nb.pool)
  return P.graph(G, labels, opts)
end

-------------------------------------------------------------------------------
-- help texts
-------------------------------------------------------------------------------
local docs = M._docs
if docs then
  local function doc(name, sig, text, example)
    docs[name] = { sig = sig, text = text, example = example }
  end
  local save = "\nlocal path = os.tmpname()\np:save(path)\nos.remove(path)"
  doc("mgv.plot", "mgv.plot",
    "Pictures as objects: heatmap, bars, lines, scatter, graph, image, join, and from model " ..
    "outputs gates, usage, history, ego. Each returns an mgv.Plot with p:save(path) (PNG), p:png() (the bytes), " ..
    "p:size() and p:pixel(x, y); in a notebook display(p), or a cell ending in p, shows it inline.",
    "local p = mgv.plot.heatmap(mgv.rand(3, 4))\nprint(p:size())" .. save)
  doc("mgv.plot.heatmap", "mgv.plot.heatmap(t [, {rows=, cols=, title=, xlabel=, ylabel=, min=, max=, cell=, font=}])",
    "A 2-d tensor (or table of rows) as coloured cells with a colour scale. rows/cols label the " ..
    "rows and columns (default 1..n); min/max fix the colour range (default: the data's); cell is " ..
    "the cell size in pixels; font the text scale 1..4. NaN shows grey.",
    "local p = mgv.plot.heatmap(mgv.rand(4, 3), {rows = {'a', 'b', 'c', 'd'}, title = 'gates'})" .. save)
  doc("mgv.plot.bars", "mgv.plot.bars(values [, {labels=, series=, title=, xlabel=, ylabel=, min=, max=, font=}])",
    "Bars from zero: a 1-d tensor or table gives one bar per value; a 2-d one [groups x series] " ..
    "gives a group of bars per row, with series naming the legend. bars(stats) draws " ..
    "mgv.routing_stats's mean gate per class and expert, a panel per modality (stats:plot()).",
    "local p = mgv.plot.bars({{0.2, 0.8}, {0.6, 0.4}}, {labels = {'org', 'per'}, series = {'p', 'p~'}})" .. save)
  doc("mgv.plot.lines", "mgv.plot.lines(ys [, {x=, series=, title=, xlabel=, ylabel=, min=, max=, width=, height=, font=}])",
    "Line charts: a sequence, a 2-d tensor (one line per row), a list of sequences (any lengths) " ..
    "or named sequences {loss = {...}, f1 = {...}}. x gives the x values (default 1..n); NaN " ..
    "(0/0) leaves a gap.",
    "local p = mgv.plot.lines({loss = {1, 0.6, 0.4}, f1 = {0.2, 0.5, 0.6}}, {xlabel = 'epoch'})" .. save)
  doc("mgv.plot.scatter", "mgv.plot.scatter(x, y [, {labels=, classes=, diagonal=, title=, xlabel=, ylabel=, font=}])",
    "Points (x[i], y[i]), coloured by labels (a class per point: integers, or strings). classes " ..
    "names the classes; diagonal = true draws y = x with equal axes (p against p~).",
    "local p = mgv.plot.scatter({0.1, 0.5, 0.9}, {0.2, 0.4, 0.8}, {diagonal = true, xlabel = 'p', ylabel = 'p~'})" .. save)
  doc("mgv.plot.graph", "mgv.plot.graph(G [, labels [, {names=, classes=, top = 3, threshold=, center=, title=, font=}]])",
    "The weighted graph G [n x n] as nodes on a circle grouped by class (labels: a class per " ..
    "node), numbered 1..n (names gives other names), with each node's top strongest edges " ..
    "(top = 0: all) drawn wider and darker the stronger they are; edges inside a class take its " ..
    "colour. threshold hides edges below that fraction of the largest (default 0.05); center = " ..
    "j puts node j in the middle. mgv.plot.ego draws one sample's neighbourhood.",
    "local G = mgv.rand(6, 6)\nlocal p = mgv.plot.graph(G, {1, 1, 2, 2, 3, 3}, {classes = {'a', 'b', 'c'}, top = 2})" .. save)
  doc("mgv.plot.ego", "mgv.plot.ego(model, ds, i [, {k = 8, pool = 512, seed = 0, classes=, title=, font=}])",
    "Sample i of ds in the centre of its k strongest edges in the MG-VAT graph over i and a " ..
    "pool of other samples of ds (model:neighbours): nodes numbered by data set index and " ..
    "coloured by class (legend), edge width by weight.",
    "local task = mgv.data.synth{per_class = 4}\n" ..
    "local model = mgv.model{words = task.words, hidden = 16, heads = 2, experts = 2, proj = 16}\n" ..
    "local p = mgv.plot.ego(model, task.test, 1, {k = 5})" .. save)
  doc("mgv.plot.join", "mgv.plot.join({p, q, ...} [, {vertical = false}])",
    "One picture of several, side by side (vertical = true: stacked), e.g. two gate heatmaps.",
    "local p = mgv.plot.join({mgv.plot.bars({1, 2}), mgv.plot.bars({2, 1})})" .. save)
  doc("mgv.plot.image", "mgv.plot.image(t [, {lo=, hi=}])",
    "A picture tensor [3, H, W], [1, H, W] or [H, W]; values lo..hi map to black..white " ..
    "(default 0..255, or -1..1 / 0..1 when the values lie there).",
    "local p = mgv.plot.image(mgv.rand(3, 8, 8))" .. save)
  doc("mgv.plot.gates", "mgv.plot.gates(route [, other_route] [, opts]) or mgv.plot.gates(out, i [, vocab [, opts]])",
    "Gate heatmaps, tokens x experts, on a fixed 0..1 colour scale (min/max change it) so that " ..
    "pictures compare by eye. From model:route results: titled with the data set index, the " ..
    "gold and the predicted class; two routes side by side. From model:forward's output: batch " ..
    "item i, rows labelled with vocab[token id] (task.vocab). opts: heatmap options, image = " ..
    "true for the image patches.",
    "local task = mgv.data.synth{per_class = 4}\n" ..
    "local model = mgv.model{words = task.words, hidden = 16, heads = 2, experts = 2, proj = 16}\n" ..
    "local p = mgv.plot.gates(model:route(task.test, 1), model:route(task.test, 2))" .. save)
  doc("mgv.plot.usage", "mgv.plot.usage(out, labels [, opts])",
    "Mean expert usage per class: out.usage_text [B x K] averaged over the items of each class " ..
    "(labels: the class of each item) as grouped bars. opts: bars options, image = true.",
    "local out = {usage_text = mgv.rand(4, 3)}\nlocal p = mgv.plot.usage(out, {'org', 'per', 'org', 'per'})" .. save)
  doc("mgv.plot.history", "mgv.plot.history(h [, opts])",
    "Training curves in two panels: the training losses per epoch (total, and the ranking, " ..
    "VIB-MoE, InfoNCE and MG-VAT terms when they are not zero) and validation macro- and " ..
    "micro-F1 on 0..1, from mgv.train's result (or its history, or the infos on_epoch " ..
    "receives). opts: lines options for both panels (font, width, height; min/max for the " ..
    "losses). In a notebook, update_display(id, mgv.plot.history(h)) in on_epoch redraws it live.",
    "local h = {{epoch = 1, train = {loss = 1.2}, val_macro_f1 = 0.3, val_micro_f1 = 0.4},\n" ..
    "           {epoch = 2, train = {loss = 0.8}, val_macro_f1 = 0.5, val_micro_f1 = 0.55}}\n" ..
    "local p = mgv.plot.history(h, {font = 1})" .. save)
end
