#!/usr/bin/env python3
"""bench_encoders.py — PyTorch's side of the encoder benchmark (issue 8).

BERT-base (12 layers, 768, 12 heads, 3072) forward on 16 x 128 tokens and
ViT-B/16-384 forward on 16 images (577 tokens), random weights, float32,
torch.no_grad(), written with torch.nn.functional as Hugging Face's eager
BertModel / ViTModel compute them (Conv2d patch embedding, matmul attention
with an additive mask, exact GELU, LayerNorm). Prints "torch <model> <ms>"
per timed batch. Run by scripts/bench_encoders.sh.
    /usr/bin/python3 scripts/bench_encoders.py bert|vit [reps] [intra_op_threads]
"""
import math
import sys
import time

import torch
import torch.nn.functional as F

which = sys.argv[1] if len(sys.argv) > 1 else "bert"
reps = int(sys.argv[2]) if len(sys.argv) > 2 else 2
threads = int(sys.argv[3]) if len(sys.argv) > 3 else 2
torch.set_num_threads(threads)
torch.manual_seed(0)
H, NH, I, NL = 768, 12, 3072, 12


def lin(i, o):
    return (torch.randn(o, i) * 0.02, torch.zeros(o))


layers = [dict(q=lin(H, H), k=lin(H, H), v=lin(H, H), o=lin(H, H), i=lin(H, I), f=lin(I, H),
               ln1=(torch.ones(H), torch.zeros(H)), ln2=(torch.ones(H), torch.zeros(H)))
          for _ in range(NL)]


def attn(x, p, add_mask):
    B, L, _ = x.shape
    dh = H // NH

    def heads(t):
        return t.view(B, L, NH, dh).permute(0, 2, 1, 3)
    q = heads(F.linear(x, *p["q"]))
    k = heads(F.linear(x, *p["k"]))
    v = heads(F.linear(x, *p["v"]))
    s = torch.matmul(q, k.transpose(-1, -2)) / math.sqrt(dh)
    if add_mask is not None:
        s = s + add_mask
    a = torch.softmax(s, -1)
    c = torch.matmul(a, v).permute(0, 2, 1, 3).reshape(B, L, H)
    return F.linear(c, *p["o"])


def ffn(x, p):
    return F.linear(F.gelu(F.linear(x, *p["i"])), *p["f"])


def bert(ids, mask, emb):
    L = ids.shape[1]
    x = emb["word"][ids] + emb["pos"][:L][None] + emb["type"][0][None, None]
    x = F.layer_norm(x, (H,), *emb["ln"], 1e-12)
    add = (1.0 - mask[:, None, None, :]) * torch.finfo(torch.float32).min
    for p in layers:
        x = F.layer_norm(x + attn(x, p, add), (H,), *p["ln1"], 1e-12)
        x = F.layer_norm(x + ffn(x, p), (H,), *p["ln2"], 1e-12)
    return x


def vit(images, emb):
    B = images.shape[0]
    e = F.conv2d(images, emb["patch_w"], emb["patch_b"], stride=16).flatten(2).transpose(1, 2)
    x = torch.cat([emb["cls"].expand(B, 1, H), e], 1) + emb["pos"]
    for p in layers:
        x = x + attn(F.layer_norm(x, (H,), *p["ln1"], 1e-12), p, None)
        x = x + ffn(F.layer_norm(x, (H,), *p["ln2"], 1e-12), p)
    return F.layer_norm(x, (H,), *emb["ln"], 1e-12)


with torch.no_grad():
    if which == "bert":
        emb = dict(word=torch.randn(28996, H) * 0.02, pos=torch.randn(512, H) * 0.02,
                   type=torch.randn(2, H) * 0.02, ln=(torch.ones(H), torch.zeros(H)))
        ids = torch.randint(0, 28996, (16, 128))
        mask = torch.ones(16, 128)
        run = lambda: bert(ids, mask, emb)  # noqa: E731
    else:
        emb = dict(patch_w=torch.randn(H, 3, 16, 16) * 0.02, patch_b=torch.zeros(H),
                   cls=torch.randn(1, 1, H) * 0.02, pos=torch.randn(1, 577, H) * 0.02,
                   ln=(torch.ones(H), torch.zeros(H)))
        images = torch.rand(16, 3, 384, 384) * 2 - 1
        run = lambda: vit(images, emb)  # noqa: E731
    run()   # warm-up
    for _ in range(reps):
        t0 = time.perf_counter()
        run()
        print("torch %s %.1f" % (which, (time.perf_counter() - t0) * 1000), flush=True)
