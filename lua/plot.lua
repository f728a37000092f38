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

--- gates(out, i [, vocab [, opts]]): the gates of item i as a heatmap,
-- tokens x experts, rows labelled with the words (vocab[token id]).
-- opts: heatmap options, plus image = true for the image tokens' gates.
-- the text encoder's special tokens (engine/nn/text_encoder.h MGV_TOK_*)
local SPECIAL = { [-1] = "[UNK]", [-2] = "[CLS]", [-3] = "[E]", [-4] = "[/E]", [-5] = "[E1]",
                  [-6] = "[/E1]", [-7] = "[E2]", [-8] = "[/E2]", [0] = "[UNK]" }

function P.gates(out, i, vocab, opts)
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
      else
        local id = toks and toks[t]
        rows[t] = (vocab and id and vocab[id]) or (id and SPECIAL[id]) or (id and ("#" .. id))
          or tostring(t)
      end
    end
    opts.rows = rows
  end
  if not opts.cols then
    local cols = {}
    for k = 1, g:size(2) do cols[k] = "E" .. k end
    opts.cols = cols
  end
  opts.title = opts.title or string.format("%s gates of item %d", image and "image" or "text", i)
  opts.xlabel = opts.xlabel or "expert"
  return P.heatmap(g, opts)
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
-- (or the infos given to on_epoch): train loss and validation macro/micro-F1.
function P.history(h, opts)
  opts = copy(opts)
  if type(h) == "table" and h.history then h = h.history end
  if type(h) ~= "table" or #h == 0 then error("plot.history: no epochs to draw", 2) end
  local x, loss, macro, micro = {}, {}, {}, {}
  for i, e in ipairs(h) do
    x[i] = e.epoch or i
    loss[i] = e.train and e.train.loss or e.loss or 0 / 0
    macro[i] = e.val_macro_f1 or 0 / 0
    micro[i] = e.val_micro_f1 or 0 / 0
  end
  opts.x = opts.x or x
  opts.series = opts.series or { "train loss", "val macro-F1", "val micro-F1" }
  opts.title = opts.title or "training"
  opts.xlabel = opts.xlabel or "epoch"
  return P.lines({ loss, macro, micro }, opts)
end

-------------------------------------------------------------------------------
-- help texts
-------------------------------------------------------------------------------
local docs = M._docs
if docs then
  local function doc(name, sig, text, example)
    docs[name] = { sig = sig, text = text, example = example }
  end
  local save = "\nlocal path = os.tmpname() .. '.png'\np:save(path)\nos.remove(path)"
  doc("mgv.plot", "mgv.plot",
    "Pictures as objects: heatmap, bars, lines, scatter, graph, image, and from model outputs " ..
    "gates, usage, history. Each returns an mgv.Plot with p:save(path) (PNG), p:png() (the bytes), " ..
    "p:size() and p:pixel(x, y); in a notebook display(p), or a cell ending in p, shows it inline.",
    "local p = mgv.plot.heatmap(mgv.rand(3, 4))\nprint(p:size())" .. save)
  doc("mgv.plot.heatmap", "mgv.plot.heatmap(t [, {rows=, cols=, title=, xlabel=, ylabel=, min=, max=, cell=, font=}])",
    "A 2-d tensor (or table of rows) as coloured cells with a colour scale. rows/cols label the " ..
    "rows and columns (default 1..n); min/max fix the colour range (default: the data's); cell is " ..
    "the cell size in pixels; font the text scale 1..4. NaN shows grey.",
    "local p = mgv.plot.heatmap(mgv.rand(4, 3), {rows = {'a', 'b', 'c', 'd'}, title = 'gates'})" .. save)
  doc("mgv.plot.bars", "mgv.plot.bars(values [, {labels=, series=, title=, xlabel=, ylabel=, min=, max=, font=}])",
    "Bars from zero: a 1-d tensor or table gives one bar per value; a 2-d one [groups x series] " ..
    "gives a group of bars per row, with series naming the legend.",
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
  doc("mgv.plot.graph", "mgv.plot.graph(G [, labels [, {names=, classes=, threshold=, title=, font=}]])",
    "The weighted graph G [n x n] as nodes on a circle grouped by class (labels: a class per " ..
    "node) with edges drawn by weight; edges inside a class take its colour. names labels the " ..
    "nodes; threshold hides edges below that fraction of the largest (default 0.05).",
    "local G = mgv.rand(6, 6)\nlocal p = mgv.plot.graph(G, {1, 1, 2, 2, 3, 3}, {classes = {'a', 'b', 'c'}})" .. save)
  doc("mgv.plot.image", "mgv.plot.image(t [, {lo=, hi=}])",
    "A picture tensor [3, H, W], [1, H, W] or [H, W]; values lo..hi map to black..white " ..
    "(default 0..255, or -1..1 / 0..1 when the values lie there).",
    "local p = mgv.plot.image(mgv.rand(3, 8, 8))" .. save)
  doc("mgv.plot.gates", "mgv.plot.gates(out, i [, vocab [, opts]])",
    "The gates of batch item i from model:forward's output as a heatmap tokens x experts, rows " ..
    "labelled with vocab[token id] (task.vocab). opts: heatmap options, image = true for the " ..
    "image tokens.",
    "local out = {gate_text = mgv.rand(2, 4, 3), tokens = {{1, 2, 3}, {2, 3}}}\n" ..
    "local p = mgv.plot.gates(out, 1, {'the', 'cat', 'sat'})" .. save)
  doc("mgv.plot.usage", "mgv.plot.usage(out, labels [, opts])",
    "Mean expert usage per class: out.usage_text [B x K] averaged over the items of each class " ..
    "(labels: the class of each item) as grouped bars. opts: bars options, image = true.",
    "local out = {usage_text = mgv.rand(4, 3)}\nlocal p = mgv.plot.usage(out, {'org', 'per', 'org', 'per'})" .. save)
  doc("mgv.plot.history", "mgv.plot.history(h [, opts])",
    "Training curves (train loss, validation macro- and micro-F1 per epoch) from mgv.train's " ..
    "result (or its history, or the infos on_epoch receives). In a notebook, " ..
    "update_display(id, mgv.plot.history(h)) in on_epoch redraws it live.",
    "local h = {{epoch = 1, train = {loss = 1.2}, val_macro_f1 = 0.3, val_micro_f1 = 0.4},\n" ..
    "           {epoch = 2, train = {loss = 0.8}, val_macro_f1 = 0.5, val_micro_f1 = 0.55}}\n" ..
    "local p = mgv.plot.history(h)" .. save)
end
