-- bench_mpi.lua — the data-parallel step, measured: milliseconds per step,
-- bytes through collectives per step, the time in them, and the time of the
-- gradient allreduce alone. README, "Several processes".
--
--   MGV_NUM_THREADS=2 bin/mgv scripts/bench_mpi.lua [STEPS] [HIDDEN]
--   mpirun -np 2 -x MGV_NUM_THREADS=1 bin/mgv scripts/bench_mpi.lua [STEPS] [HIDDEN]
--
-- The model is the main job's on the synthetic set (zeroshot.lua --task
-- synth), batch 16; prints one JSON line (rank 0).
local steps = math.tointeger(tonumber(arg[1] or "20")) or 20
local hidden = math.tointeger(tonumber(arg[2] or "0"))
local task = mgv.data.synth{ seed = 0 }
local model = mgv.model{ words = task.words, task = "met", images = true, seed = 0,
                         hidden = hidden and hidden > 0 and hidden or nil }
local sampler = mgv.sampler(task.train, 0)
local d = mgv.dist
for _ = 1, 2 do model:train_step(task.train, sampler:next(16)) end   -- warm-up
d.barrier()
local s0, t0 = d.stats(), mgv.clock()
for _ = 1, steps do model:train_step(task.train, sampler:next(16)) end
local t = mgv.tensor{ (mgv.clock() - t0) / steps }
local s1 = d.stats()
local comm = mgv.tensor{ (s1.seconds - s0.seconds) / steps }
d.allreduce(t, "max")
d.allreduce(comm, "max")
-- the encoders' gradients: what the step allreduces (the head's are equal on all ranks)
local enc, head = 0, 0
for k, p in pairs(model:parameters()) do
  if k:match("^text%.") or k:match("^vision%.") then enc = enc + p:numel() else head = head + p:numel() end
end
local buf = mgv.zeros(enc)
d.barrier()
local a0 = mgv.clock()
for _ = 1, 20 do d.allreduce(buf) end
local ar = mgv.tensor{ (mgv.clock() - a0) / 20 }
d.allreduce(ar, "max")
if d.rank() == 0 then
  print(mgv.json.encode{ ranks = d.size(), threads = mgv.get_num_threads and mgv.get_num_threads(),
    hidden = model:config().hidden, steps = steps, ms_per_step = t[1] * 1000,
    comm_ms_per_step = comm[1] * 1000, bytes_per_step = (s1.bytes - s0.bytes) / steps,
    encoder_params = enc, head_params = head, grad_allreduce_ms = ar[1] * 1000 })
end
