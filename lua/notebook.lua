-- notebook.lua — what only the Jupyter kernel needs on top of host.lua:
-- display / update_display as display_data messages, progress bars as one
-- live display line per cell, and help for the name under the cursor
-- (inspect_request). The kernel calls mgv._host.notebook(prims) once, with
-- its C primitives:
--   prims.publish(msg_type, display_id, text [, html [, png]])
--   prims.cell() -> a tag unique to the running cell
-- Embedded into the binary; called by luaopen_mgv with (mgv, mgv.Tensor, meta).

local M = ...
local H = M._host

function H.notebook(prims)
  local publish, cell = type(prims) == "table" and prims.publish, type(prims) == "table" and prims.cell
  if type(publish) ~= "function" or type(cell) ~= "function" then
    error("notebook: a table {publish = function, cell = function} expected", 2)
  end
  local ids = 0
  local function new_id()
    ids = ids + 1
    return "mgv-" .. cell() .. "-" .. ids
  end

  -- display(obj [, id]): shows obj now; returns nothing, so a cell ending
  -- in display(x) has no Out value.
  function _G.display(obj, id)
    if select("#", obj) == 0 then error("display: a value expected", 2) end
    id = id ~= nil and tostring(id) or new_id()
    H.known_ids[id] = true
    publish("display_data", id, H.present(obj))
  end

  -- update_display(obj, id): replaces every output shown with that id.
  function _G.update_display(a, b)
    local obj, id = H.update_args(a, b)
    publish("update_display_data", id, H.present(obj))
  end

  -- progress bars (mgv.progress, used by mgv.train and mgv.predict): one
  -- line per cell, redrawn in place at most 4 times a second; a closed bar
  -- says "done".
  local format = string.format
  local shown   -- the display id of the cell's progress line, once shown
  local function draw(text)
    local id = "mgv-progress-" .. cell()
    if shown == id then publish("update_display_data", id, text)
    else publish("display_data", id, text) shown = id end
  end
  function M.progress(total, label)
    local bar = { total = total, label = label or "", start = M.clock(), last = -1, done = 0 }
    function bar:update(done, info)
      local t = M.clock()
      self.done = done
      if done < self.total and t - self.last < 0.25 then return end
      self.last = t
      draw(M._progress_text(self, done, t, info))
    end
    function bar:close()
      if self.total <= 0 and self.done == 0 then return end   -- mgv.progress(0):close() erases
      draw(format("%s done: %d/%d in %.1fs", self.label, self.done, self.total, M.clock() - self.start))
    end
    return bar
  end
end

--- H.inspect(code, pos) -> text, name: help for the name at a 0-based byte
-- position, or for the function being called there.
function H.inspect(code, pos)
  local before, after = code:sub(1, pos), code:sub(pos + 1)
  local name = before:match("[%w_%.:]*$") .. after:match("^[%w_]*")
  if not name:match("[%a_]") then
    local depth, i = 0, #before
    while i > 0 do
      local c = before:sub(i, i)
      if c == ")" then depth = depth + 1
      elseif c == "(" then if depth == 0 then break end depth = depth - 1 end
      i = i - 1
    end
    name = i > 0 and before:sub(1, i - 1):match("[%w_%.:]*$") or ""
  end
  name = name:gsub("^[.:]+", ""):gsub("[.:]+$", "")
  if name == "" or name:match("^%d") then return nil end
  local text = H.help_text(name)
  if text:match("^no help for ") then return nil end
  return text, name
end
