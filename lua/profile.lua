-- profile.lua — mgv.profile(fn): where the time of fn goes, by op and by
-- layer, from the engine's op timer (engine/core/profile.h). Each op is
-- charged the time since the previous op ended, so Lua code between two ops
-- counts with the second; a backward node is timed whole; "(autograd)" is
-- the tape's own work between nodes. Embedded into the binary; called by
-- luaopen_mgv with (mgv, ...).

local M = ...

local Profile = {}
Profile.__index = Profile
Profile.__name = "mgv.Profile"

-- rows {name, seconds, calls} sorted by time, longest first
local function sorted(acc)
  local rows = {}
  for name, r in pairs(acc) do rows[#rows + 1] = { name = name, seconds = r[1], calls = r[2] } end
  table.sort(rows, function(a, b)
    if a.seconds ~= b.seconds then return a.seconds > b.seconds end
    return a.name < b.name
  end)
  return rows
end

local function add(acc, key, e)
  local r = acc[key]
  if not r then r = { 0, 0 } acc[key] = r end
  r[1], r[2] = r[1] + e.seconds, r[2] + e.calls
end

function M.profile(fn, opts)
  if type(fn) ~= "function" then error("mgv.profile: expects a function", 2) end
  opts = opts or {}
  if type(opts) ~= "table" then error("mgv.profile: options must be a table", 2) end
  local wall, _, entries = M._profile_run(fn)
  local by_op, by_layer, in_ops = {}, {}, 0
  for _, e in ipairs(entries) do
    local name = e.phase == "forward" and e.op or e.op .. " (" .. e.phase .. ")"
    add(by_op, name, e)
    add(by_layer, e.scope ~= "" and e.scope or "(no layer)", e)
    in_ops = in_ops + e.seconds
  end
  local p = setmetatable({ seconds = wall, in_ops = in_ops, outside = wall - in_ops,
                           ops = sorted(by_op), layers = sorted(by_layer), entries = entries,
                           top = opts.top or 20 }, Profile)
  if opts.print ~= false then print(p) end
  return p
end

-- a two-column-plus table of rows, the first `top` of them and the rest summed
local function block(out, title, rows, total, top)
  out[#out + 1] = string.format("%-44s %10s %6s %8s", title, "ms", "%", "calls")
  for i, r in ipairs(rows) do
    if i > top then
      local s, c = 0, 0
      for j = i, #rows do s, c = s + rows[j].seconds, c + rows[j].calls end
      out[#out + 1] = string.format("  %-42s %10.2f %5.1f%% %8d", string.format("(%d more)", #rows - top),
                                    s * 1e3, total > 0 and 100 * s / total or 0, c)
      break
    end
    out[#out + 1] = string.format("  %-42s %10.2f %5.1f%% %8d", r.name:sub(1, 42), r.seconds * 1e3,
                                  total > 0 and 100 * r.seconds / total or 0, r.calls)
  end
end

function Profile:__tostring()
  local out = { string.format("profile: %.2f ms wall, %.2f ms in ops, %.2f ms outside", self.seconds * 1e3,
                              self.in_ops * 1e3, self.outside * 1e3) }
  block(out, "by op", self.ops, self.seconds, self.top)
  block(out, "by layer", self.layers, self.seconds, self.top)
  return table.concat(out, "\n")
end
