-- test_memory_limit.lua — a tensor that cannot be allocated is a Lua error
-- naming the function, the shape, the size and the limit, never an OOM kill:
-- sizes far above RAM, products of sizes that overflow, a 60 GB request on a
-- smaller machine (Linux overcommit would let malloc succeed and kill the
-- process later), mgv.set_memory_limit / mgv.memory, and RLIMIT_AS.
local H = dofile((arg and arg[0] and arg[0]:match("^(.*/)") or
  (os.getenv("MGV_ROOT") or ".") .. "/tests/lua/") .. "harness.lua")
local test, eq, errors, check = H.test, H.eq, H.errors, H.check

local MB = 2 ^ 20
local sanitized = os.getenv("SANITIZE") == "1" or os.getenv("MGV_ASAN_PRELOAD") ~= nil
local MGV = os.getenv("MGV_BIN") or (os.getenv("MGV_ROOT") or ".") .. "/build/mgv"

test("mgv.memory() gives the bytes in use and the limit", function()
  local used, limit = mgv.memory()
  check(math.type(used) == "integer" and used >= 0, tostring(used))
  check(math.type(limit) == "integer" and limit > 0, tostring(limit))
  local x = mgv.zeros(1000, 1000)
  local used2 = mgv.memory()
  check(used2 - used >= 4000000, "4 MB tensor counted: " .. (used2 - used))
  local _, _, cached = mgv.memory()
  x:free()
  eq(mgv.memory(), used)
  local _, _, cached2 = mgv.memory()
  if sanitized then
    eq(cached2, 0)   -- no block cache under AddressSanitizer
  else
    eq(cached2 - cached, 4000000)   -- the freed block waits for the next 1000x1000
    check(cached2 <= limit // 4, tostring(cached2))
    local y = mgv.zeros(1000, 1000)
    eq(select(3, mgv.memory()), cached)
    y:free()
  end
end)

test("sizes far above RAM are errors naming function, shape, size and limit", function()
  local e = errors(function() return mgv.zeros(1e6, 1e6) end,
    "zeros: cannot allocate [1000000x1000000] (4.0 TB): the memory limit is ")
  check(e:find("GB (mgv.set_memory_limit)", 1, true), e)
  -- called without a name (pcall(f, ...)): still named
  local ok, e2 = pcall(mgv.zeros, 100000, 100000, 10)
  eq(ok, false)
  check(e2:find("zeros: cannot allocate [100000x100000x10] (400.0 GB)", 1, true), e2)
  errors(function() return mgv.ones({100000, 100000, 10}) end, "ones: cannot allocate")
  errors(function() return mgv.full({1e6, 1e6}, 1) end, "full: cannot allocate")
  errors(function() return mgv.rand(1e6, 1e6) end, "rand: cannot allocate")
  errors(function() return mgv.randn(1e6, 1e6) end, "randn: cannot allocate")
  errors(function() return mgv.arange(1e13) end, "arange: cannot allocate")
end)

test("60 GB (below any overflow, above this machine's RAM) is refused at once", function()
  local rss = mgv.rss()
  errors(function() return mgv.zeros(15e9) end, "zeros: cannot allocate [15000000000] (60.0 GB)")
  errors(function() return mgv.zeros(3e9, 5) end, "(60.0 GB)")
  check(mgv.rss() - rss < 64 * MB, "nothing was touched")
end)

test("products of sizes that overflow int64 are errors", function()
  errors(function() return mgv.zeros(2 ^ 40, 2 ^ 40) end, "too many elements")
  errors(function() return mgv.zeros(2 ^ 20, 2 ^ 20, 2 ^ 20, 2 ^ 20) end, "too many elements")
  errors(function() return mgv.zeros(math.maxinteger, 2) end, "too many elements")
  errors(function() return mgv.zeros(1, 1):expand(2 ^ 40, 2 ^ 40) end, "too many elements")
  errors(function() return mgv.zeros(1):reshape(1, 1, 1):expand(2 ^ 31, 2 ^ 31, 2 ^ 31) end,
    "too many elements")
  -- a legal broadcast view is still fine
  eq(mgv.zeros(1, 1):expand(2 ^ 20, 2 ^ 20):numel(), 2 ^ 40)
end)

test("results of ops are refused the same way, named by the op", function()
  local a = mgv.ones(1, 1):expand(200000, 1)
  local b = mgv.ones(1, 200000)
  errors(function() return a:matmul(b) end, "matmul: cannot allocate [200000x200000] (160.0 GB)")
  errors(function() return a * b end, "cannot allocate [200000x200000]")
  errors(function() return mgv.zeros(1, 1):expand(100000, 100000):contiguous() end,
    "cannot allocate [100000x100000]")
end)

-- test(name, fn) that restores the default limit whatever fn does
local function test_restoring(name, fn)
  test(name, function()
    local ok, e = pcall(fn)
    mgv.set_memory_limit(nil)
    if not ok then error(e, 0) end
  end)
end

test_restoring("mgv.set_memory_limit: a small budget refuses what does not fit; freeing makes room", function()
  collectgarbage()
  local base = mgv.memory()
  local default = select(2, mgv.memory())
  local old = mgv.set_memory_limit(base + 40 * MB)
  eq(old, default)
  eq(select(2, mgv.memory()), base + 40 * MB)
  local held = {}
  local refused
  for i = 1, 20 do
    local ok, t = pcall(mgv.zeros, 2 * MB)   -- 8 MB each
    if not ok then refused = t break end
    held[i] = t
  end
  eq(#held, 5, "8 MiB tensors under a 40 MiB budget")
  check(refused and refused:find("zeros: cannot allocate %[2097152%] %(8%.4 MB%): the memory limit is " ..
    "4%d.%d MB and tensors already hold 4%d.%d MB %(mgv.set_memory_limit%)"), refused)
  errors(function() return held[1] + held[2] end, "cannot allocate [2097152]")
  errors(function() return held[1]:exp() end, "exp: cannot allocate")
  for i = 1, #held do held[i]:free() end
  local y = mgv.zeros(2 * MB) + 1   -- room again
  eq(y:get(1), 1)
  y:free()
  -- nil restores the default; bad limits are argument errors
  eq(mgv.set_memory_limit(nil), base + 40 * MB)
  eq(select(2, mgv.memory()), default)
  errors(function() mgv.set_memory_limit(-1) end, "bytes >= 0")
  errors(function() mgv.set_memory_limit(0 / 0) end, "bytes >= 0")
  errors(function() mgv.set_memory_limit("lots") end, "number expected")
  eq(select(2, mgv.memory()), default)
end)

test_restoring("a model too big for the budget is an error, and the process goes on", function()
  local task = mgv.data.synth{classes = 6, per_class = 4}
  local old = mgv.set_memory_limit(mgv.memory() + 2 * MB)
  local ok, e = pcall(mgv.model, {words = task.words, task = "synth", hidden = 512, layers = 4})
  mgv.set_memory_limit(old)
  eq(ok, false)
  check(tostring(e):find("cannot allocate", 1, true), tostring(e))
  local m = mgv.model{words = task.words, task = "synth", hidden = 16, heads = 2, layers = 1}
  check(m ~= nil)
end)

test("the default limit follows RLIMIT_AS", function()
  if sanitized then return end   -- AddressSanitizer needs far more address space
  local p = io.popen("ulimit -v 4000000 && " .. MGV ..
    " -e 'local u, l = mgv.memory(); io.write(l, \" \", select(2, pcall(mgv.zeros, 2e9)))' 2>&1")
  local out = p:read("a")
  p:close()
  local lim = tonumber(out:match("^(%d+)"))
  check(lim and lim <= 0.9 * 4000000 * 1024 + 1, out)
  check(out:find("zeros: cannot allocate [2000000000] (8.0 GB)", 1, true), out)
end)

test_restoring("model:forward out of memory is an error, and with room it has its tokens", function()
  local task = mgv.data.synth{classes = 6, per_class = 4}
  local m = mgv.model{words = task.words, task = "synth", hidden = 16, heads = 2, layers = 1}
  local old = mgv.set_memory_limit(mgv.memory() + 1024)
  local ok, e = pcall(m.forward, m, task.train, {1, 2, 3})
  mgv.set_memory_limit(old)
  eq(ok, false)
  check(tostring(e):find("cannot allocate", 1, true), tostring(e))
  local out = m:forward(task.train, {1, 2, 3})
  eq(#out.tokens, 3)
end)

H.done()
