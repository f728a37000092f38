-- complete.lua — tab completion of Lua names, for the REPL and other front ends.
--
--   mgv._complete("mgv.ze")   --> {"mgv.zeros"}
--   mgv._complete("t:res")    --> {"t:reshape"}        (t a tensor)
--
-- A word is a dotted path of names with an optional last ':' (a method
-- call) and a partial name. The path is looked up from the globals; the
-- candidates are the keys of the value found, of the tables its metatables
-- reach through __index (followed up to a few levels), of a `__methods`
-- table (the C classes: Model, Dataset) or of a table that a C __index
-- function keeps as an upvalue (Tensor, Optim), plus the fields that such
-- functions answer (t.grad, model.steps). After ':' only functions qualify.
-- Names starting with '_' are offered only when the partial name does.
-- Embedded into the binary; called by luaopen_mgv with (mgv, mgv.Tensor, meta).

local M = ...

local G = _G

local KEYWORDS = {}
for w in ([[and break do else elseif end false for function goto if in local nil not or
  repeat return then true until while]]):gmatch("%a+") do KEYWORDS[#KEYWORDS + 1] = w end

-- Fields answered by C __index functions that no table lists, by class name.
local FIELDS = {
  ["mgv.Tensor"] = { "grad", "requires_grad", "is_leaf", "grad_fn" },
  ["mgv.Model"] = { "steps", "lr" },
  ["mgv.Dataset"] = { "n", "n_classes" },
  ["mgv.Optim"] = { "lr", "momentum", "weight_decay", "eps", "beta1", "beta2", "betas", "steps",
                    "kind", "n" },
}

local FIELD = {}   -- marks a field whose value is not known (not a method)
local KEYWORD = {}

local function is_name(s)
  return type(s) == "string" and s:match("^[%a_][%w_]*$") ~= nil
end

-- obj[k] without raising (an __index metamethod may fail on odd keys).
local function field(obj, k)
  if type(obj) == "table" then
    local v = rawget(obj, k)
    if v ~= nil then return v end
  end
  local ok, v = pcall(function() return obj[k] end)
  if ok then return v end
  return nil
end

local function add_table(t, out)
  for k, v in next, t do
    if is_name(k) and out[k] == nil then out[k] = v end
  end
end

-- Gathers name -> value for everything obj.name can reach.
local function collect(obj, out, depth)
  if depth > 6 then return end
  if type(obj) == "table" then add_table(obj, out) end
  local mt = getmetatable(obj)
  if type(mt) ~= "table" then return end   -- none, or protected by __metatable
  local idx = rawget(mt, "__index")
  if type(idx) == "table" then
    collect(idx, out, depth + 1)
  elseif type(idx) == "function" then
    local methods = rawget(mt, "__methods")
    if type(methods) == "table" then add_table(methods, out) end
    -- a C __index keeps its methods table as an upvalue; Lua functions are
    -- skipped (their upvalues include _ENV, the globals)
    if debug and debug.getupvalue and debug.getinfo(idx, "S").what == "C" then
      for i = 1, 8 do
        local name, up = debug.getupvalue(idx, i)
        if name == nil then break end
        if type(up) == "table" and up ~= G then add_table(up, out) end
      end
    end
  end
  local fields = FIELDS[rawget(mt, "__name")]
  if fields then
    for _, f in ipairs(fields) do if out[f] == nil then out[f] = FIELD end end
  end
end

local function callable(v)
  if type(v) == "function" then return true end
  local mt = getmetatable(v)
  return type(mt) == "table" and rawget(mt, "__call") ~= nil
end

--- mgv._complete(word) -> sorted list of completions of word (full words),
-- and a list of their kinds (the type of the value, "keyword" or "property").
function M._complete(word)
  if type(word) ~= "string" then
    error("complete: a string expected, got " .. type(word), 2)
  end
  local path, sep, partial = word:match("^(.-)([.:])([%w_]*)$")
  local names = {}
  if not path then
    if not word:match("^[%a_]?[%w_]*$") then return {} end
    partial = word
    collect(G, names, 0)
    for _, k in ipairs(KEYWORDS) do names[k] = names[k] or KEYWORD end
  else
    -- the path: names joined by '.'; a ':' may only come last
    local obj = G
    for seg in (path .. "."):gmatch("(.-)%.") do
      if not is_name(seg) then return {} end
      obj = field(obj, seg)
      if obj == nil then return {} end
    end
    local t = type(obj)
    if t ~= "table" and t ~= "userdata" and t ~= "string" then return {} end
    collect(obj, names, 0)
  end
  local hidden = partial:sub(1, 1) ~= "_"
  local head = path and (path .. sep) or ""
  local out = {}
  for k, v in pairs(names) do
    if k:sub(1, #partial) == partial and not (hidden and k:sub(1, 1) == "_")
      and (sep ~= ":" or (v ~= FIELD and v ~= KEYWORD and callable(v))) then
      out[#out + 1] = head .. k
    end
  end
  table.sort(out)
  local kinds = {}
  for i, w in ipairs(out) do
    local v = names[w:sub(#head + 1)]
    kinds[i] = v == KEYWORD and "keyword" or v == FIELD and "property" or type(v)
  end
  return out, kinds
end
