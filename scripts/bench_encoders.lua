-- bench_encoders.lua — mgv's side of the encoder benchmark (issue 8):
-- BERT-base forward on 16 x 128 tokens and ViT-B/16-384 forward on 16
-- images, random weights, no autograd; prints "mgv <model> <ms per batch>"
-- for each timed batch. Run by scripts/bench_encoders.sh.
--   bin/mgv scripts/bench_encoders.lua bert|vit [reps]
local which, reps = arg[1] or "bert", tonumber(arg[2] or 2)
mgv.seed(0)
if which == "bert" then
  local bert = mgv.bert.new{seed = 1}
  local ids = mgv.rand(16, 128) * 28995   -- truncated to ids by forward
  local mask = mgv.ones(16, 128)
  mgv.no_grad(function()
    bert:forward(ids, {mask = mask})   -- warm-up
    for _ = 1, reps do
      local t0 = mgv.clock()
      local H = bert:forward(ids, {mask = mask})
      io.write(string.format("mgv bert %.1f\n", (mgv.clock() - t0) * 1000))
      H = nil
      collectgarbage()
    end
  end)
else
  local vit = mgv.vit.new{seed = 1}
  local images = mgv.rand(16, 3, 384, 384) * 2 - 1
  mgv.no_grad(function()
    vit:forward(images)   -- warm-up
    for _ = 1, reps do
      local t0 = mgv.clock()
      local H = vit:forward(images)
      io.write(string.format("mgv vit %.1f\n", (mgv.clock() - t0) * 1000))
      H = nil
      collectgarbage()
    end
  end)
end
