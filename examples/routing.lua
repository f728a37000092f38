-- routing.lua — train a small zero-shot model on the synthetic set and look
-- inside it: which experts each token is routed to, expert usage per class,
-- the batch graph, p and p~.           bin/mgv examples/routing.lua [outdir]
local outdir = arg[1] or "."
local task = mgv.data.synth{seed = 0}
local model = mgv.model{words = task.words, task = "met", images = true, seed = 0}
print(model)
local result = mgv.train(model, task, {epochs = 4, patience = 4})
print(string.format("best epoch %d, validation macro-F1 %.3f", result.best_epoch,
  result.val_macro_f1))

-- Eight test instances of the unseen classes.
local idx = {}
for i = 1, 8 do idx[i] = 1 + (i - 1) * (#task.test // 8) end
local out = model:forward(task.test, idx)

-- Per-token gates of the first instance: rows are tokens, columns experts.
local words = {}
local special = { [-2] = "[CLS]", [-3] = "[E]", [-4] = "[/E]" }
for i, id in ipairs(out.tokens[1]) do words[i] = id > 0 and task.vocab[id] or special[id] or "?" end
print("tokens of instance 1: " .. table.concat(words, " "))
print("gates (tokens x experts):", out.gate_text[1]:slice(1, 1, #words))
print("expert usage per sample (text):", out.usage_text)
print("expert usage per sample (image):", out.usage_image)

-- The batch graph G and the graph predictions p and p~ (MG-VAT).
print("G:", out.graph)
print("p:", out.p)
print("p~:", out.p_tilde)

-- The same as pictures.
local labels = {}
for i, k in ipairs(idx) do labels[i] = task.test:instance(k).class end
mgv.plot.gates(out, 1, task.vocab):save(outdir .. "/gates.png")
mgv.plot.graph(out.graph, labels):save(outdir .. "/graph.png")
mgv.plot.history(result):save(outdir .. "/history.png")
print("wrote gates.png, graph.png and history.png to " .. outdir)
