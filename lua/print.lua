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

-- The indices shown along an axis of size n (false marks the "..." gap).
local function shown(n, summarise)
  local e = opts.edgeitems
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
