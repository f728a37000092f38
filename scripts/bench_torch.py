#!/usr/bin/env python3
"""The MG-VMoE head training step in PyTorch eager, for comparison with
examples/bench.lua (issue 6).

Same head as scripts/golden_head.py and engine/mgvmoe/head.c, on random token
features of the same shapes and padding pattern as bench.lua: VIB-MoE on both
modalities (one shared layer), masked fusion attention, zero-shot bilinear
scores with the margin ranking loss, InfoNCE, the batch graph and the MG loss
with the learned perturbation r; backward, gradient-norm clipping (1.0) and
Adam (lr 1e-3, eps 1e-7) on the model; then the perturbation step: Adam on r
alone over -L_mg(g, r) + |r| with the node vectors g of that step held fixed.
Dropout 0.1 on h_x and the label vectors, as the engine's defaults.

    OPENBLAS_NUM_THREADS=2 /usr/bin/python3 scripts/bench_torch.py --threads 2 \
        [--batch 16 --text-len 32 --image-len 50 --hidden 256 --experts 8 \
         --classes 10 --proj 256 --steps 20 --warmup 3 --eval-batches 4]

Prints key=value lines like bench.lua (ms_per_step, samples_per_s,
peak_rss_mb, eval_samples_per_s).

--paper-bert: the paper's training step as examples/bench.lua --paper-bert
(issue 16): BERT-base written here in plain torch (random weights; dropout
0.1 on embeddings, attention probabilities and both residual branches, as
Hugging Face's BertModel) fine-tuned on B=16 sentences of 128 tokens, entity
vector [CLS; the two opening markers], the C=8 label names as 16 tokens each
through BERT (mean over the 16), cached picture tokens 577 x 768, the head
with d=768, K=8, proj 256; first a fresh forward without tape in training
mode whose node vectors step r, then the taped step; Adam (lr 1e-5, eps
1e-7) over every parameter and r, no clipping. Evaluation: BERT and the head
in eval mode, label vectors once, batches of B.
    OPENBLAS_NUM_THREADS=2 /usr/bin/python3 scripts/bench_torch.py --paper-bert \
        --threads T [--steps 3 --warmup 1 --eval-batches 1]
"""
import argparse
import math
import resource
import statistics
import sys
import time

import torch
import torch.nn.functional as F

ap = argparse.ArgumentParser()
ap.add_argument("--batch", type=int, default=16)
ap.add_argument("--text-len", type=int, default=32)
ap.add_argument("--image-len", type=int, default=50)
ap.add_argument("--hidden", type=int, default=256)
ap.add_argument("--experts", type=int, default=8)
ap.add_argument("--classes", type=int, default=10)
ap.add_argument("--proj", type=int, default=256)
ap.add_argument("--steps", type=int)          # 20, or 3 with --paper-bert
ap.add_argument("--warmup", type=int)         # 3, or 1 with --paper-bert
ap.add_argument("--threads", type=int, default=2)
ap.add_argument("--eval-batches", type=int)   # 4, or 1 with --paper-bert
ap.add_argument("--seed", type=int, default=0)
ap.add_argument("--paper-bert", action="store_true")
a = ap.parse_args()
if a.paper_bert:   # the paper's shapes
    a.batch, a.text_len, a.image_len, a.hidden, a.experts, a.classes, a.proj = \
        16, 128, 577, 768, 8, 8, 256
# step counts: the paper's or the small config's unless given
for k, paper, small in (("steps", 3, 20), ("warmup", 1, 3), ("eval_batches", 1, 4)):
    if getattr(a, k) is None:
        setattr(a, k, paper if a.paper_bert else small)

torch.set_num_threads(a.threads)
torch.manual_seed(a.seed)
B, L, P, d, K = a.batch, a.text_len, a.image_len, a.hidden, a.experts
C, PROJ = a.classes, a.proj
DE, DL = (3 if a.paper_bert else 2) * d, d
N = 2 * B


# ---- data: the same shapes and padding pattern as bench.lua -----------------
NF = 0 if a.paper_bert else N   # --paper-bert makes its own data
text = torch.randn(NF, L, d) * 0.5
image = torch.randn(NF, P, d) * 0.5
entity = torch.randn(NF, DE) * 0.5
labels = torch.randn(C, DL) * 0.5
text_mask = torch.ones(NF, L)
image_mask = torch.ones(NF, P)
text_mask[1::2, L - L // 4:] = 0
image_mask[1::2, P - P // 10:] = 0
target = torch.arange(N) % C


# ---- the head --------------------------------------------------------------
class Head(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.gate = torch.nn.Linear(d, K)
        self.mu = torch.nn.Linear(d, K * d)
        self.logvar = torch.nn.Linear(d, K * d)
        self.fuse = torch.nn.Linear(DE + d, 1)
        self.score_x = torch.nn.Linear(DE + d, PROJ)
        self.score_label = torch.nn.Linear(DL, PROJ)

    def vmoe(self, h, mask, sample, need_kl):
        b, n, _ = h.shape
        pi = torch.softmax(self.gate(h), -1)
        mu = self.mu(h).reshape(b, n, K, d)
        if not (sample or need_kl):   # evaluation: z = mu, no KL (as the engine)
            return (pi.unsqueeze(-1) * mu).sum(-2), pi, None, None
        lv = self.logvar(h).reshape(b, n, K, d)
        z = mu + torch.exp(0.5 * lv) * torch.randn_like(mu) if sample else mu
        o = (pi.unsqueeze(-1) * z).sum(-2)
        kl = -0.5 * (1 + lv - mu ** 2 - torch.exp(lv)).sum((-1, -2))
        ent = -(pi * torch.log(pi)).sum(-1)
        msum = mask.sum()
        return o, pi, (kl * mask).sum() / msum, (ent * mask).sum() / msum

    def forward(self, text, tmask, image, imask, he, lab, tgt, training):
        o_t, pi_t, kl_t, ent_t = self.vmoe(text, tmask, training, tgt is not None)
        o_v, pi_v, kl_v, ent_v = self.vmoe(image, imask, training, tgt is not None)
        pool_gates(pi_t, tmask), pool_gates(pi_v, imask)   # expert usage, as the engine
        O = torch.cat([o_v, o_t], 1)
        M = torch.cat([imask, tmask], 1)
        att_in = torch.cat([he.unsqueeze(1).expand(-1, O.shape[1], -1), O], -1)
        logit = self.fuse(att_in).squeeze(-1).masked_fill(M == 0, float("-inf"))
        att = torch.softmax(logit, 1)
        h_mm = (att.unsqueeze(-1) * O).sum(1)
        h_x = torch.cat([h_mm, he], -1)
        ex = self.score_x(F.dropout(h_x, 0.1, training))
        el = self.score_label(F.dropout(lab, 0.1, training))
        scores = ex @ el.T
        t = pool(o_t, tmask)
        v = pool(o_v, imask)
        g = torch.cat([v, t], -1)
        G = batch_graph(g)
        logp = graph_logp(g, G)
        if tgt is None:
            return scores, None, g
        margin = (1.0 - scores.gather(1, tgt[:, None]) + scores).clamp(min=0)
        l_rank = margin.scatter(1, tgt[:, None], 0.0).sum(1).mean()
        l_vmoe = 0.5 * ((kl_t + ent_t) + (kl_v + ent_v))
        logits = t @ v.T
        eye = torch.arange(t.shape[0])
        l_nce = 0.5 * (F.cross_entropy(logits, eye) + F.cross_entropy(logits.T, eye))
        logq = graph_logp(g + r, G)
        l_mg = (logp.exp() * (logp - logq)).sum(-1).mean()
        return scores, l_rank + (l_vmoe + l_nce + l_mg), g


def pool(o, mask):
    den = mask.sum(1, keepdim=True).clamp(min=1)
    return (o * mask.unsqueeze(-1)).sum(1) / den


def pool_gates(pi, mask):
    return pool(pi, mask)


def batch_graph(g):
    gn = g / (g.norm(dim=-1, keepdim=True) + 1e-12)
    return (gn @ gn.T + 1) / 2


def graph_logp(g, G):
    pos = (g * (G @ g)).sum(-1)
    neg = (g * ((1 - G) @ g)).sum(-1)
    return torch.log_softmax(torch.stack([pos, neg], -1), -1)


# ---- timing and the key=value report, shared by both configurations ----------
def time_steps(step, batches):
    """a.warmup untimed steps, then a.steps timed ones, alternating the two
    batches: (step times in s, the last loss, peak RSS in MB)"""
    for s in range(a.warmup):
        step(batches[s % 2])
    times = []
    for s in range(a.steps):
        t0 = time.perf_counter()
        loss = step(batches[s % 2])
        times.append(time.perf_counter() - t0)
    return times, loss, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def report(config, times, loss, peak_mb, eval_rate, rate_fmt):
    """the lines bench.lua prints too; rate_fmt formats both samples/s"""
    med = statistics.median(times)
    print(config)
    print("ms_per_step=%.2f" % (med * 1e3))
    print("ms_min=%.2f" % (min(times) * 1e3))
    print("ms_max=%.2f" % (max(times) * 1e3))
    print(("samples_per_s=" + rate_fmt) % (B / med))
    print("peak_rss_mb=%.1f" % peak_mb)
    print(("eval_samples_per_s=" + rate_fmt) % eval_rate)
    print("loss=%.4f" % loss)


# ---- --paper-bert: BERT-base fine-tuned with the head ---------------------------
VOCAB, NL, NH, INTER = 28996, 12, 12, 3072


class BertLayer(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.q, self.k, self.v, self.o = (torch.nn.Linear(d, d) for _ in range(4))
        self.ln1 = torch.nn.LayerNorm(d, eps=1e-12)
        self.i = torch.nn.Linear(d, INTER)
        self.f = torch.nn.Linear(INTER, d)
        self.ln2 = torch.nn.LayerNorm(d, eps=1e-12)

    def forward(self, x, add):
        b, n, _ = x.shape
        dh = d // NH

        def heads(t):
            return t.view(b, n, NH, dh).permute(0, 2, 1, 3)
        q, k, v = heads(self.q(x)), heads(self.k(x)), heads(self.v(x))
        s = torch.matmul(q, k.transpose(-1, -2)) / math.sqrt(dh) + add
        att = F.dropout(torch.softmax(s, -1), 0.1, self.training)
        c = torch.matmul(att, v).permute(0, 2, 1, 3).reshape(b, n, d)
        x = self.ln1(x + F.dropout(self.o(c), 0.1, self.training))
        return self.ln2(x + F.dropout(self.f(F.gelu(self.i(x))), 0.1, self.training))


class Bert(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.word = torch.nn.Embedding(VOCAB, d)
        self.pos = torch.nn.Embedding(512, d)
        self.types = torch.nn.Embedding(2, d)
        self.ln = torch.nn.LayerNorm(d, eps=1e-12)
        self.layers = torch.nn.ModuleList(BertLayer() for _ in range(NL))
        self.pooler = torch.nn.Linear(d, d)   # in the checkpoint, unused by the model
        for p in self.parameters():
            if p.dim() > 1:
                torch.nn.init.normal_(p, 0, 0.02)

    def forward(self, ids, mask):
        n = ids.shape[1]
        x = self.word(ids) + self.pos.weight[:n][None] + self.types.weight[0][None, None]
        x = F.dropout(self.ln(x), 0.1, self.training)
        add = (1.0 - mask[:, None, None, :]) * torch.finfo(torch.float32).min
        for layer in self.layers:
            x = layer(x, add)
        return x


def paper_bert():
    global r
    ids = torch.randint(105, VOCAB, (N, L))
    ids[:, 0] = 101                           # [CLS]
    ids[:, 1], ids[:, 4] = 1, 3               # [unused1] head .. [unused3] tail
    ids[:, 3], ids[:, 6] = 2, 4
    ids[:, -1] = 102                          # [SEP]
    tmask = torch.ones(N, L)
    label_ids = torch.randint(105, VOCAB, (C, 16))
    label_mask = torch.ones(C, 16)
    img = torch.randn(N, P, d) * 0.5
    imask = torch.ones(N, P)
    tgt = torch.arange(N) % C
    bert, hd = Bert(), Head()
    r = torch.nn.Parameter(torch.rand(1, 2 * d) * 0.1 - 0.05)
    opt = torch.optim.Adam(list(bert.parameters()) + list(hd.parameters()) + [r], lr=1e-5,
                           eps=1e-7)
    opt_r = torch.optim.Adam([r], lr=1e-5, eps=1e-7)

    def forward(idx, training, lab=None):
        Hs = bert(ids[idx], tmask[idx])
        if lab is None:
            lab = bert(label_ids, label_mask).mean(1)
        he = torch.cat([Hs[:, 0], Hs[:, 1], Hs[:, 4]], -1)
        return hd(Hs, tmask[idx], img[idx], imask[idx], he, lab,
                  tgt[idx] if training else None, training)

    def step(idx):
        bert.train()
        with torch.no_grad():                 # the fresh forward for r's step
            _, _, g = forward(idx, True)
        G = batch_graph(g)
        logp = graph_logp(g, G)
        l_mg = (logp.exp() * (logp - graph_logp(g + r, G))).sum(-1).mean()
        opt_r.zero_grad(set_to_none=True)
        (r.norm() - l_mg).backward()
        opt_r.step()
        _, loss, _ = forward(idx, True)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        return loss.item()

    batches = [torch.arange(0, B), torch.arange(B, 2 * B)]
    times, loss, peak_mb = time_steps(step, batches)
    bert.eval()
    eval_s = float("inf")
    with torch.no_grad():
        for rep in range(max(1, a.eval_batches)):
            t0 = time.perf_counter()
            lab = bert(label_ids, label_mask).mean(1)
            for idx in batches:
                scores, _, _ = forward(idx, False, lab)
                scores.argmax(1)
            eval_s = min(eval_s, time.perf_counter() - t0)
    n_params = sum(p.numel() for p in list(bert.parameters()) + list(hd.parameters())) + r.numel()
    report("config: paper-bert B=%d L=%d P=%d d=%d K=%d C=%d params=%d threads=%d steps=%d torch=%s"
           % (B, L, P, d, K, C, n_params, torch.get_num_threads(), a.steps, torch.__version__),
           times, loss, peak_mb, 2 * B / eval_s, "%.2f")


if a.paper_bert:
    paper_bert()
    sys.exit(0)

head = Head()
r = torch.nn.Parameter(torch.rand(1, 2 * d) * 0.1 - 0.05)
opt = torch.optim.Adam(head.parameters(), lr=1e-3, eps=1e-7)
opt_r = torch.optim.Adam([r], lr=1e-3, eps=1e-7)
batches = [torch.arange(0, B), torch.arange(B, 2 * B)]


def train_step(idx):
    batch = (text[idx], text_mask[idx], image[idx], image_mask[idx], entity[idx], labels,
             target[idx])
    scores, loss, g = head(*batch, True)
    loss.item()
    opt.zero_grad(set_to_none=True)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(head.parameters(), 1.0)
    opt.step()
    # the perturbation step on this batch's node vectors
    gd = g.detach()
    G = batch_graph(gd)
    logp = graph_logp(gd, G)
    logq = graph_logp(gd + r, G)
    l_mg = (logp.exp() * (logp - logq)).sum(-1).mean()
    obj = r.norm() - l_mg
    opt_r.zero_grad(set_to_none=True)
    obj.backward()
    opt_r.step()
    return loss.item()


times, loss, peak_mb = time_steps(train_step, batches)

eval_s = float("inf")
with torch.no_grad():
    for rep in range(3):
        t0 = time.perf_counter()
        for _ in range(a.eval_batches):
            for idx in batches:
                scores, _, _ = head(text[idx], text_mask[idx], image[idx], image_mask[idx],
                                    entity[idx], labels, None, False)
                scores.argmax(1)
        eval_s = min(eval_s, time.perf_counter() - t0)

report("config: B=%d L=%d P=%d d=%d K=%d C=%d proj=%d threads=%d steps=%d torch=%s"
       % (B, L, P, d, K, C, PROJ, torch.get_num_threads(), a.steps, torch.__version__),
       times, loss, peak_mb, a.eval_batches * N / eval_s, "%.1f")
