#!/usr/bin/env python3
"""Golden file for the MG-VMoE head (issue: MG-VMoE end to end).

A small PyTorch implementation of the head of DESIGN.md section 2 — VIB-MoE
on both modalities, masked fusion attention, zero-shot bilinear scoring with
the margin ranking loss, InfoNCE, the multimodal graph and the MG loss with
the learned perturbation r — run once on a fixed tiny batch. It writes
tests/golden/head.safetensors with the inputs, the parameters, the noise,
every loss, and the gradients of the total loss (and of the perturbation
objective -L_mg + |r|) with respect to every parameter and input.

The C engine must reproduce the losses and gradients to 1e-4
(tests/engine/test_golden_head.c). Regenerate with Debian's python3-torch:
    /usr/bin/python3 scripts/golden_head.py tests/golden/head.safetensors
Only the committed file is needed by `make test`.
"""
import sys

import torch

from st_write import write_safetensors

torch.manual_seed(0)
D = torch.float64   # compute in double; stored as float32
B, L, P, d, K = 4, 5, 3, 6, 3   # batch, text tokens, image tokens, hidden, experts
DE, DL, C, PROJ = 9, 7, 5, 4    # entity feature, label feature, labels, projection


def rnd(*shape, scale=1.0):
    return (torch.randn(*shape, dtype=D) * scale).requires_grad_()


inputs = {
    "text": rnd(B, L, d, scale=0.5),
    "image": rnd(B, P, d, scale=0.5),
    "entity": rnd(B, DE, scale=0.5),
    "labels": rnd(C, DL, scale=0.5),
}
# masks: sample 1 has two padded text tokens, sample 3 one padded image token
text_mask = torch.ones(B, L, dtype=D)
text_mask[1, 3:] = 0
image_mask = torch.ones(B, P, dtype=D)
image_mask[3, 2] = 0
target = torch.tensor([0, 3, 1, 4])
eps_text = torch.randn(B, L, K, d, dtype=D)
eps_image = torch.randn(B, P, K, d, dtype=D)

params = {
    "vmoe.gate.weight": rnd(K, d, scale=0.3), "vmoe.gate.bias": rnd(K, scale=0.1),
    "vmoe.mu.weight": rnd(K * d, d, scale=0.3), "vmoe.mu.bias": rnd(K * d, scale=0.1),
    "vmoe.logvar.weight": rnd(K * d, d, scale=0.2), "vmoe.logvar.bias": rnd(K * d, scale=0.1),
    "fuse.weight": rnd(1, DE + d, scale=0.3), "fuse.bias": rnd(1, scale=0.1),
    "score.x.weight": rnd(PROJ, DE + d, scale=0.3), "score.x.bias": rnd(PROJ, scale=0.1),
    "score.label.weight": rnd(PROJ, DL, scale=0.3), "score.label.bias": rnd(PROJ, scale=0.1),
    "vat.r": (torch.rand(1, 2 * d, dtype=D) * 0.1 - 0.05).requires_grad_(),
}
p = params


def masked_mean(x, mask):          # x [B, N], mask [B, N] -> scalar over real tokens
    return (x * mask).sum() / mask.sum()


def vmoe(h, mask, eps):
    b, n, _ = h.shape
    pi = torch.softmax(h @ p["vmoe.gate.weight"].T + p["vmoe.gate.bias"], -1)
    mu = (h @ p["vmoe.mu.weight"].T + p["vmoe.mu.bias"]).reshape(b, n, K, d)
    lv = (h @ p["vmoe.logvar.weight"].T + p["vmoe.logvar.bias"]).reshape(b, n, K, d)
    z = mu + torch.exp(0.5 * lv) * eps
    o = (pi.unsqueeze(-1) * z).sum(-2)
    kl = -0.5 * (1 + lv - mu ** 2 - torch.exp(lv)).sum((-1, -2))
    ent = -(pi * torch.log(pi)).sum(-1)
    return o, pi, masked_mean(kl, mask), masked_mean(ent, mask)


def pool(o, mask):                 # masked mean over tokens -> [B, d]
    return (o * mask.unsqueeze(-1)).sum(1) / mask.sum(1, keepdim=True)


def graph_logp(g, G):
    pos = (g * (G @ g)).sum(-1)
    neg = (g * ((1 - G) @ g)).sum(-1)
    return torch.log_softmax(torch.stack([pos, neg], -1), -1)


o_t, pi_t, kl_t, ent_t = vmoe(inputs["text"], text_mask, eps_text)
o_v, pi_v, kl_v, ent_v = vmoe(inputs["image"], image_mask, eps_image)
l_vmoe = 0.5 * ((kl_t + ent_t) + (kl_v + ent_v))

O = torch.cat([o_v, o_t], 1)
M = torch.cat([image_mask, text_mask], 1)
he = inputs["entity"]
att_in = torch.cat([he.unsqueeze(1).expand(B, P + L, DE), O], -1)
att_logit = (att_in @ p["fuse.weight"].T + p["fuse.bias"]).squeeze(-1)
att_logit = att_logit.masked_fill(M == 0, float("-inf"))
att = torch.softmax(att_logit, 1)
h_mm = (att.unsqueeze(-1) * O).sum(1)
h_x = torch.cat([h_mm, he], -1)

ex = h_x @ p["score.x.weight"].T + p["score.x.bias"]
el = inputs["labels"] @ p["score.label.weight"].T + p["score.label.bias"]
scores = ex @ el.T
margin = 1.0 - scores.gather(1, target[:, None]) + scores
margin = margin.clamp(min=0).scatter(1, target[:, None], 0.0)
l_rank = margin.sum(1).mean()

t = pool(o_t, text_mask)
v = pool(o_v, image_mask)
logits = t @ v.T
eye = torch.arange(B)
l_nce = 0.5 * (torch.nn.functional.cross_entropy(logits, eye)
               + torch.nn.functional.cross_entropy(logits.T, eye))

g = torch.cat([v, t], -1)
gn = g / g.norm(dim=-1, keepdim=True)
G = (gn @ gn.T + 1) / 2
logp = graph_logp(g, G)
logq = graph_logp(g + p["vat.r"], G)
l_mg = (logp.exp() * (logp - logq)).sum(-1).mean()

beta = 1.0
total = l_rank + beta * (l_vmoe + l_nce + l_mg)
leaves = {**{"param." + k: v for k, v in params.items()}, **{"input." + k: v for k, v in inputs.items()}}
grads = torch.autograd.grad(total, list(leaves.values()), retain_graph=True, allow_unused=True)
r_obj = -l_mg + p["vat.r"].norm()
r_grad = torch.autograd.grad(r_obj, [p["vat.r"]])[0]

out = {}
for k, v in leaves.items():
    out[k] = v.detach()
for (k, _), gr in zip(leaves.items(), grads):
    out["grad." + k] = gr if gr is not None else torch.zeros_like(leaves[k])
out["grad_r_objective"] = r_grad
out["input.text_mask"] = text_mask
out["input.image_mask"] = image_mask
out["input.target"] = target.to(D)
out["noise.text"] = eps_text
out["noise.image"] = eps_image
for name, val in [("l_rank", l_rank), ("l_vmoe", l_vmoe), ("l_nce", l_nce), ("l_mg", l_mg),
                  ("kl_text", kl_t), ("kl_image", kl_v), ("ent_text", ent_t), ("ent_image", ent_v),
                  ("total", total), ("r_objective", r_obj)]:
    out["loss." + name] = val.detach().reshape(1)
out["out.scores"] = scores.detach()
out["out.attention"] = att.detach()
out["out.graph"] = G.detach()
out["out.gate_text"] = pi_t.detach()
out["out.logp"] = logp.detach()
out["out.logq"] = logq.detach()


meta = {"B": str(B), "L": str(L), "P": str(P), "d": str(d), "K": str(K), "DE": str(DE),
        "DL": str(DL), "C": str(C), "PROJ": str(PROJ), "beta": str(beta), "margin": "1.0",
        "generator": "scripts/golden_head.py, torch " + torch.__version__}
write_safetensors(sys.argv[1] if len(sys.argv) > 1 else "tests/golden/head.safetensors", out, meta)
print("total %.6f rank %.6f vmoe %.6f nce %.6f mg %.6f" % (total, l_rank, l_vmoe, l_nce, l_mg))
