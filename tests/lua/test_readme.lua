-- test_readme.lua — the README's Lua runs as typed at the prompt. Every
-- ```lua block, in the order of the file, runs in one fresh environment, line
-- by line as bin/mgv's prompt reads it (each line a chunk of its own, compiled
-- by mgv._host.compile, continued on the next line while the input is incomplete),
-- so a name used before it exists, or a `local` used on a later line, fails.
-- ```lua no-test blocks (pretrained weights, real data) are skipped with a
-- NOTE line naming them. Output of the snippets is indented by "  | ".
local H = dofile((arg and arg[0] and arg[0]:match("^(.*/)") or
  (os.getenv("MGV_ROOT") or ".") .. "/tests/lua/") .. "harness.lua")
local test, check = H.test, H.check

local root = os.getenv("MGV_ROOT") or (arg[0]:match("^(.*/)tests/lua/") or "./")
local readme = root:gsub("/?$", "/") .. "README.md"

-- the fenced blocks: {info =, line = (the fence's line), code = {lines}}
local blocks, open_at = {}, nil
do
  local f = assert(io.open(readme, "r"))
  local n, cur = 0, nil
  for line in f:lines() do
    n = n + 1
    local info = line:match("^```(.*)$")
    if cur and info and info:match("^%s*$") then
      blocks[#blocks + 1], cur = cur, nil
    elseif cur then
      cur.code[#cur.code + 1] = line
    elseif info then
      cur = { info = info:match("^%s*(.-)%s*$"), line = n, code = {} }
    end
  end
  f:close()
  open_at = cur and cur.line
end

local KNOWN = { lua = true, ["lua no-test"] = true, sh = true, console = true, text = true }

test("README: fences are closed and say what they hold", function()
  check(open_at == nil, "the fence at README.md:" .. tostring(open_at) .. " is never closed")
  local n_lua = 0
  for _, b in ipairs(blocks) do
    check(KNOWN[b.info], "README.md:" .. b.line .. ": fence info '" .. b.info ..
      "' is none of lua, lua no-test, sh, console, text")
    if b.info == "lua" then n_lua = n_lua + 1 end
  end
  check(n_lua >= 4, "only " .. n_lua .. " lua blocks found in " .. readme)
end)

-- The snippets' globals live here; the standard library and mgv come from _G.
local env = setmetatable({}, { __index = _G })
env.print = function(...)
  local parts = table.pack(...)
  for i = 1, parts.n do parts[i] = tostring(parts[i]) end
  local text = table.concat(parts, "\t", 1, parts.n)
  io.write("  | ", (text:gsub("\n", "\n  | ")), "\n")
end

-- Compiles code in env by the prompt's own rule (mgv._host.compile).
-- Returns the function (for help, one printing it; for a blank line, one
-- doing nothing), or nil, the message and whether more input is due.
local compile_opts = { env = env }
local function compile(code, name)
  local kind, x, more = mgv._host.compile(code, name, compile_opts)
  if kind == "run" then return x end
  if kind == "help" then return function() env.print(x) end end
  if kind == "none" then return function() end end
  return nil, x, more
end

local function run_block(b)
  local i = 1
  while i <= #b.code do
    local first = i
    local code = b.code[i]
    local name = "=README.md:" .. (b.line + i)
    local fn, err, more = compile(code, name)
    while not fn and more and i < #b.code do
      i = i + 1
      code = code .. "\n" .. b.code[i]
      fn, err, more = compile(code, name)
    end
    check(fn, "README.md:" .. (b.line + first) .. ": " .. tostring(err))
    local res = table.pack(pcall(fn))
    check(res[1], "README.md:" .. (b.line + first) .. ": `" .. code .. "` failed: " .. tostring(res[2]))
    for k = 2, res.n do tostring(res[k]) end   -- the prompt prints the values
    i = i + 1
  end
end

local function listing()
  local p = assert(io.popen("ls -A"))
  local s = p:read("a")
  p:close()
  return s
end

local before = listing()
local t0 = mgv.clock()
local ran, skipped = 0, 0
for _, b in ipairs(blocks) do
  if b.info == "lua no-test" then
    skipped = skipped + 1
    print(("NOTE README.md:%d skipped (lua no-test): %s"):format(b.line, b.code[1] or ""))
  elseif b.info == "lua" then
    ran = ran + 1
    test(("README.md:%d lua block %d runs at the prompt"):format(b.line, ran), function()
      run_block(b)
    end)
  end
end
print(("NOTE README: %d lua blocks run, %d skipped, %.1f s"):format(ran, skipped, mgv.clock() - t0))

test("README snippets leave no file in the working directory", function()
  H.eq(listing(), before, "ls -A")
end)
H.done()
