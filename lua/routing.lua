-- routing.lua — looking inside MG-VMoE: model:route(ds, i) (each token's
-- gates and top expert), model:neighbours(ds, i, k) (a sample's strongest
-- edges in the MG-VAT graph over a pool of its split) and
-- mgv.routing_stats(model, ds) (expert usage by class and modality, gate
-- entropy, mutual information between top expert and class). All are Lua
-- over model:forward; the results print as aligned tables and give :html()
-- for notebooks. Their pictures are plot.gates, plot.ego and plot.bars
-- (plot.lua). Embedded into the binary; called by luaopen_mgv with (mgv, ...).

local M = ...

local function methods_of(class)
  return debug.getregistry()[class].__methods
end
local Model = methods_of("mgv.Model")

-------------------------------------------------------------------------------
-- tables as text and HTML
-------------------------------------------------------------------------------

-- rows (lists of strings) cut to their first and last `keep` when longer
-- than 2 keep + 4, with a row of "..." between.
local function summarise(rows, keep)
  if #rows <= 2 * keep + 4 then return rows end
  local out = {}
  for i = 1, keep do out[#out + 1] = rows[i] end
  local gap = {}
  for j = 1, #rows[1] do gap[j] = "..." end
  out[#out + 1] = gap
  for i = #rows - keep + 1, #rows do out[#out + 1] = rows[i] end
  return out
end

-- An aligned text table: columns as wide as their widest cell, text left
-- and numbers right aligned.
local function text_table(head, rows, keep)
  rows = summarise(rows, keep or 10)
  local width, numeric = {}, {}
  for j, h in ipairs(head) do
    width[j], numeric[j] = utf8.len(h) or #h, true
    for _, r in ipairs(rows) do
      local c = r[j]
      width[j] = math.max(width[j], utf8.len(c) or #c)
      if c ~= "..." and not tonumber(c) then numeric[j] = false end
    end
  end
  local function line(cells)
    local out = {}
    for j, c in ipairs(cells) do
      local pad = string.rep(" ", width[j] - (utf8.len(c) or #c))
      out[j] = numeric[j] and pad .. c or c .. pad
    end
    return "  " .. table.concat(out, "  "):gsub("%s+$", "")
  end
  local lines = { line(head) }
  for _, r in ipairs(rows) do lines[#lines + 1] = line(r) end
  return table.concat(lines, "\n")
end

local function escape(s)
  return (tostring(s):gsub("[&<>\"]", { ["&"] = "&amp;", ["<"] = "&lt;", [">"] = "&gt;", ['"'] = "&quot;" }))
end

-- A small HTML table with a caption (at most the first and last 50 rows).
local function html_table(caption, head, rows)
  rows = summarise(rows, 50)
  local out = { "<table>" }
  if caption then out[#out + 1] = "<caption>" .. escape(caption) .. "</caption>" end
  local cells = {}
  for j, h in ipairs(head) do cells[j] = "<th>" .. escape(h) .. "</th>" end
  out[#out + 1] = "<thead><tr>" .. table.concat(cells) .. "</tr></thead><tbody>"
  for _, r in ipairs(rows) do
    cells = {}
    for j, c in ipairs(r) do
      cells[j] = (tonumber(c) and '<td style="text-align:right">' or "<td>") .. escape(c) .. "</td>"
    end
    out[#out + 1] = "<tr>" .. table.concat(cells) .. "</tr>"
  end
  out[#out + 1] = "</tbody></table>"
  return table.concat(out)
end

local function class_of(ds, i)
  local inst = ds:instance(i)
  return inst.class, inst.label
end

local function argmax(row)
  local best, k = -math.huge, 1
  for j, v in ipairs(row) do
    if v > best then best, k = v, j end
  end
  return k
end

-- The rows of gates [n x K] (a tensor or nested table) with their argmax.
local function tops(rows)
  local top = {}
  for t, row in ipairs(rows) do top[t] = argmax(row) end
  return top
end

-- Item b of a forward output as {text = rows, image = rows or nil}: the
-- gates of the tokens the encoder saw, and of the patches when the sample
-- has a picture (its image usage is not all zero).
local function sample_gates(out, gt, gi, ui, b)
  local n = #out.tokens[b]
  local text = {}
  for t = 1, n do text[t] = gt[b][t] end
  local image
  if gi and ui then
    local s = 0
    for _, v in ipairs(ui[b]) do s = s + v end
    if s > 0.5 then image = gi[b] end
  end
  return text, image
end

local function check_index(ds, i, what)
  if math.type(i) ~= "integer" or i < 1 or i > #ds then
    error(string.format("%s: index %s is not in 1..%d", what, tostring(i), #ds), 3)
  end
end

-------------------------------------------------------------------------------
-- model:route
-------------------------------------------------------------------------------

local Route = {}
Route.__index = Route
M._Route = Route

local function gate_rows(names, gates, top)
  local rows = {}
  for t, g in ipairs(gates) do
    local r = { tostring(t), names[t], "E" .. top[t] }
    for k, v in ipairs(g) do r[3 + k] = string.format("%.3f", v) end
    rows[t] = r
  end
  return rows
end

local function gate_head(K, what)
  local head = { "pos", what, "top" }
  for k = 1, K do head[3 + k] = "E" .. k end
  return head
end

function Route:__tostring()
  local K = self.gates:size(2)
  local out = { string.format("route of sample %d: class %s, predicted %s; %d tokens, %d experts",
    self.index, self.class, self.pred, #self.tokens, K) }
  out[#out + 1] = text_table(gate_head(K, "token"), gate_rows(self.tokens, self.gates:totable(), self.top))
  if self.image then
    out[#out + 1] = string.format("image: %d patches", #self.image.tokens)
    out[#out + 1] = text_table(gate_head(K, "patch"),
      gate_rows(self.image.tokens, self.image.gates:totable(), self.image.top), 4)
  end
  return table.concat(out, "\n")
end

function Route:html()
  local K = self.gates:size(2)
  local cap = string.format("sample %d: class %s, predicted %s", self.index, self.class, self.pred)
  local s = html_table(cap, gate_head(K, "token"), gate_rows(self.tokens, self.gates:totable(), self.top))
  if self.image then
    s = s .. html_table("image patches", gate_head(K, "patch"),
      gate_rows(self.image.tokens, self.image.gates:totable(), self.image.top))
  end
  return s
end

--- model:route(ds, i [, {vocab = }]) -> route of sample i: its tokens as
-- text, gates [n x K], top experts, and the same for its image patches.
function Model.route(model, ds, i, opts)
  check_index(ds, i, "route")
  opts = opts or {}
  local vocab = opts.vocab or ds.vocab
  local out = model:forward(ds, { i }, { loss = false })
  local gi = out.gate_image and out.gate_image:totable()
  local ui = out.usage_image and out.usage_image:totable()
  local text, image = sample_gates(out, out.gate_text:totable(), gi, ui, 1)
  local names = {}
  for t, id in ipairs(out.tokens[1]) do names[t] = M._token_name(id, vocab) end
  local classes = ds:classes()
  local class, label = class_of(ds, i)
  local pred = argmax(out.scores:totable()[1])
  local r = setmetatable({ index = i, class = class, label = label, pred = classes[pred],
    pred_label = pred, tokens = names, ids = out.tokens[1], gates = M.tensor(text),
    top = tops(text) }, Route)
  if image then
    local patches = {}
    for t = 1, #image do patches[t] = "patch " .. t end
    r.image = { tokens = patches, gates = M.tensor(image), top = tops(image) }
  end
  return r
end

-------------------------------------------------------------------------------
-- model:neighbours
-------------------------------------------------------------------------------

local Neighbours = {}
Neighbours.__index = Neighbours

local function neighbour_rows(self)
  local rows = {}
  for r, e in ipairs(self) do
    rows[r] = { tostring(r), tostring(e.index), e.class, string.format("%.4f", e.weight) }
  end
  return rows
end
local NEIGHBOUR_HEAD = { "rank", "index", "class", "weight" }

function Neighbours:__tostring()
  return string.format("the %d strongest edges of sample %d (class %s) among %d samples:\n",
    #self, self.index, self.class, self.pool) .. text_table(NEIGHBOUR_HEAD, neighbour_rows(self))
end

function Neighbours:html()
  return html_table(string.format("neighbours of sample %d (class %s) among %d samples",
    self.index, self.class, self.pool), NEIGHBOUR_HEAD, neighbour_rows(self))
end

-- n distinct indices of 1..N without `skip`, drawn with a seeded generator
-- of our own (the global math.random stays untouched).
local function sample_pool(N, skip, n, seed)
  local all = {}
  for j = 1, N do
    if j ~= skip then all[#all + 1] = j end
  end
  if n >= #all then return all end
  local x = (seed or 0) * 2654435761 + 0x9E3779B97F4A7C15
  for j = 1, n do
    x = x * 6364136223846793005 + 1442695040888963407
    local r = j + ((x >> 33) % (#all - j + 1))
    all[j], all[r] = all[r], all[j]
  end
  local pool = table.move(all, 1, n, 1, {})
  table.sort(pool)
  return pool
end

--- model:neighbours(ds, i [, k = 8 [, {pool = N, seed = 0, batch = 64}]])
-- The k samples with the strongest edges G_ij = (cos(g_i, g_j) + 1) / 2 to
-- sample i in the graph over i and a pool of other samples of ds (all of
-- them when at most 512, else a seeded sample of 512), strongest first.
function Model.neighbours(model, ds, i, k, opts)
  check_index(ds, i, "neighbours")
  k = k or 8
  opts = opts or {}
  if math.type(k) ~= "integer" or k < 1 then error("neighbours: k must be a positive integer", 2) end
  local N = opts.pool or 512
  if math.type(N) ~= "integer" or N < 1 then error("neighbours: pool must be a positive integer", 2) end
  local pool = sample_pool(#ds, i, N, opts.seed)
  if #pool == 0 then error("neighbours: the data set has no other sample", 2) end
  local batch = opts.batch or 64
  local idx = { i }
  table.move(pool, 1, #pool, 2, idx)
  -- node vectors g in batches: g_j does not depend on the other samples of
  -- its batch in evaluation mode, so the graph is the one over all of idx
  local parts = {}
  for first = 1, #idx, batch do
    local out = model:forward(ds, table.move(idx, first, math.min(first + batch - 1, #idx), 1, {}),
      { loss = false })
    if not out.g then
      error("neighbours: the model builds no graph (MG-VAT needs the image side; this model is text-only)", 2)
    end
    parts[#parts + 1] = out.g
  end
  local g = M.cat(parts, 1)
  local w = ((g[1]:unsqueeze(1):cosine_similarity(g) + 1) * 0.5):totable()
  local order = {}
  for j = 2, #idx do order[#order + 1] = j end
  table.sort(order, function(a, b)
    if w[a] ~= w[b] then return w[a] > w[b] end
    return idx[a] < idx[b]
  end)
  local class = class_of(ds, i)
  local res = setmetatable({ index = i, class = class, pool = #pool }, Neighbours)
  for r = 1, math.min(k, #order) do
    local j = idx[order[r]]
    local c, label = class_of(ds, j)
    res[r] = { index = j, class = c, label = label, weight = w[order[r]] }
  end
  return res
end

-------------------------------------------------------------------------------
-- mgv.routing_stats
-------------------------------------------------------------------------------

local Stats = {}
Stats.__index = Stats
M._RoutingStats = Stats

-- Per-modality statistics over tokens: rows[c] lists the gate rows of the
-- tokens of class c's samples.
local function modality_stats(by_class, C, K)
  local n, usage, entropy = 0, {}, 0
  local class_usage, joint, ntok = {}, {}, {}
  for k = 1, K do usage[k] = 0 end
  for c = 1, C do
    class_usage[c], joint[c], ntok[c] = {}, {}, 0
    for k = 1, K do class_usage[c][k], joint[c][k] = 0, 0 end
    for _, row in ipairs(by_class[c] or {}) do
      local h = 0
      for k, v in ipairs(row) do
        class_usage[c][k] = class_usage[c][k] + v
        if v > 0 then h = h - v * math.log(v) end
      end
      local t = argmax(row)
      joint[c][t] = joint[c][t] + 1
      ntok[c] = ntok[c] + 1
      entropy = entropy + h
    end
    n = n + ntok[c]
    for k = 1, K do usage[k] = usage[k] + class_usage[c][k] end
  end
  if n == 0 then return nil end
  -- I(top; class) = sum p(c, e) log(p(c, e) / (p(c) p(e))), in nats
  local pe = {}
  for k = 1, K do
    pe[k] = 0
    for c = 1, C do pe[k] = pe[k] + joint[c][k] / n end
  end
  local mi = 0
  for c = 1, C do
    for k = 1, K do
      local p = joint[c][k] / n
      if p > 0 then mi = mi + p * math.log(p / ((ntok[c] / n) * pe[k])) end
    end
  end
  for k = 1, K do usage[k] = usage[k] / n end
  for c = 1, C do
    for k = 1, K do class_usage[c][k] = ntok[c] > 0 and class_usage[c][k] / ntok[c] or 0 / 0 end
  end
  return { tokens = n, usage = usage, by_class = M.tensor(class_usage), top_counts = joint,
           class_tokens = ntok, entropy = entropy / n, mi = math.max(mi, 0) }
end

local function fmt3(v) return v ~= v and "-" or string.format("%.3f", v) end

local function summary_rows(self)
  local rows = {}
  for _, m in ipairs({ "text", "image" }) do
    local s = self[m]
    if s then
      local r = { m, tostring(s.tokens), fmt3(s.entropy), fmt3(s.mi) }
      for k = 1, self.experts do r[4 + k] = fmt3(s.usage[k]) end
      rows[#rows + 1] = r
    end
  end
  local head = { "modality", "tokens", "entropy", "MI(top;class)" }
  for k = 1, self.experts do head[4 + k] = "E" .. k end
  return head, rows
end

local function class_rows(self, m)
  local s, rows = self[m], {}
  local u = s.by_class:totable()
  for c, name in ipairs(self.classes) do
    if s.class_tokens[c] > 0 then
      local r = { name, tostring(s.class_tokens[c]) }
      for k = 1, self.experts do r[2 + k] = fmt3(u[c][k]) end
      r[#r + 1] = "E" .. argmax(s.top_counts[c])
      rows[#rows + 1] = r
    end
  end
  local head = { "class", "tokens" }
  for k = 1, self.experts do head[2 + k] = "E" .. k end
  head[#head + 1] = "top"
  return head, rows
end

function Stats:__tostring()
  local out = { string.format("routing over %d samples, %d classes, %d experts " ..
    "(entropy and MI in nats; log K = %.3f)", self.samples, #self.classes, self.experts,
    math.log(self.experts)) }
  out[#out + 1] = text_table(summary_rows(self))
  for _, m in ipairs({ "text", "image" }) do
    if self[m] then
      out[#out + 1] = "mean gate per class (" .. m .. "):"
      out[#out + 1] = text_table(class_rows(self, m))
    end
  end
  return table.concat(out, "\n")
end

function Stats:html()
  local h, r = summary_rows(self)
  local s = html_table(string.format("routing over %d samples (entropy and MI in nats)",
    self.samples), h, r)
  for _, m in ipairs({ "text", "image" }) do
    if self[m] then
      h, r = class_rows(self, m)
      s = s .. html_table("mean gate per class (" .. m .. ")", h, r)
    end
  end
  return s
end

--- stats:plot([opts]): mean gate per class and expert as grouped bars, one
-- panel per modality (mgv.plot.bars(stats) does the same).
function Stats:plot(opts)
  local panels = {}
  for _, m in ipairs({ "text", "image" }) do
    local s = self[m]
    if s then
      local o = {}
      for key, v in pairs(opts or {}) do o[key] = v end
      local rows, labels, u = {}, {}, s.by_class:totable()
      for c, name in ipairs(self.classes) do
        if s.class_tokens[c] > 0 then
          rows[#rows + 1] = u[c]
          labels[#labels + 1] = name
        end
      end
      o.labels = o.labels or labels
      if not o.series then
        o.series = {}
        for k = 1, self.experts do o.series[k] = "E" .. k end
      end
      o.title = (o.title and o.title .. ": " or "") .. m .. " gates per class"
      o.ylabel = o.ylabel or "mean gate"
      if o.min == nil and o.max == nil then o.min, o.max = 0, 1 end
      panels[#panels + 1] = M.plot.bars(rows, o)
    end
  end
  return M.plot.join(panels, { vertical = true })
end

--- mgv.routing_stats(model, ds [, {batch = 64}]) or mgv.routing_stats(routes)
function M.routing_stats(model, ds, opts)
  local records, classes = {}, {}
  if getmetatable(model) ~= nil or ds ~= nil then
    opts = opts or {}
    local batch = opts.batch or 64
    classes = ds:classes()
    local labels = ds:labels()
    for first = 1, #ds, batch do
      local idx = {}
      for j = first, math.min(first + batch - 1, #ds) do idx[#idx + 1] = j end
      local out = model:forward(ds, idx, { loss = false })
      local gt = out.gate_text:totable()
      local gi = out.gate_image and out.gate_image:totable()
      local ui = out.usage_image and out.usage_image:totable()
      for b, j in ipairs(idx) do
        local text, image = sample_gates(out, gt, gi, ui, b)
        records[#records + 1] = { label = labels[j], text = text, image = image }
      end
    end
  else
    -- a list of routes (or tables like them: class, gates, image.gates)
    if type(model) ~= "table" or #model == 0 then
      error("routing_stats: expected (model, ds) or a list of routes", 2)
    end
    local seen = {}
    for _, r in ipairs(model) do
      if seen[r.class] == nil then
        classes[#classes + 1] = r.class
        seen[r.class] = #classes
      end
      local g = r.gates
      records[#records + 1] = { label = seen[r.class], text = M.is_tensor(g) and g:totable() or g,
        image = r.image and (M.is_tensor(r.image.gates) and r.image.gates:totable() or r.image.gates) }
    end
  end
  local K = #records[1].text[1]
  local stats = setmetatable({ samples = #records, classes = classes, experts = K,
    units = "nats" }, Stats)
  for _, m in ipairs({ "text", "image" }) do
    local by_class = {}
    for _, rec in ipairs(records) do
      local rows = by_class[rec.label] or {}
      by_class[rec.label] = rows
      for _, row in ipairs(rec[m] or {}) do rows[#rows + 1] = row end
    end
    stats[m] = modality_stats(by_class, #classes, K)
  end
  return stats
end
