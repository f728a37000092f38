-- host.lua — the interactive host shared by bin/mgv's REPL and the Jupyter
-- kernel (mgv._host): how a typed chunk compiles, how values are shown,
-- completion, help, ??source and the %magics. The front ends keep only
-- what is terminal- or notebook-specific (readline and history; the wire,
-- display messages and progress lines of notebook.lua).
--
-- The statement/expression rule: a chunk is first tried as "return <chunk>"
-- (lua.c); else, when its last top-level statement (after the last ';' or
-- newline outside strings, comments and brackets) is an expression, as
-- "<head> return <tail>" (so "x = 1; x" shows 1); else as it is (so
-- "return x" shows x). A trailing ';' silences. Input is incomplete when
-- a syntax error ends in <eof>.
-- Embedded into the binary; called by luaopen_mgv with (mgv, mgv.Tensor, meta).

local M = ...
local H = {}
M._host = H

local G = _G
local load, type, select, pcall, rawget, tostring = load, type, select, pcall, rawget, tostring
local getmt = debug.getmetatable

-------------------------------------------------------------------------------
-- compiling a chunk
-------------------------------------------------------------------------------

-- The offset of the last top-level ';' or newline of code (outside strings,
-- comments and brackets), or nil.
local function last_split(code)
  local i, n, depth, last = 1, #code, 0, nil
  while i <= n do
    local c = code:sub(i, i)
    if c == "-" and code:sub(i + 1, i + 1) == "-" then
      local eq = code:match("^%[(=*)%[", i + 2)
      if eq then
        local _, e = code:find("]" .. eq .. "]", i, true)
        i = (e or n) + 1
      else
        local e = code:find("\n", i, true)
        if not e then break end
        i = e                      -- the newline itself may split
      end
    elseif c == "'" or c == '"' then
      i = i + 1
      while i <= n do
        local d = code:sub(i, i)
        if d == "\\" then i = i + 1 elseif d == c or d == "\n" then break end
        i = i + 1
      end
      i = i + 1
    elseif c == "[" and code:match("^%[=*%[", i) then
      local eq = code:match("^%[(=*)%[", i)
      local _, e = code:find("]" .. eq .. "]", i, true)
      i = (e or n) + 1
    else
      if c == "(" or c == "{" or c == "[" then depth = depth + 1
      elseif c == ")" or c == "}" or c == "]" then depth = depth - 1
      elseif (c == ";" or c == "\n") and depth == 0 then last = i end
      i = i + 1
    end
  end
  return last
end
H.last_split = last_split

-- load(s, name) for text, in env when one is given (load's env must be
-- absent, not nil, for the globals).
local function load_in(s, name, env)
  if env then return load(s, name, "t", env) end
  return load(s, name, "t")
end

local function eof(err)
  return type(err) == "string" and err:sub(-5) == "<eof>"
end

-- The text of the chunks compiled that can define a function (they contain
-- the keyword), by chunk name ("stdin:3", "In[3]"), for ??name: only those,
-- so that a long session does not keep every input it ever ran.
local inputs = {}

local magic

--- H.compile(code, chunkname [, opts]) -> kind, ...
--   "run", f, show      f runs the chunk; show: whether to show its results
--   "help", text        ?name, name?, ??name (nothing is called)
--   "error", msg, incomplete
--   "none"              blank input
-- opts.env: the chunk's _ENV (default the globals); opts.check: only whether
-- the input is complete (the kernel's is_complete), so "help" comes without
-- its text and the input is not kept for ??name.
function H.compile(code, name, opts)
  if type(code) ~= "string" then error("compile: a string expected, got " .. type(code), 2) end
  name = name or "=stdin"
  local env, check = opts and opts.env, opts and opts.check
  local body = code:match("^(.-)%s*$")
  local lead = body:match("^%s*(.*)$")
  if lead == "" then return "none" end
  if lead:sub(1, 1) == "?" then
    if check then return "help" end
    local q, rest = lead:match("^(%?+)%s*(.-)$")
    return "help", (#q > 1 and H.source_text or H.help_text)(rest)
  end
  local post = lead:match("^([%w_.:]+)%?$")
  if post then return "help", not check and H.help_text(post) or nil end
  if lead:sub(1, 1) == "%" then
    local ok, f = pcall(magic, lead, name, opts)
    if not ok then return "error", tostring(f), false end
    return "run", f, true
  end
  local silent = body:sub(-1) == ";"
  if silent then body = body:sub(1, -2) end
  if not check and code:find("function", 1, true) then inputs[name:gsub("^[=@]", "")] = code end
  local f, rerr = load_in("return " .. body, name, env)
  if f then return "run", f, not silent end
  local cut = last_split(body)
  if cut then
    local head, tail = body:sub(1, cut), body:sub(cut + 1)
    if tail:find("%S") and load("return " .. tail, "=tail", "t") and load(head, "=head", "t") then
      f = load_in(head .. " return " .. tail, name, env)
      if f then return "run", f, not silent end
    end
  end
  local err
  f, err = load_in(body, name, env)
  if f then return "run", f, not silent end
  return "error", err, eof(err) or eof(rerr)
end

-------------------------------------------------------------------------------
-- presenting values: text (the inspector), HTML, PNG
-------------------------------------------------------------------------------

local function escape(s)
  return (tostring(s):gsub("[&<>\"]", { ["&"] = "&amp;", ["<"] = "&lt;", [">"] = "&gt;", ['"'] = "&quot;" }))
end

-- A method of v by name, without raising (nil when there is none).
local function method(v, k)
  local t = type(v)
  if (t ~= "table" and t ~= "userdata") or not getmt(v) then return nil end
  local ok, f = pcall(function() return v[k] end)
  return ok and type(f) == "function" and f or nil
end

-- A tensor as an HTML table: the last axis across, the others down (at most
-- 10 + 10 rows and 5 + 5 columns), the shape as the caption.
local function tensor_html(t)
  local shape = t:shape()
  local nd = #shape
  local cap = "tensor shape=[" .. table.concat(shape, "x") .. "]"
  if t.requires_grad then cap = cap .. ", requires_grad" end
  if nd == 0 then
    return "<table><caption>" .. cap .. "</caption><tr><td>" .. escape(t:item()) .. "</td></tr></table>"
  end
  local cols = M._shown_indices(shape[nd], 5)
  local rows = { {} }                      -- index prefixes of the leading axes
  for d = 1, nd - 1 do
    local nxt = {}
    for _, pre in ipairs(rows) do
      for _, i in ipairs(M._shown_indices(shape[d], d == nd - 1 and 10 or 2)) do
        local r = { table.unpack(pre) }
        r[#r + 1] = i
        if pre.gap or i == false then r.gap = true end
        nxt[#nxt + 1] = r
      end
    end
    rows = nxt
  end
  local out = { "<table><caption>" .. cap .. "</caption><thead><tr><th></th>" }
  for _, j in ipairs(cols) do out[#out + 1] = "<th>" .. (j or "…") .. "</th>" end
  out[#out + 1] = "</tr></thead><tbody>"
  local last_gap = false
  for _, r in ipairs(rows) do
    if r.gap then
      if not last_gap then
        out[#out + 1] = '<tr><th>…</th><td colspan="' .. #cols .. '"></td></tr>'
      end
      last_gap = true
    else
      last_gap = false
      out[#out + 1] = "<tr><th>" .. (nd > 1 and table.concat(r, ",") or "") .. "</th>"
      for _, j in ipairs(cols) do
        local s = "…"
        if j then
          r[#r + 1] = j
          s = string.format("%.4g", t:get(table.unpack(r)))
          r[#r] = nil
        end
        out[#out + 1] = '<td style="text-align:right">' .. s .. "</td>"
      end
      out[#out + 1] = "</tr>"
    end
  end
  out[#out + 1] = "</tbody></table>"
  return table.concat(out)
end

-- An object's text (a first line, then "key   value" lines aligned on one
-- column, or "key: value") as a two-column table; continued values join.
local function text_html(s)
  local first, rest = s:match("^([^\n]*)\n?(.*)$")
  local rows, col = {}, nil
  for line in rest:gmatch("[^\n]+") do
    col = col or (line:match("^(%s%s?%S.-%s%s+)%S") or ""):len() + 1
    local k, v
    if col > 1 and line:sub(col - 1, col - 1) == " " then
      k, v = line:sub(1, col - 1):match("^%s*(.-)%s*$"), line:sub(col)
    end
    if not k or (k ~= "" and k:find("  ", 1, true)) then
      k, v = line:match("^%s*([%w_ ]-):%s+(%S.*)$")
    end
    if not k then k, v = "", line:match("^%s*(.-)$") end
    if k == "" and #rows > 0 then rows[#rows][2] = rows[#rows][2] .. " " .. v
    else rows[#rows + 1] = { k, v } end
  end
  local out = { "<table><caption>" .. escape(first) .. "</caption><tbody>" }
  for _, r in ipairs(rows) do
    out[#out + 1] = '<tr><th style="text-align:left">' .. escape(r[1]) ..
      '</th><td style="text-align:left">' .. escape(r[2]) .. "</td></tr>"
  end
  out[#out + 1] = "</tbody></table>"
  return table.concat(out)
end

local function html_of(v)
  if M.is_tensor(v) then
    local ok, s = pcall(tensor_html, v)
    return ok and s or nil
  end
  local f = method(v, "html")
  if f then
    local ok, s = pcall(f, v)
    if ok and type(s) == "string" then return s end
  end
  local mt = getmt(v)
  if type(v) == "userdata" and type(mt) == "table" and rawget(mt, "__tostring") then
    local ok, s = pcall(tostring, v)
    if ok and type(s) == "string" then return text_html(s) end
  end
  return nil
end

local function png_of(v)
  local f = method(v, "png")
  if not f then return nil end
  local p = f(v)
  if type(p) == "string" and #p >= 24 and p:sub(1, 8) == "\137PNG\r\n\26\n" then return p end
  return nil
end

--- H.present_text(...) -> text: how the REPL shows a chunk's results
-- (nothing for no results): the inspector's text (mgv._show_results) alone,
-- without the HTML and picture a terminal would not show.
function H.present_text(...)
  if select("#", ...) == 0 then return nil end
  return M._show_results(...)
end

--- H.present(...) -> text [, html, png]: how the notebook shows a chunk's
-- results: H.present_text's text; a single tensor, model, data set or
-- routing result also gives an HTML table, a value with a png() method its
-- picture.
function H.present(...)
  local n = select("#", ...)
  if n == 0 then return nil end
  local text = H.present_text(...)
  if n > 1 then return text end
  local v = ...
  local png = png_of(v)
  return text, not png and html_of(v) or nil, png
end

-------------------------------------------------------------------------------
-- display outside notebooks; update_display's argument order
-------------------------------------------------------------------------------

local warned = false
local known_ids = {}
H.known_ids = known_ids

--- H.update_args(a, b) -> obj, id: update_display(obj, id) as IPython; the
-- old order update_display(id, obj) still works, with a warning once.
function H.update_args(a, b)
  local old
  if type(a) == "string" and type(b) == "string" then
    old = known_ids[a] and not known_ids[b]
  else
    old = type(a) == "string" and b ~= nil
  end
  if old then
    if not warned then
      warned = true
      io.stderr:write("update_display(id, obj) is deprecated: use update_display(obj, id), IPython's order\n")
      io.stderr:flush()
    end
    a, b = b, a
  end
  if b == nil then error("update_display: a display id expected as argument 2", 3) end
  return a, tostring(b)
end

-- In bin/mgv display and update_display print the text form.
local function print_display(obj)
  local text = H.present_text(obj)
  io.stdout:write(text, "\n")
  io.stdout:flush()
end

function H.install_globals()
  if rawget(G, "help") == nil then G.help = M.help end
  if rawget(G, "display") == nil then
    G.display = function(obj, id)
      if select("#", obj) == 0 then error("display: a value expected", 2) end
      if id ~= nil then known_ids[tostring(id)] = true end
      print_display(obj)
    end
  end
  if rawget(G, "update_display") == nil then
    G.update_display = function(a, b) print_display((H.update_args(a, b))) end
  end
end

-------------------------------------------------------------------------------
-- completion
-------------------------------------------------------------------------------

-- Where pos of line stands: "code", "comment", or "string" and the offset
-- of its opening quote.
local function context(line)
  local i, n = 1, #line
  while i <= n do
    local c = line:sub(i, i)
    if c == "-" and line:sub(i + 1, i + 1) == "-" then return "comment" end
    if c == "'" or c == '"' then
      local s = i
      i = i + 1
      while i <= n and line:sub(i, i) ~= c do
        if line:sub(i, i) == "\\" then i = i + 1 end
        i = i + 1
      end
      if i > n then return "string", s end
    end
    i = i + 1
  end
  return "code"
end

-- File names that complete the path p (as typed inside a string).
local function files(p)
  local dir, base = p:match("^(.*/)([^/]*)$")
  if not dir then dir, base = "", p end
  local names = M._listdir(dir) or {}
  local out, kinds = {}, {}
  local hidden = base:sub(1, 1) ~= "."
  table.sort(names)
  for _, f in ipairs(names) do
    if f:sub(1, #base) == base and not (hidden and f:sub(1, 1) == ".") then
      out[#out + 1] = dir .. f
      kinds[#kinds + 1] = f:sub(-1) == "/" and "directory" or "file"
    end
  end
  return out, kinds
end

--- H.complete(text) -> start, matches, kinds: completions of the text before
-- the cursor; start is the 0-based byte offset where the replaced word
-- begins. Names after '.' and ':' through metatables (mgv._complete); file
-- names inside a string; nothing in a comment.
function H.complete(text)
  local line = text:match("[^\n]*$")
  local where, q = context(line)
  if where == "comment" then return #text, {}, {} end
  if where == "string" then
    local p = line:sub(q + 1)
    local m, k = files(p)
    return #text - #p, m, k
  end
  local chain = text:match("[%w_%.:]*$")
  if chain:match("^[%d.:]") then return #text, {}, {} end
  local m, k = M._complete(chain)
  return #text - #chain, m, k
end

-------------------------------------------------------------------------------
-- help and source, by name: fields are looked up, nothing is called
-------------------------------------------------------------------------------

-- t[k] for a table (raw, then __index tables) or userdata (its methods, or a C __index).
local function lookup_field(v, k)
  for _ = 1, 8 do
    if type(v) == "table" then
      local x = rawget(v, k)
      if x ~= nil then return x end
    end
    local mt = getmt(v)
    if type(mt) ~= "table" then return nil end
    if type(rawget(mt, "__methods")) == "table" and rawget(mt.__methods, k) ~= nil then
      return rawget(mt.__methods, k)
    end
    local ix = rawget(mt, "__index")
    if type(ix) == "function" then
      if debug.getinfo(ix, "S").what ~= "C" then return nil end   -- user code: not run
      local ok, x = pcall(ix, v, k)
      return ok and x or nil
    end
    if type(ix) ~= "table" then return nil end
    v = ix
  end
end

-- The value of a name path ("out.gate_text", "model:train") or nil.
local function lookup(path)
  local v = G
  for seg in path:gmatch("[^.:]+") do
    if v == nil then return nil end
    v = lookup_field(v, seg)
  end
  return v
end

local stdlib
local function std_name(f)
  if not stdlib then
    stdlib = {}
    for _, lib in ipairs({ "string", "table", "math", "io", "os", "coroutine", "utf8", "debug", "package" }) do
      for k, x in pairs(rawget(G, lib) or {}) do
        if type(x) == "function" then stdlib[x] = lib .. "." .. k end
      end
    end
    for w in ([[assert collectgarbage dofile error getmetatable ipairs load loadfile next pairs
      pcall print rawequal rawget rawlen rawset require select setmetatable tonumber tostring
      type xpcall warn]]):gmatch("%a+") do
      if type(rawget(G, w)) == "function" then stdlib[rawget(G, w)] = w end
    end
  end
  return stdlib[f]
end

local function signature(name, f)
  local info = debug.getinfo(f, "Su")
  if not info or info.what == "C" then return nil end
  local params = {}
  for i = 1, info.nparams do params[i] = debug.getlocal(f, i) end
  if info.isvararg then params[#params + 1] = "..." end
  return name .. "(" .. table.concat(params, ", ") .. ")  -- defined at " .. info.short_src .. ":" ..
    info.linedefined
end

local function typename(v)
  local mt = getmt(v)
  local n = type(mt) == "table" and rawget(mt, "__name")
  return type(n) == "string" and n or type(v)
end

-- The name path at the start of src, and whether the rest is only a call's
-- arguments ("print(\"x\")" -> "print", true).
local function name_of(src)
  local name, rest = src:match("^([%a_][%w_]*[%w_.:]*)(.*)$")
  if not name then return nil end
  name = name:gsub("[.:]+$", "")
  rest = rest:match("^%s*(.-)%s*$")
  return name, rest == "" or rest:match("^%b()$") ~= nil or rest:match("^%b{}$") ~= nil
    or rest:match("^[\"']") ~= nil
end

--- H.help_text(src) -> text: the help of a name. Its value first (a tensor
-- shows the Tensor type's help, a model the Model's, a function its entry),
-- then the name as a topic, then topics whose names contain it. Nothing is
-- evaluated: "?print('x')" shows print's help.
function H.help_text(src)
  src = src:match("^%s*(.-)%s*$")
  if src == "" then return M.doc() end
  local name, plain = name_of(src)
  if not (name and plain) then return M._search_help(src) end
  local v = lookup(name)
  local doc = v ~= nil and M.doc(v)
  -- a function of the user's is not the method of the same name
  if not doc and (type(v) ~= "function" or M._docs[name]) then doc = M.doc(name) end
  if doc then return doc end
  if v == nil then return M._search_help(name) end
  if type(v) == "function" then
    local std = std_name(v)
    if std then
      return std .. ": a function of the Lua standard library\n  " ..
        "https://www.lua.org/manual/5.4/manual.html#pdf-" .. std
    end
    return signature(name, v) or (name .. ": a function")
  end
  local out = { name .. ": " .. typename(v) }
  if type(v) == "table" and not (getmt(v) and rawget(getmt(v), "__tostring")) then
    local keys = {}
    for k in next, v do if type(k) == "string" then keys[#keys + 1] = k end end
    table.sort(keys)
    if #keys > 60 then keys = { table.unpack(keys, 1, 60) }; keys[61] = "..." end
    if #keys > 0 then out[#out + 1] = "fields: " .. table.concat(keys, ", ") end
    if #v > 0 then out[#out + 1] = "length: " .. #v end
  else
    out[#out + 1] = M.inspect(v)
  end
  return table.concat(out, "\n")
end

-- Lines a..b of text.
local function lines(text, a, b)
  local out, i = {}, 0
  for l in (text .. "\n"):gmatch("([^\n]*)\n") do
    i = i + 1
    if i > b then break end
    if i >= a then out[#out + 1] = l end
  end
  return table.concat(out, "\n")
end

-- The text a function's chunk came from: a file, an embedded chunk, or a typed input.
local function chunk_text(src)
  if src:sub(1, 1) == "@" then
    local f = io.open(src:sub(2), "r")
    if not f then return nil end
    local s = f:read("a")
    f:close()
    return s
  end
  if src:sub(1, 1) == "=" then
    local embedded = src:match("^=%[mgv%]/(.-)%.lua$")
    if embedded then return M._source(embedded) end
    return inputs[src:sub(2)]
  end
  return src   -- load(string) without a name: the chunk is its own name
end

--- H.source_text(src) -> text: ??name, the Lua source of a Lua function
-- (debug.getinfo's source and lines), else its help.
function H.source_text(src)
  local name = name_of(src:match("^%s*(.-)%s*$"))
  local v = name and lookup(name)
  if type(v) ~= "function" then return H.help_text(src) end
  local info = debug.getinfo(v, "S")
  local text = info.what ~= "C" and chunk_text(info.source)
  if not text then
    return H.help_text(src) .. "\n(no Lua source: " .. (info.what == "C" and "a C function)" or "its chunk is gone)")
  end
  return "-- " .. info.short_src .. ":" .. info.linedefined .. "\n" ..
    lines(text, info.linedefined, info.lastlinedefined)
end

-------------------------------------------------------------------------------
-- magics
-------------------------------------------------------------------------------

-- Names the user did not define: Lua's, the module's, the front ends'.
local builtin = {}
for k in pairs(G) do builtin[k] = true end
for w in ("mgv arg help display update_display clear_output exit quit"):gmatch("%S+") do builtin[w] = true end

local function seconds(s)
  if s >= 1 then return string.format("%.3g s", s) end
  if s >= 1e-3 then return string.format("%.3g ms", s * 1e3) end
  if s >= 1e-6 then return string.format("%.3g µs", s * 1e6) end
  return string.format("%.3g ns", s * 1e9)
end

local function detail(v)
  if M.is_tensor(v) then return "shape=[" .. table.concat(v:shape(), "x") .. "]" end
  local t = type(v)
  if t == "table" and not (getmt(v) and rawget(getmt(v), "__tostring")) then
    local n = 0
    for _ in next, v do n = n + 1 end
    return n .. (n == 1 and " entry" or " entries")
  end
  if t == "string" then return #v .. " bytes" end
  if t == "function" then return "" end
  local ok, s = pcall(tostring, v)
  return ok and type(s) == "string" and (s:match("^[^\n]*"):sub(1, 60)) or ""
end

local function who()
  local names = {}
  for k in pairs(G) do
    if type(k) == "string" and not builtin[k] then names[#names + 1] = k end
  end
  table.sort(names)
  if #names == 0 then return "no variables of yours yet" end
  local w1, w2 = 8, 8
  local rows = {}
  for i, k in ipairs(names) do
    local v = rawget(G, k)
    local tn = M.is_tensor(v) and "Tensor" or typename(v):gsub("^mgv%.", "")
    rows[i] = { k, tn, detail(v) }
    w1, w2 = math.max(w1, #k), math.max(w2, #tn)
  end
  local out = { string.format("%-" .. w1 .. "s  %-" .. w2 .. "s  %s", "variable", "type", "info") }
  for _, r in ipairs(rows) do
    out[#out + 1] = (string.format("%-" .. w1 .. "s  %-" .. w2 .. "s  %s", r[1], r[2], r[3]):gsub("%s+$", ""))
  end
  return table.concat(out, "\n")
end

-- The statement of %time / %timeit compiled like a typed chunk.
local function compile_stmt(stmt, name, what, opts)
  if not stmt:find("%S") then error("%" .. what .. ": a statement expected (%" .. what .. " STMT)", 0) end
  local kind, f, show = H.compile(stmt, name, opts)
  if kind == "run" then return f, show end
  if kind == "error" then error(f, 0) end
  error("%" .. what .. ": a statement expected, not help", 0)
end

local function timeit(f)
  local clock = M.clock
  local function run(n)
    local t0 = clock()
    for _ = 1, n do f() end
    return clock() - t0
  end
  local n, t = 1, run(1)
  while t < 0.2 and n < 1e7 do
    n = n * (t < 0.02 and 10 or 2)
    t = run(n)
  end
  local runs = math.max(1, math.min(7, math.floor(2 / t)))
  local per = { t / n }
  for i = 2, runs do per[i] = run(n) / n end
  local mean = 0
  for _, x in ipairs(per) do mean = mean + x end
  mean = mean / #per
  local var = 0
  for _, x in ipairs(per) do var = var + (x - mean) ^ 2 end
  local std = #per > 1 and math.sqrt(var / (#per - 1)) or 0
  return string.format("%s ± %s per loop (mean ± std. dev. of %d run%s, %d loop%s each)",
    seconds(mean), seconds(std), #per, #per == 1 and "" or "s", n, n == 1 and "" or "s")
end

local MAGICS = "%time STMT, %timeit STMT, %who, %help [name], ?name, ??name"

-- A '%' line -> the function that runs it (its results are shown).
magic = function(line, name, opts)
  local word, rest = line:match("^%%(%S*)%s*(.-)$")
  if word == "time" then
    local f, show = compile_stmt(rest, name, "time", opts)
    return function()
      local t0 = M.clock()
      local r = table.pack(f())
      print("Wall time: " .. seconds(M.clock() - t0))
      if show then return table.unpack(r, 1, r.n) end
    end
  elseif word == "timeit" then
    local f = compile_stmt(rest, name, "timeit", opts)
    return function() print(timeit(f)) end
  elseif word == "who" or word == "whos" then
    return function() print(who()) end
  elseif word == "help" or word == "?" then
    return function() print(H.help_text(rest)) end
  elseif word == "lsmagic" or word == "magic" then
    return function() print("magics: " .. MAGICS) end
  end
  error("unknown magic %" .. word .. " (known: " .. MAGICS .. ")", 0)
end
