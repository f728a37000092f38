-- tour.lua — tensors and autograd in five minutes.   bin/mgv examples/tour.lua

-- Tensors: float32, up to 8 axes, 1-based indices like everything in Lua.
local a = mgv.tensor{{1, 2, 3}, {4, 5, 6}}
print(a)                              -- numpy-style, with the shape
print(a:shape()[1], a:size(2), #a)    -- 2 3 2
print(a[2])                           -- a view of the second row
print(a:transpose(1, 2))              -- views share storage; no copy
print(a * 2 + 1, a:sum(2), a:mean())  -- broadcasting, reductions
print(a:matmul(mgv.ones(3, 2)))       -- matrix product on OpenBLAS

-- Errors are messages that name the op and the shapes.
print(pcall(function() return a:matmul(a) end))

-- Autograd: mark leaves, compute, call backward on a scalar.
mgv.seed(0)
local x = mgv.randn(8, 3)
local true_w = mgv.tensor{{0.5, -1, 2}}
local y = x:matmul(true_w:transpose(1, 2))          -- targets [8 x 1]
local w = mgv.zeros(1, 3):requires_grad_()
local opt = mgv.optim.adam({w}, {lr = 0.1})
for step = 1, 200 do
  local loss = ((x:matmul(w:transpose(1, 2)) - y) ^ 2):mean()
  opt:zero_grad()
  loss:backward()
  opt:step()
  if step % 50 == 0 then print(string.format("step %3d  loss %.6f", step, loss:item())) end
end
print("learned", w, "true", true_w)

-- Evaluation without the tape, and checkpoints (safetensors).
mgv.no_grad(function() print("prediction", x[1]:reshape(1, 3):matmul(w:transpose(1, 2))) end)
local path = os.tmpname()
mgv.save(path, {w = w}, {note = "tour"})
local t, meta = mgv.load(path)
print("reloaded", t.w, meta.note)
os.remove(path)
