-- harness.lua — the Lua tests' tiny harness (run by bin/mgv, so `mgv` is a global).
--
--   local H = dofile((os.getenv("MGV_ROOT") or ".") .. "/tests/lua/harness.lua")
--   H.test("name", function() H.near(x, 1.5) ... end)
--   H.done()     -- prints the summary and exits non-zero on any failure
--
-- Each test prints "PASS name" or "FAIL name: message" (tests/run.sh counts
-- these lines). A failing check raises an error that ends the test.

local H = {}
local failed, passed = 0, 0

local function fail(msg, level)
  error({ harness = true, msg = msg }, (level or 1) + 1)
end

local function where(level)
  local info = debug.getinfo((level or 2) + 1, "Sl")
  return info and (info.short_src .. ":" .. info.currentline .. ": ") or ""
end

function H.test(name, fn)
  local ok, err = xpcall(fn, function(e)
    if type(e) == "table" and e.harness then return e.msg end
    return debug.traceback(tostring(e), 2)
  end)
  if ok then
    passed = passed + 1
    print("PASS " .. name)
  else
    failed = failed + 1
    print("FAIL " .. name .. ": " .. tostring(err))
  end
  io.stdout:flush()
end

function H.check(cond, msg)
  if not cond then fail(where() .. (msg or "check failed"), 2) end
end

function H.eq(a, b, msg)
  if a ~= b then
    fail(where() .. (msg and msg .. ": " or "") .. "got " .. tostring(a) .. ", expected " ..
      tostring(b), 2)
  end
end

function H.near(a, b, tol, msg)
  tol = tol or 1e-5
  if type(a) ~= "number" or type(b) ~= "number" or math.abs(a - b) > tol * math.max(1, math.abs(b)) then
    fail(where() .. (msg and msg .. ": " or "") .. "got " .. tostring(a) .. ", expected " ..
      tostring(b) .. " (tol " .. tol .. ")", 2)
  end
end

-- Flattens a nested table of numbers (or a tensor's totable()) into a list.
local function flatten(x, out)
  out = out or {}
  if type(x) == "number" then
    out[#out + 1] = x
  elseif mgv and mgv.is_tensor(x) then
    flatten(x:totable(), out)
  else
    for _, v in ipairs(x) do flatten(v, out) end
  end
  return out
end
H.flatten = flatten

-- A tensor's values (and shape, when given) against a nested table.
function H.values(t, expected, tol, shape)
  tol = tol or 1e-5
  if not mgv.is_tensor(t) then fail(where() .. "not a tensor: " .. tostring(t), 2) end
  if shape then
    local s = t:shape()
    if table.concat(s, "x") ~= table.concat(shape, "x") then
      fail(where() .. "shape [" .. table.concat(s, "x") .. "], expected [" ..
        table.concat(shape, "x") .. "]", 2)
    end
  end
  local got, want = flatten(t), flatten(expected)
  if #got ~= #want then
    fail(where() .. #got .. " values, expected " .. #want, 2)
  end
  for i = 1, #want do
    local a, b = got[i], want[i]
    local bad = (b ~= b) and (a == a) or (b == b and math.abs(a - b) > tol * math.max(1, math.abs(b)))
    if bad then
      fail(where() .. "value " .. i .. " is " .. a .. ", expected " .. b .. " in " .. tostring(t), 2)
    end
  end
end

-- fn must raise an error whose message contains text (plain substring).
function H.errors(fn, text, ...)
  local ok, err = pcall(fn, ...)
  if ok then fail(where() .. "no error (expected one containing '" .. text .. "')", 2) end
  err = tostring(err)
  if not err:find(text, 1, true) then
    fail(where() .. "error '" .. err .. "' does not contain '" .. text .. "'", 2)
  end
  return err
end

-- Captures what fn prints.
function H.printed(fn, ...)
  local out = {}
  local old = print
  print = function(...)
    local parts = table.pack(...)
    for i = 1, parts.n do parts[i] = tostring(parts[i]) end
    out[#out + 1] = table.concat(parts, "\t")
  end
  local ok, err = pcall(fn, ...)
  print = old
  if not ok then error(err, 0) end
  return table.concat(out, "\n")
end

function H.done()
  print(string.format("%d passed, %d failed", passed, failed))
  io.stdout:flush()
  os.exit(failed == 0 and 0 or 1, true)
end

-- A temporary file name; removed at the end by the caller.
function H.tmpname(suffix)
  local n = os.tmpname()
  if suffix then
    os.remove(n)
    n = n .. suffix
  end
  return n
end

return H
