-- train.lua — the zero-shot training loop, in Lua over the C step.
--
--   local result = mgv.train(model, task, {epochs = 20, patience = 10})
--
-- Each epoch takes floor(N/16)+1 class-balanced batches of the training
-- classes (round-robin over classes, a random instance of each), then
-- predicts the validation classes; the weights are kept (in memory, and in
-- opts.dir when given) when validation macro-F1 or micro-F1 is at least its
-- best so far, as the reference does; training stops after `patience` epochs
-- without that. Finally (or at Ctrl-C) the best weights are put back.
-- Written in Lua so that users can copy it and write their own loops.
-- Under mpirun every rank runs it (data-parallel, README "Several
-- processes"): the same sampler seed gives every rank the same global batch,
-- model:train_step splits it, mgv.predict shards the evaluation, and rank 0
-- alone prints and writes the checkpoints.
-- Embedded into the binary; called by luaopen_mgv with (mgv, mgv.Tensor, meta).

local M = ...

-- A bar's line at `done` of bar.total (bar.label, bar.start) at time now:
-- "label [====    ] done/total rate/s ETA s info". The terminal's bar and
-- the notebook's (notebook.lua) both draw it.
function M._progress_text(bar, done, now, info)
  local frac = bar.total > 0 and done / bar.total or 1
  local width = 24
  local filled = math.floor(frac * width + 0.5)
  local elapsed = now - bar.start
  local rate = elapsed > 0 and done / elapsed or 0
  local eta = rate > 0 and (bar.total - done) / rate or 0
  return string.format("%s [%s%s] %d/%d %.1f/s ETA %ds %s", bar.label, string.rep("=", filled),
    string.rep(" ", width - filled), done, bar.total, rate, math.floor(eta + 0.5), info or "")
end

--- A progress bar with rate and ETA, on stderr, only when it is a terminal.
-- mgv.progress(total, label) -> bar; bar:update(done, info); bar:close()
function M.progress(total, label)
  local bar = { total = total, label = label or "", start = M.clock(),
                tty = M.isatty(2) and M.dist.rank() == 0, last = -1 }
  function bar:update(done, info)
    if not self.tty then return end
    local now = M.clock()
    if done < self.total and now - self.last < 0.1 then return end
    self.last = now
    io.stderr:write("\r", M._progress_text(self, done, now, info), "\27[K")
    io.stderr:flush()
  end
  function bar:close()
    if self.tty then io.stderr:write("\r\27[K") io.stderr:flush() end
  end
  return bar
end

--- Predictions for a whole data set, with a progress bar. With several
-- ranks each predicts its share of the batches (the same batches one process
-- would make) and the predictions are summed over the ranks.
function M.predict(model, ds, opts)
  opts = opts or {}
  local batch = opts.batch or 64
  local n = #ds
  local out = {}
  local bar = M.progress(n, opts.label or "predict")
  local chunk = batch * 4
  local ranks = M.dist.size()
  local lo, hi = 1, n
  if ranks > 1 then
    local b1, nb = M.dist.split((n + batch - 1) // batch)
    lo, hi = (b1 - 1) * batch + 1, math.min(n, (b1 - 1 + nb) * batch)
  end
  for first = lo, hi, chunk do
    local count = math.min(chunk, hi - first + 1)
    local p = model:predict(ds, { batch = batch, first = first, count = count,
                                  disable_experts = opts.disable_experts, gates = opts.gates })
    for i = 1, count do out[first + i - 1] = p[i] end
    bar:update(first + count - lo)
  end
  bar:close()
  if ranks > 1 and n > 0 then
    local all = M.zeros(n)   -- class indices are small integers: exact as floats
    for i = lo, hi do all[i] = out[i] end
    M.dist.allreduce(all, "sum")
    for i = 1, n do out[i] = math.tointeger(all[i]) end
  end
  return out
end

--- Scores a data set: metrics table (macro_p, macro_r, macro_f1, micro_f1, table, ...).
-- opts: batch, label, and the routing interventions of model:predict
-- (disable_experts = {k, ...}, gates = "uniform" | tensor).
function M.evaluate(model, ds, opts)
  local pred = M.predict(model, ds, opts)
  local m = M.metrics(ds:labels(), pred, ds:classes())
  m.pred = pred
  return m
end

local function log(opts, fmt, ...)
  if opts.quiet or M.dist.rank() > 0 then return end
  io.stdout:write(string.format(fmt, ...), "\n")
  io.stdout:flush()
end

--- mgv.train(model, task, opts) -> result table.
-- opts: epochs (20), patience (10), batch (16), seed (0), dir (a folder that
-- receives best.safetensors, the best weights, and last.safetensors, the
-- last epoch with the optimiser state, written by rank 0; without it nothing is written: the
-- best weights are kept in memory), resume (continue from dir's
-- last.safetensors), steps_per_epoch (default floor(N/batch)+1),
-- on_epoch(fn(info)), quiet.
-- Ctrl-C stops it and returns the result so far with interrupted = true and
-- the best weights restored (several ranks: all after the same step, on
-- SIGINT or SIGTERM to any of them); any other error is raised.
function M.train(model, task, opts)
  opts = opts or {}
  if opts.checkpoint ~= nil then
    error("mgv.train: the option 'checkpoint' is now 'dir', a folder for best.safetensors " ..
          "and last.safetensors", 2)
  end
  local dir = opts.dir
  if dir ~= nil then
    local f = type(dir) == "string" and io.open(dir .. "/.")   -- opens only a folder
    if not f then error("mgv.train: dir '" .. tostring(dir) .. "' is not a folder (make it first)", 2) end
    f:close()
  end
  if opts.resume and not dir then error("mgv.train: resume needs dir, the folder of the run to continue", 2) end
  local epochs = opts.epochs or 20
  local patience = opts.patience or 10
  local batch = opts.batch or 16
  local train, val = task.train, task.val
  local steps = opts.steps_per_epoch or (#train // batch + 1)
  local sampler = M.sampler(train, opts.seed or 0)
  local best_file = dir and dir .. "/best.safetensors"
  local last_file = dir and dir .. "/last.safetensors"
  local best = { macro_f1 = -1, micro_f1 = -1, epoch = 0 }
  local history = {}
  local start_epoch, waited = 1, 0
  -- the best weights so far, in memory (epoch 0: the weights before training);
  -- `pending` is the epoch being kept: an interrupt may come in the middle,
  -- and then the model itself holds that epoch's weights
  local params, kept, pending = model:parameters(), {}, nil
  local function keep()
    M.no_grad(function()
      for k, p in pairs(params) do
        if kept[k] then kept[k]:copy(p) else kept[k] = p:clone() end
      end
    end)
  end
  local writer = dir and M.dist.rank() == 0   -- one rank writes the checkpoints
  local f = opts.resume and io.open(last_file, "rb")
  if f then
    f:close()
    -- the epoch counter and the best scores travel in the metadata
    local _, meta = M.load(last_file)
    if meta.epoch then
      start_epoch = tonumber(meta.epoch) + 1
      best.macro_f1 = tonumber(meta.best_macro_f1) or -1
      best.micro_f1 = tonumber(meta.best_micro_f1) or -1
      best.epoch = tonumber(meta.best_epoch) or 0
      waited = tonumber(meta.waited) or 0
    end
    if best.epoch > 0 then model:load(best_file) end
    keep()
    model:load(last_file)
    -- the batches the finished epochs drew (the generators' states came with last_file)
    for _ = 1, (start_epoch - 1) * steps do sampler:next(batch) end
    log(opts, "resuming after epoch %d (best val macro-F1 %.4f)", start_epoch - 1, best.macro_f1)
  else
    keep()
  end
  local t0 = M.clock()
  local epoch = start_epoch - 1
  -- several ranks stop together, after the same step: Ctrl-C or mpirun's
  -- SIGTERM only notes a request, and the ranks agree on it after each step
  local together, stopped = M.dist.size() > 1, false
  if together then M.dist.defer_stop(true) end
  local ok, err, interrupted = M._pcall(function()
    while epoch < epochs do
      epoch = epoch + 1
      local bar = M.progress(steps, string.format("epoch %d/%d", epoch, epochs))
      local sum = { loss = 0, rank = 0, vmoe = 0, nce = 0, mg = 0, accuracy = 0 }
      for s = 1, steps do
        local st = model:train_step(train, sampler:next(batch))
        for k in pairs(sum) do sum[k] = sum[k] + st[k] end
        bar:update(s, string.format("loss %.3f acc %.2f", sum.loss / s, sum.accuracy / s))
        if together and M.dist.stop_requested() then stopped = true return end
      end
      bar:close()
      for k in pairs(sum) do sum[k] = sum[k] / steps end
      local v = M.evaluate(model, val, { label = "validate" })
      local info = { epoch = epoch, train = sum, val_macro_f1 = v.macro_f1, val_micro_f1 = v.micro_f1 }
      history[#history + 1] = info
      local improved = v.macro_f1 >= best.macro_f1 or v.micro_f1 >= best.micro_f1
      if improved then
        pending = { macro_f1 = v.macro_f1, micro_f1 = v.micro_f1, epoch = epoch }
        keep()
        best = pending
        pending = nil
        if writer then model:save(best_file, { epoch = tostring(epoch), val_macro_f1 = tostring(v.macro_f1) }) end
        waited = 0
      else
        waited = waited + 1
      end
      log(opts, "epoch %2d  loss %.4f (rank %.4f vmoe %.4f nce %.4f mg %.5f)  train acc %.3f  val macro-F1 %.4f micro-F1 %.4f%s",
        epoch, sum.loss, sum.rank, sum.vmoe, sum.nce, sum.mg, sum.accuracy, v.macro_f1, v.micro_f1,
        improved and "  *" or "")
      if writer then
        model:save(last_file, { epoch = tostring(epoch), best_macro_f1 = tostring(best.macro_f1),
          best_micro_f1 = tostring(best.micro_f1), best_epoch = tostring(best.epoch),
          waited = tostring(waited) }, true)
      end
      if opts.on_epoch then opts.on_epoch(info) end
      if waited >= patience then
        log(opts, "early stop: %d epochs without improvement", waited)
        break
      end
    end
  end)
  if together then M.dist.defer_stop(false) end
  interrupted = interrupted or stopped
  if not ok and not interrupted then error(err, 0) end
  if pending then best = pending   -- the model holds them
  else M.no_grad(function() for k, p in pairs(params) do p:copy(kept[k]) end end) end
  local r = { best_epoch = best.epoch, val_macro_f1 = best.macro_f1, val_micro_f1 = best.micro_f1,
              history = history, dir = dir, seconds = M.clock() - t0 }
  if interrupted then
    M.progress(0):close()   -- erase the bar the interrupt left on the terminal
    r.interrupted = true
    if M.dist.rank() == 0 then
      io.stderr:write(string.format("training interrupted in epoch %d of %d; %s\n", epoch, epochs,
        best.epoch > 0 and string.format("best epoch %d restored (val macro-F1 %.4f)", best.epoch,
          best.macro_f1) or "no epoch was validated: the weights from before training restored"))
      io.stderr:flush()
    end
  end
  return r
end
