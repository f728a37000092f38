-- test_plot.lua — mgv.plot from Lua: the data forms each chart accepts
-- (tensors, tables, nested tables, named series, class labels as numbers or
-- strings), the Plot object (save, png, size, pixel, tostring), the helpers
-- made from model outputs (gates, usage, history) and the error messages.
local H = dofile((arg and arg[0] and arg[0]:match("^(.*/)") or
  (os.getenv("MGV_ROOT") or ".") .. "/tests/lua/") .. "harness.lua")
local test, eq, check = H.test, H.eq, H.check

local function fails(fn, pattern)
  local ok, err = pcall(fn)
  check(not ok, "expected an error matching " .. pattern)
  check(tostring(err):find(pattern, 1, true), "error '" .. tostring(err) .. "' lacks '" .. pattern .. "'")
end

-- equal lists (pixels, sizes) / equal pictures, without printing PNG bytes
local function same(a, b, msg)
  check(#a == #b, (msg or "") .. ": lengths " .. #a .. " and " .. #b)
  for i = 1, #a do
    check(a[i] == b[i], string.format("%s: item %d is %s, expected %s", msg or "", i, tostring(a[i]), tostring(b[i])))
  end
end
local function same_picture(p, q, msg)
  check(p:png() == q:png(), (msg or "") .. ": the pictures differ")
end

local function is_png(s)
  return type(s) == "string" and s:sub(1, 8) == "\137PNG\r\n\26\n"
end

-- the width and height in a PNG's IHDR chunk
local function png_size(s)
  local w, h = string.unpack(">I4I4", s, 17)
  return w, h
end

test("heatmap from a tensor and from nested tables: same picture", function()
  local a = mgv.plot.heatmap(mgv.tensor({{0, 1, 2}, {3, 4, 5}}), {font = 1, cell = 10})
  local b = mgv.plot.heatmap({{0, 1, 2}, {3, 4, 5}}, {font = 1, cell = 10})
  same_picture(a, b, "tensor vs table")
  local w, h = a:size()
  check(w > 30 and h > 20)
  -- the first cell (value 0) is the darkest colour of the scale, at (17, 7) 1-based
  local r, g, bl = a:pixel(17, 7)
  same({r, g, bl}, {0x44, 0x01, 0x54}, "first cell")
  same({a:pixel(17 + 25, 7 + 15)}, {0xFD, 0xE7, 0x25}, "last cell")
  check(tostring(a):find("mgv.Plot heatmap " .. w .. "x" .. h, 1, true))
end)

test("save writes the same PNG that png() returns", function()
  local p = mgv.plot.bars({1, 2, 3}, {labels = {"a", "b", "c"}, title = "t"})
  local path = os.tmpname()   -- save() writes PNG whatever the name
  eq(p:save(path), p)
  local f = assert(io.open(path, "rb"))
  local bytes = f:read("a")
  f:close()
  os.remove(path)
  check(is_png(bytes))
  check(bytes == p:png(), "the file differs from png()")
  local w, h = p:size()
  same({png_size(bytes)}, {w, h}, "IHDR")
end)

test("lines: a sequence, a 2-d tensor, a list of sequences, named series", function()
  local one = mgv.plot.lines({1, 2, 3})
  local two = mgv.plot.lines(mgv.tensor({{1, 2, 3}, {3, 2, 1}}), {series = {"up", "down"}})
  local ragged = mgv.plot.lines({{1, 2, 3, 4}, {2, 1}})
  local named = mgv.plot.lines({loss = {1, 0.5}, f1 = {0.2, 0.4}}, {x = {1, 2}})
  for _, p in ipairs({one, two, ragged, named}) do check(is_png(p:png())) end
  -- a legend makes the picture wider
  check((two:size()) > (one:size()))
  fails(function() mgv.plot.lines({1, 2}, {x = {1, 2, 3}}) end, "plot.lines: 3 x values for 2 points")
  fails(function() mgv.plot.lines({}) end, "plot.lines: no series")
  fails(function() mgv.plot.lines({1, "x"}) end, "expected numbers")
end)

test("scatter and graph: class labels as numbers, strings or a tensor", function()
  local s = mgv.plot.scatter({0.1, 0.5, 0.9}, mgv.tensor({0.2, 0.4, 0.8}),
    {labels = {"a", "b", "a"}, diagonal = true, xlabel = "p", ylabel = "p~"})
  check(is_png(s:png()))
  local G = mgv.rand(6, 6)
  local g1 = mgv.plot.graph(G, {1, 1, 2, 2, 3, 3}, {classes = {"x", "y", "z"}})
  local g2 = mgv.plot.graph(G, {"x", "x", "y", "y", "z", "z"})
  local g3 = mgv.plot.graph(G, mgv.tensor({1, 1, 2, 2, 3, 3}), {classes = {"x", "y", "z"}})
  same_picture(g1, g2, "numbers vs strings")
  same_picture(g1, g3, "table vs tensor")
  check(is_png(mgv.plot.graph(G, {title = "no labels"}):png()))
  fails(function() mgv.plot.graph(mgv.rand(2, 3)) end, "square")
  fails(function() mgv.plot.graph(G, {1, 2}) end, "2 labels for 6 items")
  fails(function() mgv.plot.graph(G, {1, 1, 2, 2, 3, 3}, {classes = {"x"}}) end, "1 class names for 3 classes")
  fails(function() mgv.plot.graph(G, {"a", "b", "a", "b", "a", "q"}, {classes = {"a", "b"}}) end,
    "label 'q' is not among the class names")
  fails(function() mgv.plot.scatter({1, 2}, {1}) end, "2 x values and 1 y values")
end)

test("image: ranges and shapes", function()
  local p = mgv.plot.image(mgv.tensor({{0, 255}, {128, 64}}))
  same({p:size()}, {2, 2}, "size")
  same({p:pixel(2, 1)}, {255, 255, 255}, "white")
  same({p:pixel(1, 2)}, {128, 128, 128}, "grey")
  local q = mgv.plot.image(mgv.tensor({{-1, 1}}))   -- values in -1..1
  same({q:pixel(1, 1)}, {0, 0, 0}, "-1")
  same({q:pixel(2, 1)}, {255, 255, 255}, "1")
  fails(function() mgv.plot.image(mgv.zeros(2, 2, 2)) end, "plot.image: expected a [3, H, W]")
  fails(function() p:pixel(3, 1) end, "outside the 2x2 picture")
end)

test("helpers from model outputs: gates, usage, history", function()
  local out = { gate_text = mgv.rand(2, 5, 3), tokens = { { 1, 2, 3 }, { 2 } },
                usage_text = mgv.tensor({ { 1, 0, 0 }, { 0, 1, 0 }, { 1, 0, 0 } }) }
  local g = mgv.plot.gates(out, 1, { "the", "cat", "sat" })
  local plain = mgv.plot.heatmap(out.gate_text[1]:slice(1, 1, 3),
    { rows = { "the", "cat", "sat" }, cols = { "E1", "E2", "E3" }, title = "text gates of item 1",
      xlabel = "expert", min = 0, max = 1 })   -- gates are on a fixed 0..1 scale by default
  same_picture(g, plain, "gates")
  local u = mgv.plot.usage(out, { "b", "a", "b" })
  local same_bars = mgv.plot.bars({ { 0, 1, 0 }, { 1, 0, 0 } }, { labels = { "a", "b" },
    series = { "E1", "E2", "E3" }, title = "mean expert usage per class", ylabel = "usage" })
  same_picture(u, same_bars, "usage")
  local h = mgv.plot.history({ history = { { epoch = 1, train = { loss = 1 }, val_macro_f1 = 0.2 },
                                           { epoch = 2, train = { loss = 0.5 }, val_macro_f1 = 0.4 } } })
  check(is_png(h:png()))
  fails(function() mgv.plot.history({}) end, "plot.history: no epochs")
end)

test("options are checked", function()
  fails(function() mgv.plot.heatmap(mgv.rand(2, 2), {colour = 1}) end, "unknown option 'colour'")
  fails(function() mgv.plot.heatmap(mgv.rand(2, 2), {rows = {"a"}}) end, "1 row labels for 2 rows")
  fails(function() mgv.plot.heatmap(mgv.rand(2, 2), {min = 0}) end, "give both 'min' and 'max'")
  fails(function() mgv.plot.heatmap(mgv.rand(2, 2), {min = 1, max = 0}) end, "min < max")
  fails(function() mgv.plot.heatmap(mgv.rand(2, 2, 2)) end, "expected a 1-d or 2-d tensor, got [2x2x2]")
  fails(function() mgv.plot.heatmap({{1, 2}, {3}}) end, "row 2 has 1 values, row 1 has 2")
  fails(function() mgv.plot.heatmap("x") end, "tensor or table of numbers")
  fails(function() mgv.plot.bars({1, 2}, {font = 7}) end, "font scale 7")
  fails(function() mgv.plot.bars({1, 2}, {labels = "ab"}) end, "option 'labels' must be a table")
end)

test("documentation of mgv.plot", function()
  for _, name in ipairs({ "heatmap", "bars", "lines", "scatter", "graph", "image", "gates", "usage",
                          "history", "ego", "join" }) do
    check(mgv.doc("plot." .. name), "no help for plot." .. name)
  end
end)

H.done()
