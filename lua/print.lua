-- print.lua — tensor printing (the __tostring metamethod of mgv.Tensor).
--
-- numpy/PyTorch style: nested brackets, one row per line, values right-aligned
-- in one common format, and the shape at the end:
--
--   tensor([[1, 2],
--           [3, 4]], shape=[2x2])
--
-- Tensors with more than `threshold` elements are summarised: only
-- `edgeitems` leading and trailing entries of each long axis are shown, with
-- "..." between, so printing a 1000x1000 tensor reads 7x7 numbers, not 10^6.
-- Embedded into the binary; called by luaopen_mgv with (mgv, mgv.Tensor, meta).

local M, Tensor, meta = ...

local opts = { edgeitems = 3, threshold = 1000, linewidth = 80, precision = 4 }

--- mgv.set_printoptions{precision=, threshold=, edgeitems=, linewidth=}
-- Changes how tensors print; returns the previous options.
function M.set_printoptions(o)
  local old = {}
  for k, v in pairs(opts) do old[k] = v end
  if o == nil then return old end
  assert(type(o) == "table", "set_printoptions: a table expected")
  for k, v in pairs(o) do
    if opts[k] == nil then error("set_printoptions: unknown option '" .. tostring(k) .. "'", 2) end
    if math.type(v) ~= "integer" or v < 0 then
      error("set_printoptions: option '" .. k .. "' must be a non-negative integer", 2)
    end
    opts[k] = v
  end
  return old
end

-- The indices shown along an axis of size n (false marks the "..." gap);
-- edge entries at each end (default: the edgeitems option).
local function shown(n, summarise, edge)
  local e = edge or opts.edgeitems
  local l = {}
  if summarise and n > 2 * e then
    for i = 1, e do l[#l + 1] = i end
    l[#l + 1] = false
    for i = n - e + 1, n do l[#l + 1] = i end
  else
    for i = 1, n do l[i] = i end
  end
  return l
end

-- For other views of tensors (host.lua's HTML tables): an axis's size and
-- how many entries to show at each end.
function M._shown_indices(n, edge)
  if math.type(n) ~= "integer" or n < 0 or n > 1 << 31 or math.type(edge) ~= "integer"
    or edge < 0 or edge > 1 << 20 then
    error("_shown_indices: an axis size and an edge count (integers) expected", 2)
  end
  return shown(n, true, edge)
end

local function special(v)
  if v ~= v then return "nan" end
  if v == math.huge then return "inf" end
  if v == -math.huge then return "-inf" end
  return nil
end

-- One number format for all shown values: integers when every finite value
-- is integral, else fixed point, else scientific for very large/small ranges.
local function formatter(vals)
  local allint, maxabs, minabs = true, 0, math.huge
  for _, v in ipairs(vals) do
    if not special(v) then
      local a = math.abs(v)
      if a > maxabs then maxabs = a end
      if a > 0 and a < minabs then minabs = a end
      if v ~= math.floor(v) then allint = false end
    end
  end
  local p = opts.precision
  local f
  if allint and maxabs < 1e8 then
    f = function(v) return string.format("%d", math.tointeger(v) or 0) end
  elseif maxabs >= 1e8 or minabs < 10 ^ -p then
    local s = "%." .. p .. "e"
    f = function(v) return string.format(s, v) end
  else
    local s = "%." .. p .. "f"
    f = function(v) return string.format(s, v) end
  end
  return function(v) return special(v) or f(v) end
end

-- Gathers the shown values as a nested table mirroring the axes.
local function gather(t, shape, summarise, flat)
  local nd = #shape
  local lists = {}
  for d = 1, nd do lists[d] = shown(shape[d], summarise) end
  local idx = {}
  local function rec(d)
    local node = {}
    for k, i in ipairs(lists[d]) do
      if i == false then
        node[k] = false
      else
        idx[d] = i
        if d == nd then
          local v = t:get(table.unpack(idx, 1, nd))
          node[k] = v
          flat[#flat + 1] = v
        else
          node[k] = rec(d + 1)
        end
      end
    end
    return node
  end
  return rec(1)
end

local PREFIX = "tensor("

local function render(node, depth, nd, fmt, width)
  local indent = #PREFIX + depth
  if depth == nd then
    local items = {}
    for k, v in ipairs(node) do
      if v == false then
        items[k] = "..."
      else
        local s = fmt(v)
        items[k] = string.rep(" ", width - #s) .. s
      end
    end
    local per_line = math.max(1, (opts.linewidth - indent) // (width + 2))
    if #items <= per_line then return "[" .. table.concat(items, ", ") .. "]" end
    local lines = {}
    for i = 1, #items, per_line do
      lines[#lines + 1] = table.concat(items, ", ", i, math.min(i + per_line - 1, #items))
    end
    return "[" .. table.concat(lines, ",\n" .. string.rep(" ", indent)) .. "]"
  end
  local parts = {}
  for k, child in ipairs(node) do
    parts[k] = child == false and "..." or render(child, depth + 1, nd, fmt, width)
  end
  local sep = "," .. string.rep("\n", nd - depth) .. string.rep(" ", indent)
  return "[" .. table.concat(parts, sep) .. "]"
end

local function tostring_tensor(t)
  local ok, shape = pcall(t.shape, t)
  if not ok then return "tensor(<freed>)" end
  local suffix = ", shape=[" .. table.concat(shape, "x") .. "]"
  local fn = t.grad_fn
  if fn then
    suffix = suffix .. ", grad_fn=<" .. fn .. ">"
  elseif t.requires_grad then
    suffix = suffix .. ", requires_grad=true"
  end
  local nd = #shape
  if nd == 0 then
    local v = t:item()
    return PREFIX .. formatter({ v })(v) .. suffix .. ")"
  end
  local n = t:numel()
  if n == 0 then return PREFIX .. "[]" .. suffix .. ")" end
  local flat = {}
  local tree = gather(t, shape, n > opts.threshold, flat)
  local fmt = formatter(flat)
  local width = 0
  for _, v in ipairs(flat) do
    local w = #fmt(v)
    if w > width then width = w end
  end
  return PREFIX .. render(tree, 1, nd, fmt, width) .. suffix .. ")"
end

meta.__tostring = tostring_tensor

-------------------------------------------------------------------------------
-- mgv.inspect: readable text for any Lua value (what the REPL prints)
-------------------------------------------------------------------------------
--
-- Tables print nested, keys sorted (the array part first, in order), on one
-- line when that fits in `width` and indented otherwise; a table met again
-- on its own path prints as <cycle>; deeper than `depth` as {...}; more
-- than `items` entries end with "... (n more)". Inside a table, a tensor
-- prints its values only when it has a few of them, else its shape; objects
-- with __tostring (models, data sets) print their first line.

local KEYWORDS = {}
for w in ([[and break do else elseif end false for function goto if in local nil not or
  repeat return then true until while]]):gmatch("%a+") do KEYWORDS[w] = true end

local INSPECT_DEFAULTS = { depth = 4, items = 40, width = 80, strlen = 200 }

local function quote(s, maxlen)
  local cut = ""
  if #s > maxlen then
    cut = "...(" .. #s .. " bytes)"
    s = s:sub(1, maxlen)
  end
  local q = string.format("%q", s):gsub("\\\n", "\\n"):gsub("\\\r", "\\r")
  return q .. cut
end

-- The first line of tostring(v) through __tostring, protected.
local function tostring_line(v)
  local ok, s = pcall(tostring, v)
  if not ok or type(s) ~= "string" then return "<" .. type(v) .. ": __tostring failed>" end
  local first, rest = s:match("^([^\n]*)\n(.*)$")
  if first then return first .. " ..." end
  return s
end

-- A tensor inside a table: its values when few, else its shape.
local function short_tensor(t)
  local ok, shape = pcall(t.shape, t)
  if not ok then return "tensor(<freed>)" end
  if t:numel() <= 8 then
    local s = tostring_tensor(t)
    if not s:find("\n", 1, true) then return s end
  end
  local extra = t.grad_fn and (", grad_fn=<" .. t.grad_fn .. ">")
    or (t.requires_grad and ", requires_grad=true" or "")
  return "tensor(shape=[" .. table.concat(shape, "x") .. "]" .. extra .. ")"
end

local function function_name(f)
  local name = M._doc_name and M._doc_name(f)
  if name then return "function: " .. name end
  return tostring(f)
end

local function has_tostring(v)
  local mt = getmetatable(v)
  return type(mt) == "table" and rawget(mt, "__tostring") ~= nil
end

-- Keys of a table in print order: 1..n, then numbers, strings, the rest.
local function sorted_keys(t)
  local n = rawlen(t)
  local rest = {}
  for k in next, t do
    if not (math.type(k) == "integer" and k >= 1 and k <= n) then rest[#rest + 1] = k end
  end
  local rank = { number = 1, string = 2, boolean = 3 }
  table.sort(rest, function(a, b)
    local ta, tb = rank[type(a)] or 4, rank[type(b)] or 4
    if ta ~= tb then return ta < tb end
    if ta == 1 or ta == 2 then return a < b end
    return tostring(a) < tostring(b)
  end)
  return n, rest
end

local render

local function render_key(k, o)
  if type(k) == "string" and k:match("^[%a_][%w_]*$") and not KEYWORDS[k] then return k end
  return "[" .. render(k, o, 0, {}, 0) .. "]"
end

-- v at nesting level `level`, printed at column `indent`; `path` holds the
-- tables being printed around it (cycle detection).
render = function(v, o, level, path, indent)
  local tv = type(v)
  if tv == "string" then return quote(v, o.strlen) end
  if tv == "number" or tv == "boolean" or tv == "nil" then return tostring(v) end
  if tv == "function" then return function_name(v) end
  if M.is_tensor(v) then return short_tensor(v) end
  if tv ~= "table" or has_tostring(v) then return tostring_line(v) end
  if path[v] then return "<cycle>" end
  local n, rest = sorted_keys(v)
  local total = n + #rest
  if total == 0 then return "{}" end
  if level >= o.depth then return "{...}" end
  path[v] = true
  local parts, shown = {}, math.min(total, o.items)
  local multiline = false
  for i = 1, shown do
    local s
    if i <= n then
      s = render(rawget(v, i), o, level + 1, path, indent + 2)
    else
      local k = rest[i - n]
      s = render_key(k, o) .. " = " .. render(rawget(v, k), o, level + 1, path, indent + 2)
    end
    if s:find("\n", 1, true) then multiline = true end
    parts[i] = s
  end
  path[v] = nil
  if total > shown then parts[#parts + 1] = "... (" .. (total - shown) .. " more)" end
  if not multiline then
    local line = "{" .. table.concat(parts, ", ") .. "}"
    if indent + #line <= o.width then return line end
  end
  -- one entry per line, except that single-line array items share lines
  local pad = string.rep(" ", indent + 2)
  local lines, line = {}, nil
  for i, s in ipairs(parts) do
    local packable = i <= n and not s:find("\n", 1, true)
    if packable and line and #pad + #line + 2 + #s <= o.width then
      line = line .. ", " .. s
    else
      if line then lines[#lines + 1] = line end
      line = s
      if not packable then
        lines[#lines + 1] = line
        line = nil
      end
    end
  end
  if line then lines[#lines + 1] = line end
  return "{\n" .. pad .. table.concat(lines, ",\n" .. pad) .. "\n" .. string.rep(" ", indent) .. "}"
end

--- mgv.inspect(v [, {depth=4, items=40, width=80, strlen=200}]) -> string
function M.inspect(v, opts)
  local o = {}
  for k, d in pairs(INSPECT_DEFAULTS) do o[k] = d end
  if opts ~= nil then
    if type(opts) ~= "table" then
      error("inspect: options must be a table, got " .. type(opts), 2)
    end
    for k, x in pairs(opts) do
      if INSPECT_DEFAULTS[k] == nil then
        error("inspect: unknown option '" .. tostring(k) .. "' (known: depth, items, width, strlen)", 2)
      end
      if math.type(x) ~= "integer" or x < 1 then
        error("inspect: option '" .. k .. "' must be a positive integer", 2)
      end
      o[k] = x
    end
  end
  -- at the top, objects print in full (a tensor's values, a model's layers)
  if M.is_tensor(v) then return tostring_tensor(v) end
  if has_tostring(v) then
    local ok, s = pcall(tostring, v)
    if ok and type(s) == "string" then return s end
  end
  return render(v, o, 0, {}, 0)
end

-- The REPL's view of a chunk's results: strings as they are (as lua.c), the
-- rest through inspect; on one line with tabs when each fits, else one per
-- line.
function M._show_results(...)
  local n = select("#", ...)
  local parts, multi = {}, false
  for i = 1, n do
    local v = select(i, ...)
    local s = type(v) == "string" and v or M.inspect(v)
    if s:find("\n", 1, true) then multi = true end
    parts[i] = s
  end
  return table.concat(parts, multi and "\n" or "\t")
end
