-- test_memory.lua — loops that make and drop tensors keep memory bounded:
-- the binding reports engine allocations to Lua's collector. Checked twice:
-- the engine's own count of live tensor bytes (exact, allocator-independent)
-- and the process RSS (relaxed under AddressSanitizer, whose quarantine keeps
-- freed blocks for a while).
local H = dofile((arg and arg[0] and arg[0]:match("^(.*/)") or
  (os.getenv("MGV_ROOT") or ".") .. "/tests/lua/") .. "harness.lua")
local test, check = H.test, H.check

local MiB = 2 ^ 20
local sanitized = os.getenv("SANITIZE") == "1" or os.getenv("MGV_ASAN_PRELOAD") ~= nil
local RSS_LIMIT = (sanitized and 400 or 100) * MiB
local ENGINE_LIMIT = 100 * MiB

-- Runs body(i) n times; returns the peak engine bytes and RSS growth seen.
local function churn(n, body)
  collectgarbage()
  local rss0, mem0 = mgv.rss(), mgv.memory()
  local peak_mem, peak_rss = 0, 0
  for i = 1, n do
    body(i)
    if i % 500 == 0 then
      peak_mem = math.max(peak_mem, mgv.memory() - mem0)
      peak_rss = math.max(peak_rss, mgv.rss() - rss0)
    end
  end
  return peak_mem, peak_rss
end

local function bounded(name, n, body)
  test(name, function()
    local mem, rss = churn(n, body)
    check(mem < ENGINE_LIMIT, string.format("engine memory grew by %.1f MiB", mem / MiB))
    check(rss < RSS_LIMIT, string.format("RSS grew by %.1f MiB", rss / MiB))
  end)
end

bounded("100k iterations of mgv.zeros(100, 100)", 100000, function()
  local x = mgv.zeros(100, 100)
end)

bounded("3k iterations of mgv.randn(100, 100)", 3000, function()
  local x = mgv.randn(100, 100)
end)

bounded("temporaries in expressions", 10000, function()
  local x = mgv.ones(100, 100)
  local y = (x * 2 + 1):exp():sum()
end)

local w = mgv.randn(50, 50):requires_grad_()
bounded("graphs built and freed by backward", 3000, function()
  local loss = (w:matmul(w) * 0.01):tanh():sum()
  loss:backward()
  w:zero_grad()
end)

bounded("300 tensors of 4 MB", 300, function()
  local big = mgv.zeros(1000, 1000)
end)

test("everything is released after collection", function()
  collectgarbage()
  local base = mgv.memory()
  do
    local keep = {}
    for i = 1, 100 do keep[i] = mgv.zeros(100, 100) end
    check(mgv.memory() - base >= 100 * 40000, "live tensors are counted")
  end
  collectgarbage()
  collectgarbage()
  check(mgv.memory() - base < 40000, "released: " .. (mgv.memory() - base))
end)

H.done()
