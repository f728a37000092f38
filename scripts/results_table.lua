-- results_table.lua DIR — the README's results tables from the JSON files the
-- main job wrote (DIR/<task>-<variant>-<seed>.json): mean and per-seed
-- test macro-F1 on the unseen classes, micro-F1, and the no-training GloVe
-- baseline where the task has one.
local dir = arg[1] or "results"
local runs = {}
local p = io.popen('ls "' .. dir .. '"')
for name in p:lines() do
  local task, variant, seed = name:match("^(%w+)%-([%w%-]+)%-(%d+)%.json$")
  if task then
    local f = assert(io.open(dir .. "/" .. name))
    local r = mgv.json.decode(f:read("a"))
    f:close()
    if r.interrupted then io.stderr:write(name, ": an interrupted run, left out\n")
    else
      runs[task] = runs[task] or {}
      runs[task][variant] = runs[task][variant] or {}
      runs[task][variant][tonumber(seed)] = r
    end
  end
end
p:close()
local function mean(t) local s, n = 0, 0 for _, v in pairs(t) do s, n = s + v, n + 1 end return n > 0 and s / n or 0/0, n end
for _, task in ipairs{ "mre", "synth", "met" } do
  local variants = runs[task]
  if variants then
    print(string.format("\n%s: test macro-F1 on unseen classes (mean over seeds; per seed)\n", task))
    print("| variant | macro-F1 | micro-F1 | per-seed macro-F1 | seconds/run |")
    print("|---|---|---|---|---|")
    local names = {}
    for v in pairs(variants) do names[#names + 1] = v end
    table.sort(names, function(a, b) if a == "full" then return true elseif b == "full" then return false end return a < b end)
    local base, base_desc = {}, {}
    for _, v in ipairs(names) do
      local ma, mi, secs, per = {}, {}, {}, {}
      local seeds = {}
      for s in pairs(variants[v]) do seeds[#seeds + 1] = s end
      table.sort(seeds)
      for _, s in ipairs(seeds) do
        local r = variants[v][s]
        ma[#ma + 1], mi[#mi + 1], secs[#secs + 1] = r.macro_f1, r.micro_f1, r.seconds
        per[#per + 1] = string.format("%d: %.3f", s, r.macro_f1)
        if r.baseline_macro_f1 then (r.descriptions and base_desc or base)[s] = r.baseline_macro_f1 end
      end
      local m, n = mean(ma)
      print(string.format("| %s | %.4f | %.4f | %s | %.0f |", v, m, (mean(mi)), table.concat(per, ", "), (mean(secs))))
    end
    for _, b in ipairs{{base, "label names"}, {base_desc, "label descriptions"}} do
      local bm, bn = mean(b[1])
      if bn > 0 then
        local per = {}
        for s = 0, 9 do if b[1][s] then per[#per + 1] = string.format("%d: %.3f", s, b[1][s]) end end
        print(string.format("| GloVe similarity baseline (no training, %s) | %.4f | | %s | |", b[2], bm,
          table.concat(per, ", ")))
      end
    end
  end
end
