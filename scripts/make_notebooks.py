#!/usr/bin/env python3
"""Writes the example notebooks examples/*.ipynb from the cell sources below
(so that the notebooks stay reviewable as code). Standard library only.
    /usr/bin/python3 scripts/make_notebooks.py
"""
import json
import os

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")


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

for name, cells in [("tour", TOUR), ("zeroshot", ZEROSHOT)]:
    path = os.path.join(ROOT, "examples", name + ".ipynb")
    with open(path, "w") as f:
        json.dump(notebook(name, cells), f, indent=1)
        f.write("\n")
    print("wrote", path)
