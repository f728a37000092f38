-- routing.lua — train a small zero-shot model on the synthetic set and look
-- inside it: which experts each token is routed to, where a sample sits in
-- the MG-VAT graph, expert usage per class.   bin/mgv examples/routing.lua [outdir]
local outdir = arg[1] or "."
local task = mgv.data.synth{seed = 0}
local model = mgv.model{words = task.words, task = "met", images = true, seed = 0}
print(model)
local result = mgv.train(model, task, {epochs = 4, patience = 4})
print(string.format("best epoch %d, validation macro-F1 %.3f", result.best_epoch,
  result.val_macro_f1))

-- A test instance of an unseen class: its tokens, gates and top experts,
-- its strongest edges in the graph, and routing over the whole test split.
local r = model:route(task.test, 17)
print(r)
print(model:neighbours(task.test, 17, 8))
local stats = mgv.routing_stats(model, task.test)
print(stats)

-- The same as pictures.
mgv.plot.gates(r, model:route(task.test, 401)):save(outdir .. "/gates.png")
mgv.plot.ego(model, task.test, 17):save(outdir .. "/ego.png")
mgv.plot.bars(stats):save(outdir .. "/usage.png")
local out = model:forward(task.test, {1, 41, 81, 121, 161, 201, 241, 281})
local labels = {}
for i, k in ipairs({1, 41, 81, 121, 161, 201, 241, 281}) do labels[i] = task.test:instance(k).class end
mgv.plot.graph(out.graph, labels):save(outdir .. "/graph.png")
mgv.plot.history(result):save(outdir .. "/history.png")
print("wrote gates.png, ego.png, usage.png, graph.png and history.png to " .. outdir)
