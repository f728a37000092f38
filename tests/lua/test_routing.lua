-- test_routing.lua — model:route, model:neighbours, mgv.routing_stats and
-- their pictures (plot.gates of routes, plot.ego, plot.bars(stats), the
-- two-panel history, graph's top-k edges, thinned tick labels).
local H = dofile((arg and arg[0] and arg[0]:match("^(.*/)") or
  (os.getenv("MGV_ROOT") or ".") .. "/tests/lua/") .. "harness.lua")
local test, eq, check, near = H.test, H.eq, H.check, H.near

local task = mgv.data.synth{per_class = 4, seed = 3}
local ds = task.test
local model = mgv.model{words = task.words, hidden = 16, heads = 2, experts = 3, proj = 16, seed = 1}
local K = 3

local function fails(fn, pattern)
  local ok, err = pcall(fn)
  check(not ok, "expected an error matching " .. pattern)
  check(tostring(err):find(pattern, 1, true), "error '" .. tostring(err) .. "' lacks '" .. pattern .. "'")
end

local function argmax(row)
  local best, k = -math.huge, 0
  for j, v in ipairs(row) do if v > best then best, k = v, j end end
  return k
end

test("route: token names with the entity markers, gates, top experts, classes", function()
  local i = 5
  local inst = ds:instance(i)
  -- the encoder's sequence: [CLS], then the words with [E] ... [/E] around the span
  local want = { "[CLS]" }
  local b, e = inst.spans[1][1], inst.spans[1][2]
  for t, id in ipairs(inst.tokens) do
    if t == b then want[#want + 1] = "[E]" end
    want[#want + 1] = task.vocab[id]
    if t == e then want[#want + 1] = "[/E]" end
  end
  local r = model:route(ds, i)
  eq(#r.tokens, #want, "token count")
  for t = 1, #want do eq(r.tokens[t], want[t], "token " .. t) end
  eq(r.index, i)
  eq(r.class, inst.class)
  eq(r.label, inst.label)
  eq(r.gates:size(1), #want)
  eq(r.gates:size(2), K)
  local g = r.gates:totable()
  for t, row in ipairs(g) do
    near(row[1] + row[2] + row[3], 1, 1e-5, "row " .. t .. " sums to 1")
    eq(r.top[t], argmax(row), "top of token " .. t)
  end
  -- the same gates as the batch forward gives for this sample among others
  local out = model:forward(ds, { 2, i, 9 })
  local ref = out.gate_text[2]:totable()
  for t = 1, #want do
    for k = 1, K do near(g[t][k], ref[t][k], 1e-5, "gate " .. t .. "," .. k) end
  end
  -- the predicted class is model:predict's
  local pred = model:predict(ds, { first = i, count = 1 })[1]
  eq(r.pred_label, pred)
  eq(r.pred, ds:classes()[pred])
  -- the image side: a 16-patch picture
  check(r.image, "the image part")
  eq(#r.image.tokens, 16)
  for t, row in ipairs(r.image.gates:totable()) do
    near(row[1] + row[2] + row[3], 1, 1e-5, "patch row sums to 1")
    eq(r.image.top[t], argmax(row))
  end
  -- printed as an aligned table; and as HTML
  local s = tostring(r)
  check(s:find("route of sample 5: class " .. inst.class, 1, true), s)
  check(s:find("\n  pos  token", 1, true), s)
  check(s:find("    2  " .. want[2], 1, true), s)
  check(s:find(string.format("%.3f", g[1][1]), 1, true), s)
  local h = r:html()
  check(h:sub(1, 7) == "<table>", h)
  local _, rows = h:gsub("<tr>", "")
  eq(rows, 1 + #want + 1 + 16, "HTML rows: two heads, tokens and patches")
  check(h:find("<td>[E]</td>", 1, true), h)
  fails(function() model:route(ds, #ds + 1) end, "route: index " .. (#ds + 1) .. " is not in 1..")
end)

test("route: an explicit vocab and a long sequence summarised", function()
  local r = model:route(ds, 1, { vocab = {} })
  check(r.tokens[2]:match("^#%d+$"), r.tokens[2])   -- words without a vocab show their ids
  local lines = 0
  for _ in tostring(r):gmatch("\n") do lines = lines + 1 end
  check(lines < 2 + #r.tokens + 16, "image rows summarised")
  check(tostring(r):find("...", 1, true))
end)

test("neighbours: strongest first, without i, weights = the batch graph", function()
  local i = 7
  local nb = model:neighbours(ds, i, 5)
  eq(#nb, 5)
  eq(nb.pool, #ds - 1, "the whole split is the pool")
  -- the graph of one forward over the whole split, computed by the engine
  local all = {}
  for j = 1, #ds do all[j] = j end
  local G = model:forward(ds, all).graph:totable()
  local row = {}
  for j = 1, #ds do if j ~= i then row[#row + 1] = { j = j, w = G[i][j] } end end
  table.sort(row, function(a, b) return a.w > b.w end)
  for r = 1, 5 do
    check(nb[r].index ~= i, "i is not its own neighbour")
    near(nb[r].weight, G[i][nb[r].index], 1e-5, "weight of " .. nb[r].index)
    near(nb[r].weight, row[r].w, 1e-5, "rank " .. r)
    if r > 1 then check(nb[r].weight <= nb[r - 1].weight, "sorted") end
    eq(nb[r].class, ds:instance(nb[r].index).class)
  end
  local s = tostring(nb)
  check(s:find("the 5 strongest edges of sample 7", 1, true), s)
  check(s:find(string.format("%.4f", nb[1].weight), 1, true), s)
  local _, trs = nb:html():gsub("<tr>", "")
  eq(trs, 6)
  -- a seeded pool
  local a = model:neighbours(ds, i, 3, { pool = 20, seed = 1 })
  local b = model:neighbours(ds, i, 3, { pool = 20, seed = 1 })
  eq(a.pool, 20)
  for r = 1, 3 do eq(a[r].index, b[r].index) end
  check(a[1].weight <= nb[1].weight + 1e-6, "a sub-pool's best is no better")
  local text_only = mgv.model{words = task.words, hidden = 16, heads = 2, experts = 3, proj = 16,
    images = false}
  fails(function() text_only:neighbours(ds, 1) end, "text-only")
  fails(function() model:neighbours(ds, 1, 0) end, "k must be a positive integer")
end)

test("routing_stats: a hand computation", function()
  local routes = {
    { class = "a", gates = { { 0.9, 0.1 }, { 0.8, 0.2 } } },
    { class = "b", gates = mgv.tensor({ { 0.2, 0.8 } }) },
    { class = "a", gates = { { 0.4, 0.6 } } },
  }
  local st = mgv.routing_stats(routes)
  local t = st.text
  eq(st.samples, 3)
  eq(t.tokens, 4)
  eq(st.image, nil)
  near(t.usage[1], (0.9 + 0.8 + 0.2 + 0.4) / 4)
  near(t.usage[1] + t.usage[2], 1)
  local bc = t.by_class:totable()
  near(bc[1][1], 0.7)
  near(bc[2][2], 0.8)
  -- tops: a -> 1, 1, 2; b -> 2
  eq(t.top_counts[1][1], 2)
  eq(t.top_counts[1][2], 1)
  eq(t.top_counts[2][2], 1)
  local mi = 0.5 * math.log((2 / 4) / (3 / 4 * 2 / 4)) + 0.25 * math.log((1 / 4) / (3 / 4 * 2 / 4)) +
    0.25 * math.log((1 / 4) / (1 / 4 * 2 / 4))
  near(t.mi, mi, 1e-9)
  local function h(p) return -(p * math.log(p) + (1 - p) * math.log(1 - p)) end
  near(t.entropy, (h(0.9) + h(0.8) + h(0.2) + h(0.4)) / 4, 1e-6)   -- 0.2 went through float32
  -- a class that tells nothing about the expert: MI 0; a perfect one: log 2
  near(mgv.routing_stats({ { class = "a", gates = { { 1, 0 }, { 0, 1 } } },
    { class = "b", gates = { { 1, 0 }, { 0, 1 } } } }).text.mi, 0, 1e-12)
  near(mgv.routing_stats({ { class = "a", gates = { { 1, 0 } } },
    { class = "b", gates = { { 0, 1 } } } }).text.mi, math.log(2), 1e-12)
  check(tostring(st):find("nats", 1, true))
  fails(function() mgv.routing_stats({}) end, "expected (model, ds) or a list of routes")
end)

test("routing_stats over a data set: sums and bounds", function()
  local st = mgv.routing_stats(model, ds, { batch = 7 })
  eq(st.samples, #ds)
  eq(st.experts, K)
  local ntok = 0
  local out = model:forward(ds, (function() local a = {} for j = 1, #ds do a[j] = j end return a end)())
  for _, toks in ipairs(out.tokens) do ntok = ntok + #toks end
  eq(st.text.tokens, ntok)
  eq(st.image.tokens, 16 * #ds)
  for _, m in ipairs({ "text", "image" }) do
    local s = st[m]
    near(s.usage[1] + s.usage[2] + s.usage[3], 1, 1e-6, m .. " usage sums to 1")
    check(s.mi >= 0 and s.mi <= math.log(K) + 1e-9, m .. " MI " .. s.mi)
    check(s.entropy > 0 and s.entropy <= math.log(K) + 1e-6, m .. " entropy " .. s.entropy)
    for c, row in ipairs(s.by_class:totable()) do near(row[1] + row[2] + row[3], 1, 1e-6, "class " .. c) end
  end
  -- the same as the stats of the routes of every sample
  local routes = {}
  for j = 1, #ds do routes[j] = model:route(ds, j) end
  local again = mgv.routing_stats(routes)
  near(again.text.mi, st.text.mi, 1e-6)
  near(again.image.entropy, st.image.entropy, 1e-6)
  local s = tostring(st)
  check(s:find("MI(top;class)", 1, true) and s:find("mean gate per class (image)", 1, true), s)
  check(st:html():find("<caption>", 1, true))
  local p = mgv.plot.bars(st)
  local w, hh = p:size()
  check(w > 200 and hh > 400, "two panels of bars: " .. w .. "x" .. hh)
  eq(p:png(), st:plot():png())
end)

-- the longest run of one colour in a row, other than white and the text ink
local function longest_run(p)
  local w, h = p:size()
  local best, colour = 0, nil
  for y = 1, h do
    local run, prev = 0, nil
    for x = 1, w do
      local r, g, b = p:pixel(x, y)
      local c = r * 65536 + g * 256 + b
      if c == prev and c ~= 0xFFFFFF and c ~= 0x222222 then run = run + 1 else run = 1 end
      prev = c
      if run > best and c ~= 0xFFFFFF and c ~= 0x222222 then best, colour = run, c end
    end
  end
  return best, colour
end

local PALETTE = { 0x1F77B4, 0xFF7F0E, 0x2CA02C, 0xD62728, 0x9467BD, 0x8C564B, 0xE377C2,
                  0x7F7F7F, 0xBCBD22, 0x17BECF }

test("pictures: gates of routes, the ego graph, graph top-k", function()
  local a, b = model:route(ds, 1), model:route(ds, 2)
  local one = mgv.plot.gates(a)
  local same = mgv.plot.heatmap(a.gates, { rows = a.tokens, cols = { "E1", "E2", "E3" }, min = 0, max = 1,
    xlabel = "expert", title = string.format("#1: %s, predicted %s", a.class, a.pred) })
  eq(one:png(), same:png(), "a fixed 0..1 scale and the index and classes in the title")
  local two = mgv.plot.gates(a, b, { font = 1 })
  local w1 = mgv.plot.gates(a, { font = 1 }):size()
  local w2 = mgv.plot.gates(b, { font = 1 }):size()
  eq((two:size()), w1 + w2, "side by side")
  local img = mgv.plot.gates(a, { image = true })
  check(select(2, img:size()) > 16 * 10, "16 patch rows")
  -- the ego graph: the centre node is the largest disc, in the colour of i's class
  local i
  for j = 1, #ds do if ds:instance(j).label <= 10 then i = j break end end
  local ego = mgv.plot.ego(model, ds, i, { k = 6, classes = ds:classes() })
  local w, h = ego:size()
  check(w > 200 and h > 200, "ego size " .. w .. "x" .. h)
  local run, colour = longest_run(ego)
  check(run >= 30, "the centre disc: a run of " .. run)
  eq(colour, PALETTE[ds:instance(i).label], "the centre's colour")
  -- graph: top-k edges by default; top = 0 draws them all
  local G = mgv.rand(10, 10)
  check(mgv.plot.graph(G):png() ~= mgv.plot.graph(G, { top = 0 }):png(), "top 3 hides edges")
  eq(mgv.plot.graph(G):png(), mgv.plot.graph(G, { top = 3 }):png())
  fails(function() mgv.plot.graph(G, { center = 11 }) end, "centre node 11 is not in 1..10")
end)

test("pictures: history in two panels, tick labels never overlap", function()
  local hist = { { epoch = 1, train = { loss = 16, rank = 12 }, val_macro_f1 = 0.2, val_micro_f1 = 0.3 },
                 { epoch = 2, train = { loss = 8, rank = 6 }, val_macro_f1 = 0.5, val_micro_f1 = 0.6 } }
  local p = mgv.plot.history(hist)
  local single = mgv.plot.lines({ { 16, 8 } })
  local _, h = p:size()
  local _, h1 = single:size()
  check(h > 1.8 * h1, "two panels: " .. h .. " vs " .. h1)
  check(select(2, mgv.plot.history(hist, { font = 1 }):size()) < h, "font reaches both panels")
  -- x labels of close values: each ink segment in the label band is one label
  local sc = mgv.plot.scatter({ 0.95140, 0.95141, 0.95142, 0.95143 }, { 1, 2, 3, 4 })
  local W, Hs = sc:size()
  local ink = {}
  for x = 1, W do
    ink[x] = false
    for y = Hs - 34, Hs - 20 do
      local r, g, b = sc:pixel(x, y)
      if r == 0x22 and g == 0x22 and b == 0x22 then ink[x] = true break end
    end
  end
  local segments, widest, start, gap = 0, 0, nil, 99
  for x = 1, W + 1 do
    if x <= W and ink[x] then
      if gap >= 6 then segments, start = segments + 1, x end
      widest = math.max(widest, x - start + 1)
      gap = 0
    else
      gap = gap + 1
    end
  end
  check(segments >= 2, "labels drawn: " .. segments)
  check(widest <= 8 * 12, "no two labels run into each other: a segment of " .. widest .. " pixels")
end)

H.done()
