-- sweep_table.lua DIR all|selected "NAMES" — the table of a sweep from the
-- JSON files scripts/sweep.sh wrote (DIR/<setting>-<seed>.json): mean ± std
-- (sample std over seeds) of the validation macro-F1 of the selected epoch,
-- the paired difference to the first setting over the seeds both have (mean
-- ± std), the mean best epoch, wall and CPU seconds per run, and test macro-F1 for every
-- setting (all) or only for the one with the best mean validation macro-F1
-- (selected).
local dir, which, names = arg[1], arg[2] or "all", {}
for n in (arg[3] or ""):gmatch("%S+") do names[#names + 1] = n end
local function stats(t)
  local s, n = 0, #t
  for _, v in ipairs(t) do s = s + v end
  local m, q = s / n, 0
  for _, v in ipairs(t) do q = q + (v - m) ^ 2 end
  return m, n > 1 and math.sqrt(q / (n - 1)) or 0 / 0
end
-- the finished runs of the named settings, one listing of DIR read once:
-- runs[name] = { {seed, json}, ... } in ls order (the order the means add in)
local wanted, runs = {}, {}
for _, n in ipairs(names) do wanted[n] = true end
local p = io.popen('ls "' .. dir .. '"')
for file in p:lines() do
  local name, seed = file:match("^(.-)%-(%d+)%.json$")
  if name and wanted[name] then
    local f = assert(io.open(dir .. "/" .. file))
    local j = mgv.json.decode(f:read("a"))
    f:close()
    if not j.interrupted then
      runs[name] = runs[name] or {}
      runs[name][#runs[name] + 1] = { seed = tonumber(seed), j = j }
    end
  end
end
p:close()
local rows, best = {}, nil
for _, name in ipairs(names) do
  local r = { name = name, val = {}, test = {}, secs = {}, epochs = {}, seeds = {} }
  for _, run in ipairs(runs[name] or {}) do
    local seed, j = run.seed, run.j
    r.seeds[#r.seeds + 1] = seed
    r.by_seed = r.by_seed or {}
    r.by_seed[seed] = j.val_macro_f1
    r.val[#r.val + 1], r.test[#r.test + 1] = j.val_macro_f1, j.macro_f1
    r.secs[#r.secs + 1], r.epochs[#r.epochs + 1] = j.seconds, j.best_epoch
    r.cpu = r.cpu or {}
    r.cpu[#r.cpu + 1] = j.cpu_seconds
  end
  if #r.val > 0 then
    r.vm, r.vs = stats(r.val)
    rows[#rows + 1] = r
    if not best or r.vm > best.vm then best = r end
  end
end
print(string.format("%s: validation macro-F1 (selected epoch), mean ± std over seeds\n", dir))
print(string.format("| setting | seeds | val macro-F1 | val minus %s's (paired) | test macro-F1 | best epoch | s/run | CPU s/run |",
  rows[1] and rows[1].name or "-"))
print("|---|---|---|---|---|---|---|---|")
for _, r in ipairs(rows) do
  local test, diff = "", {}
  if which == "all" or r == best then test = string.format("%.3f ± %.3f", stats(r.test)) end
  for s, v in pairs(r.by_seed) do
    if rows[1].by_seed[s] then diff[#diff + 1] = v - rows[1].by_seed[s] end
  end
  local dm, ds = stats(diff)
  print(string.format("| %s%s | %d | %.3f ± %.3f | %+.3f ± %.3f | %s | %.1f | %.0f | %.0f |", r.name,
    r == best and " (selected)" or "", #r.val, r.vm, r.vs, dm, ds, test, (stats(r.epochs)),
    (stats(r.secs)), (stats(r.cpu))))
end
