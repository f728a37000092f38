#!/usr/bin/env python3
"""Golden file for the transformer encoder layer (engine/nn/transformer.c).

A plain PyTorch implementation of one self-attention encoder layer in both
variants — post-LN (BERT) and pre-LN (ViT) — with Hugging Face parameter
names, exact GELU, and a key padding mask (padded keys get -inf before the
softmax). It runs once in float64 on a tiny random configuration (hidden 8,
heads 2, intermediate 16, L 5, B 2; sample 1 has its last two tokens padded)
and writes tests/golden/transformer.safetensors (stored as float32) with, for
each variant v in {post, pre}:
    v.x, v.mask, v.w             input, padding mask, fixed weights w
    v.param.<name>               every parameter (prefix "layer")
    v.out                        the layer output
    v.grad.x, v.grad.param.<name>  gradients of sum(w * out)
Metadata: sizes and layer_norm_eps per variant.

The C engine must reproduce outputs and gradients within 1e-4 (1 + |ref|)
(tests/engine/test_transformer.c). Regenerate with Debian's python3-torch:
    /usr/bin/python3 scripts/golden_transformer.py tests/golden/transformer.safetensors
Only the committed file is needed by `make test`.
"""
import math
import sys

import torch
import torch.nn.functional as F

from st_write import write_safetensors

torch.manual_seed(7)
D = torch.float64
B, L, H, NH, I = 2, 5, 8, 2, 16
EPS = {"post": 1e-12, "pre": 1e-6}
PREFIX = "layer"


def f32(t):
    return t.to(torch.float32).to(D)


def linear_params(name, out, inp, p):
    p[name + ".weight"] = torch.randn(out, inp, dtype=D) * 0.4
    p[name + ".bias"] = torch.randn(out, dtype=D) * 0.1


def ln_params(name, n, p):
    p[name + ".weight"] = 1 + torch.randn(n, dtype=D) * 0.2
    p[name + ".bias"] = torch.randn(n, dtype=D) * 0.1


def make_params(variant):
    p = {}
    pre = PREFIX + "."
    if variant == "post":
        for n in ("query", "key", "value"):
            linear_params(pre + "attention.self." + n, H, H, p)
        linear_params(pre + "attention.output.dense", H, H, p)
        ln_params(pre + "attention.output.LayerNorm", H, p)
        linear_params(pre + "intermediate.dense", I, H, p)
        linear_params(pre + "output.dense", H, I, p)
        ln_params(pre + "output.LayerNorm", H, p)
    else:
        ln_params(pre + "layernorm_before", H, p)
        for n in ("query", "key", "value"):
            linear_params(pre + "attention.attention." + n, H, H, p)
        linear_params(pre + "attention.output.dense", H, H, p)
        ln_params(pre + "layernorm_after", H, p)
        linear_params(pre + "intermediate.dense", I, H, p)
        linear_params(pre + "output.dense", H, I, p)
    # round to float32 first: the reference is then exactly the function of the stored values
    return {k: f32(t).requires_grad_() for k, t in p.items()}


def lin(x, p, name):
    return F.linear(x, p[name + ".weight"], p[name + ".bias"])


def attention(h, mask, p, self_name):
    dh = H // NH
    def heads(t):                                    # [B, L, H] -> [B, NH, L, dh]
        return t.reshape(B, L, NH, dh).permute(0, 2, 1, 3)
    q = heads(lin(h, p, self_name + ".query"))
    k = heads(lin(h, p, self_name + ".key"))
    v = heads(lin(h, p, self_name + ".value"))
    s = q @ k.transpose(-1, -2) / math.sqrt(dh)
    s = s.masked_fill(mask[:, None, None, :] == 0, float("-inf"))
    a = torch.softmax(s, -1)
    ctx = (a @ v).permute(0, 2, 1, 3).reshape(B, L, H)
    return lin(ctx, p, PREFIX + ".attention.output.dense")


def ffn(h, p):
    return lin(F.gelu(lin(h, p, PREFIX + ".intermediate.dense")), p, PREFIX + ".output.dense")


def ln(x, p, name, eps):
    return F.layer_norm(x, (H,), p[name + ".weight"], p[name + ".bias"], eps)


def layer(variant, x, mask, p):
    eps = EPS[variant]
    pre = PREFIX + "."
    if variant == "post":
        x = ln(x + attention(x, mask, p, pre + "attention.self"), p,
               pre + "attention.output.LayerNorm", eps)
        return ln(x + ffn(x, p), p, pre + "output.LayerNorm", eps)
    x = x + attention(ln(x, p, pre + "layernorm_before", eps), mask, p,
                      pre + "attention.attention")
    return x + ffn(ln(x, p, pre + "layernorm_after", eps), p)


out = {}
for variant in ("post", "pre"):
    x = f32(torch.randn(B, L, H, dtype=D)).requires_grad_()
    mask = torch.ones(B, L, dtype=D)
    mask[1, 3:] = 0
    w = f32(torch.randn(B, L, H, dtype=D))
    p = make_params(variant)
    y = layer(variant, x, mask, p)
    loss = (w * y).sum()
    names = list(p)
    grads = torch.autograd.grad(loss, [x] + [p[n] for n in names])
    out[variant + ".x"] = x.detach()
    out[variant + ".mask"] = mask
    out[variant + ".w"] = w
    out[variant + ".out"] = y.detach()
    out[variant + ".grad.x"] = grads[0]
    for n, g in zip(names, grads[1:]):
        out[variant + ".param." + n] = p[n].detach()
        out[variant + ".grad.param." + n] = g
    print("%s: loss %.6f, |out| max %.3f" % (variant, loss.item(), y.abs().max().item()))


meta = {"B": str(B), "L": str(L), "hidden": str(H), "heads": str(NH), "intermediate": str(I),
        "prefix": PREFIX, "eps.post": repr(EPS["post"]), "eps.pre": repr(EPS["pre"]),
        "generator": "scripts/golden_transformer.py, torch " + torch.__version__}
write_safetensors(sys.argv[1] if len(sys.argv) > 1 else "tests/golden/transformer.safetensors",
                  out, meta)
