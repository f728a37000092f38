#!/usr/bin/env python3
"""Golden files for BERT, ViT and the WordPiece tokenizer (engine/nn/bert.c,
engine/nn/vit.c, engine/formats/wordpiece.c).

No pretrained weights and no Hugging Face `transformers` are available here,
so the references are written from the published algorithms:

* WordPiece: a pure-Python (standard library) copy of Hugging Face's slow
  BertTokenizer — special tokens cut out whole, uncased text lower-cased one
  character at a time, BasicTokenizer (_clean_text, CJK spacing, NFC,
  whitespace split, lower + NFD accent stripping, punctuation split) and
  WordpieceTokenizer (greedy longest match, "##", max_input_chars_per_word
  100 -> [UNK]). A few results are also checked by hand below. Output:
  tests/golden/vocab_small.txt and tests/golden/wordpiece_cases.json (each
  case: text, config, basic tokens, wordpiece tokens and ids).
* BERT: BertModel in plain torch (float64): word + position + token_type
  embeddings, LayerNorm, post-LN layers (attention with a key padding mask,
  exact GELU FFN), pooler tanh(W h_CLS + b). A tiny random config is written
  in the Hugging Face layout tests/golden/bert_tiny/{config.json, vocab.txt,
  tokenizer_config.json, model.safetensors} — names with the "bert." prefix
  of BertForMaskedLM, the old LayerNorm gamma/beta names for the embeddings'
  LayerNorm, and an unused head tensor, to exercise the loader — and
  tests/golden/bert_tiny_io.safetensors holds ids, types, mask, the
  embeddings output, the last hidden states, the pooled output and the
  gradients of sum(w * H) + sum(wp * pooled) for every parameter.
* ViT: ViTModel in plain torch (float64): Conv2d(k = stride = patch) patch
  embedding, CLS token, position embeddings, pre-LN layers, final layernorm.
  tests/golden/vit_tiny/{config.json, model.safetensors} ("vit." prefix and
  a classifier, as ViTForImageClassification checkpoints) and
  tests/golden/vit_tiny_io.safetensors (images, last hidden states).

The engine (float32) must agree within 1e-4 (tests/engine/test_bert.c,
test_vit.c, test_wordpiece.c). Regenerate with Debian's python3-torch:
    /usr/bin/python3 scripts/golden_bert_vit.py
Only the committed files are needed by `make test`.
"""
import json
import math
import os
import sys
import unicodedata

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from st_write import write_safetensors  # noqa: E402

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
GOLDEN = os.path.join(ROOT, "tests", "golden")

# ---------------------------------------------------------------------------
# WordPiece reference (Hugging Face's slow BertTokenizer, standard library)
# ---------------------------------------------------------------------------


def _is_whitespace(c):
    return c in " \t\n\r" or unicodedata.category(c) == "Zs"


def _is_control(c):
    if c in "\t\n\r":
        return False
    return unicodedata.category(c).startswith("C")


def _is_punctuation(c):
    cp = ord(c)
    if 33 <= cp <= 47 or 58 <= cp <= 64 or 91 <= cp <= 96 or 123 <= cp <= 126:
        return True
    return unicodedata.category(c).startswith("P")


def _is_cjk(cp):
    return (0x4E00 <= cp <= 0x9FFF or 0x3400 <= cp <= 0x4DBF or 0x20000 <= cp <= 0x2A6DF
            or 0x2A700 <= cp <= 0x2B73F or 0x2B740 <= cp <= 0x2B81F or 0x2B820 <= cp <= 0x2CEAF
            or 0xF900 <= cp <= 0xFAFF or 0x2F800 <= cp <= 0x2FA1F)


class RefTokenizer:
    def __init__(self, vocab, lower, strip_accents=None, nfc=True, chinese=True, max_chars=100):
        self.vocab = {}
        for i, t in enumerate(vocab):
            self.vocab[t] = i          # a repeated entry keeps its last id
        self.inv = list(vocab)
        self.lower, self.strip_accents, self.nfc = lower, strip_accents, nfc
        self.chinese, self.max_chars = chinese, max_chars
        self.specials = [t for t in ("[CLS]", "[SEP]", "[UNK]", "[PAD]", "[MASK]")
                         if t in self.vocab]
        self.specials += [t for t in self.vocab if t.startswith("[unused") and t.endswith("]")
                          and t[7:-1].isdigit()]

    # added-token split: the longest special token starting at each position
    def split_specials(self, text):
        out, start, i = [], 0, 0
        while i < len(text):
            best = max((s for s in self.specials if text.startswith(s, i)), key=len, default=None)
            if best is None:
                i += 1
                continue
            if i > start:
                out.append((text[start:i], False))
            out.append((best, True))
            i += len(best)
            start = i
        if start < len(text):
            out.append((text[start:], False))
        return out

    def clean(self, text):
        out = []
        for c in text:
            cp = ord(c)
            if cp == 0 or cp == 0xFFFD or _is_control(c):
                continue
            out.append(" " if _is_whitespace(c) else c)
        return "".join(out)

    def strip(self, text):
        return "".join(c for c in unicodedata.normalize("NFD", text)
                       if unicodedata.category(c) != "Mn")

    def split_punc(self, text):
        out, new = [], True
        for c in text:
            if _is_punctuation(c):
                out.append([c])
                new = True
            else:
                if new:
                    out.append([])
                new = False
                out[-1].append(c)
        return ["".join(x) for x in out]

    def basic(self, text):
        text = self.clean(text)
        if self.chinese:
            text = "".join(" %s " % c if _is_cjk(ord(c)) else c for c in text)
        if self.nfc:
            text = unicodedata.normalize("NFC", text)
        split = []
        for tok in text.strip().split():
            if self.lower:
                tok = tok.lower()
                if self.strip_accents is not False:
                    tok = self.strip(tok)
            elif self.strip_accents:
                tok = self.strip(tok)
            split.extend(self.split_punc(tok))
        return " ".join(split).strip().split()

    def wordpiece(self, token):
        chars = list(token)
        if len(chars) > self.max_chars:
            return ["[UNK]"]
        out, start = [], 0
        while start < len(chars):
            end, cur = len(chars), None
            while start < end:
                sub = "".join(chars[start:end])
                if start > 0:
                    sub = "##" + sub
                if sub in self.vocab:
                    cur = sub
                    break
                end -= 1
            if cur is None:
                return ["[UNK]"]
            out.append(cur)
            start = end
        return out

    def basic_all(self, text):
        out = []
        for seg, special in self.split_specials(text):
            if special:
                out.append(seg)
            else:
                if self.lower:   # PreTrainedTokenizer.tokenize: one character at a time
                    seg = "".join(c.lower() for c in seg)
                out.extend(self.basic(seg))
        return out

    def tokenize(self, text):
        out = []
        for seg, special in self.split_specials(text):
            if special:
                out.append(seg)
                continue
            if self.lower:
                seg = "".join(c.lower() for c in seg)
            for t in self.basic(seg):
                out.extend(self.wordpiece(t))
        return out

    def ids(self, text):
        return [self.vocab[t] for t in self.tokenize(text)]


VOCAB = (["[PAD]"] + ["[unused%d]" % i for i in range(5)] + ["[UNK]", "[CLS]", "[SEP]", "[MASK]"]
         + list("!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~") + ["«", "»", "¿", "—", "…"]
         + list("0123456789") + ["14", "##14", "##4"]
         + ["the", "a", "##a", "an", "and", "hello", "Hello", "world", "World", "un", "##aff",
            "##able", "##s", "##ing", "play", "stop", "it", "don", "t", "s", "cafe", "café",
            "He", "##llo", "##é", "istanbul", "οδοσ", "ο", "##δ", "##ο", "##σ", "##ς", "Ο",
            "##Δ", "##Ο", "##Σ", "中", "文", "字", "한", "##국", "##어", "qu", "que", "qué", "Qué",
            "new", "york", "New", "York", "end", "Rafael", "Nadal", "ra", "##fa", "##el", "x",
            "##x", "##y", "emoji", "abc", "##def", "##ghi", "def", "jkl", "##m", "hash", "fi",
            "##ne", "ﬁ", "ậ", "ǆ", "Ǆ", "ǅ", "İ", "i", "##i", "##stanbul", "cls", "unused",
            "##1", "##99", "UN", "##US", "##ED", "b", "leading", "trailing", "Wörld", "wörld",
            "wo", "##rl", "##d", "ISTANBUL", "ΟΔΟΣ"])
assert len(VOCAB) == len(set(VOCAB)), "duplicate vocabulary entries"

CASES = [
    "Hello, world!",
    "hello World unaffable",
    "Héllo Wörld café",
    "He\u0301llo cafe\u0301 Wo\u0308rld",
    "  \t leading\n\nand  trailing \r\n",
    "abc\u0000def\u200bghi\ufffd jkl\x07m",
    "中文字 and 中x文",
    "[CLS] hello [SEP] world [MASK]",
    "a[MASK]b [unused1] [unused99] [UNUSED1] [cls] [unused1",
    "a" * 100,
    "a" * 101,
    "a" * 99 + "\u0301",
    "don't stop-playing; it's 3.14!",
    "ΟΔΟΣ οδος οδοσ",
    "İstanbul ISTANBUL",
    "«Qué?» ¿Qué — …",
    "hello\u00a0world\u2028new\u3000york\u2029end\u0085x\x1cy",
    "😀 emoji 😀x",
    "xyzzy unaff",
    "##abc #hash",
    "한국어 \u1112\u1161\u11ab\u1100\u116e\u11a8\u110b\u1165",
    "ﬁne ﬁ",
    "\u0301\u0301 a\u0301",
    "Rafael Nadal New York rafael",
    "",
    "   ",
    "a\u0323\u0302 a\u0302\u0323 ậ",
    "Ǆ ǅ ǆ",
    "\ue000x \u0378x",
    "play\u200dplaying",
]

CONFIGS = {
    "cased": dict(lower=False),
    "uncased": dict(lower=True),
    "cased_nonfc": dict(lower=False, nfc=False),
    "cased_strip": dict(lower=False, strip_accents=True),
    "uncased_keep_accents": dict(lower=True, strip_accents=False),
    # the paper's BERT input (keras-bert's Tokenizer, cased=False, into the
    # cased vocabulary): lower-cased and accent-stripped as BasicTokenizer
    # does for uncased; the C side loads the tokenizer cased and switches it
    # with mgv_wordpiece_set_lowercase (the model's bert_lowercase)
    "lowered_cased_vocab": dict(lower=True, strip_accents=True),
}


def hand_checks():
    cased = RefTokenizer(VOCAB, lower=False)
    unc = RefTokenizer(VOCAB, lower=True)
    assert cased.tokenize("hello World unaffable") == ["hello", "World", "un", "##aff", "##able"]
    assert cased.tokenize("Hello, world!") == ["Hello", ",", "world", "!"]
    assert unc.tokenize("Héllo Wörld café") == ["hello", "world", "cafe"]
    assert cased.tokenize("xyzzy unaff") == ["[UNK]", "un", "##aff"]
    assert cased.tokenize("a" * 100) == ["a"] + ["##a"] * 99
    assert cased.tokenize("a" * 101) == ["[UNK]"]
    assert cased.tokenize("中文字") == ["中", "文", "字"]
    assert cased.tokenize("[CLS] hello [SEP]") == ["[CLS]", "hello", "[SEP]"]
    assert cased.tokenize("don't") == ["don", "'", "t"]
    assert unc.tokenize("ΟΔΟΣ") == ["οδοσ"]             # one character at a time: no final sigma
    assert unc.tokenize("İstanbul") == ["istanbul"]
    assert cased.tokenize("abc\u0000def\u200bghi") == ["abc", "##def", "##ghi"]
    assert cased.tokenize("3.14") == ["3", ".", "14"]


def write_wordpiece():
    hand_checks()
    with open(os.path.join(GOLDEN, "vocab_small.txt"), "w", encoding="utf-8") as f:
        f.write("\n".join(VOCAB) + "\n")
    cases = []
    for name, kw in CONFIGS.items():
        tok = RefTokenizer(VOCAB, **kw)
        for text in CASES:
            toks = tok.tokenize(text)
            cases.append({"config": name, "text": text, "basic": tok.basic_all(text),
                          "tokens": toks, "ids": [tok.vocab[t] for t in toks]})
    with open(os.path.join(GOLDEN, "wordpiece_cases.json"), "w", encoding="utf-8") as f:
        json.dump({"configs": {k: {"lower": v.get("lower", False),
                                   "strip_accents": v.get("strip_accents", None),
                                   "nfc": v.get("nfc", True)} for k, v in CONFIGS.items()},
                   "cases": cases}, f, ensure_ascii=True, indent=0)
    print("wordpiece: %d cases, vocab %d" % (len(cases), len(VOCAB)))


# ---------------------------------------------------------------------------
# BERT and ViT in plain torch (float64)
# ---------------------------------------------------------------------------
D = torch.float64


def f32(t):
    return t.to(torch.float32).to(D)


def lin(x, p, name):
    return F.linear(x, p[name + ".weight"], p[name + ".bias"])


def ln(x, p, name, eps):
    return F.layer_norm(x, (x.shape[-1],), p[name + ".weight"], p[name + ".bias"], eps)


def attention(h, mask, p, pre, self_name, nh):
    B, L, H = h.shape
    dh = H // nh

    def heads(t):
        return t.reshape(B, L, nh, dh).permute(0, 2, 1, 3)
    q = heads(lin(h, p, pre + self_name + ".query"))
    k = heads(lin(h, p, pre + self_name + ".key"))
    v = heads(lin(h, p, pre + self_name + ".value"))
    s = q @ k.transpose(-1, -2) / math.sqrt(dh)
    if mask is not None:
        s = s.masked_fill(mask[:, None, None, :] == 0, float("-inf"))
    a = torch.softmax(s, -1)
    ctx = (a @ v).permute(0, 2, 1, 3).reshape(B, L, H)
    return lin(ctx, p, pre + "attention.output.dense")


def ffn(h, p, pre):
    return lin(F.gelu(lin(h, p, pre + "intermediate.dense")), p, pre + "output.dense")


def rand_linear(p, name, out, inp, s=0.3):
    p[name + ".weight"] = torch.randn(out, inp, dtype=D) * s
    p[name + ".bias"] = torch.randn(out, dtype=D) * 0.1


def rand_ln(p, name, n):
    p[name + ".weight"] = 1 + torch.randn(n, dtype=D) * 0.2
    p[name + ".bias"] = torch.randn(n, dtype=D) * 0.1


BERT = dict(vocab_size=len(VOCAB), hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
            intermediate_size=64, max_position_embeddings=16, type_vocab_size=2,
            layer_norm_eps=1e-12, hidden_act="gelu", hidden_dropout_prob=0.1,
            attention_probs_dropout_prob=0.1, initializer_range=0.02,
            position_embedding_type="absolute", model_type="bert",
            architectures=["BertForMaskedLM"])


def bert_params(c):
    H, I = c["hidden_size"], c["intermediate_size"]
    p = {"embeddings.word_embeddings.weight": torch.randn(c["vocab_size"], H, dtype=D) * 0.5,
         "embeddings.position_embeddings.weight":
             torch.randn(c["max_position_embeddings"], H, dtype=D) * 0.5,
         "embeddings.token_type_embeddings.weight": torch.randn(c["type_vocab_size"], H, dtype=D) * 0.5}
    rand_ln(p, "embeddings.LayerNorm", H)
    for i in range(c["num_hidden_layers"]):
        pre = "encoder.layer.%d." % i
        for n in ("query", "key", "value"):
            rand_linear(p, pre + "attention.self." + n, H, H)
        rand_linear(p, pre + "attention.output.dense", H, H)
        rand_ln(p, pre + "attention.output.LayerNorm", H)
        rand_linear(p, pre + "intermediate.dense", I, H)
        rand_linear(p, pre + "output.dense", H, I, 0.2)
        rand_ln(p, pre + "output.LayerNorm", H)
    rand_linear(p, "pooler.dense", H, H)
    return {k: f32(v).requires_grad_() for k, v in p.items()}


def bert_forward(c, p, ids, types, mask):
    L = ids.shape[1]
    eps = c["layer_norm_eps"]
    x = (p["embeddings.word_embeddings.weight"][ids]
         + p["embeddings.position_embeddings.weight"][:L][None]
         + p["embeddings.token_type_embeddings.weight"][types])
    emb = ln(x, p, "embeddings.LayerNorm", eps)
    h = emb
    for i in range(c["num_hidden_layers"]):
        pre = "encoder.layer.%d." % i
        h = ln(h + attention(h, mask, p, pre, "attention.self", c["num_attention_heads"]), p,
               pre + "attention.output.LayerNorm", eps)
        h = ln(h + ffn(h, p, pre), p, pre + "output.LayerNorm", eps)
    pooled = torch.tanh(lin(h[:, 0], p, "pooler.dense"))
    return emb, h, pooled


def write_bert():
    c = BERT
    torch.manual_seed(11)
    p = bert_params(c)
    B, L = 2, 7
    ids = torch.randint(0, c["vocab_size"], (B, L))
    ids[:, 0] = VOCAB.index("[CLS]")
    types = torch.tensor([[0, 0, 0, 1, 1, 1, 1], [0, 0, 0, 0, 0, 1, 1]])
    mask = torch.ones(B, L, dtype=D)
    mask[1, 5:] = 0
    emb, h, pooled = bert_forward(c, p, ids, types, mask)
    w = f32(torch.randn(B, L, c["hidden_size"], dtype=D))
    wp = f32(torch.randn(B, c["hidden_size"], dtype=D))
    loss = (w * h).sum() + (wp * pooled).sum()
    names = list(p)
    grads = torch.autograd.grad(loss, [p[n] for n in names])
    io = {"ids": ids.to(D), "types": types.to(D), "mask": mask, "w": w, "wp": wp,
          "embeddings": emb.detach(), "hidden": h.detach(), "pooled": pooled.detach()}
    for n, g in zip(names, grads):
        io["grad." + n] = g
    d = os.path.join(GOLDEN, "bert_tiny")
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "config.json"), "w") as f:
        json.dump(c, f, indent=2)
    with open(os.path.join(d, "tokenizer_config.json"), "w") as f:
        json.dump({"do_lower_case": False, "model_max_length": 16}, f, indent=2)
    with open(os.path.join(d, "vocab.txt"), "w", encoding="utf-8") as f:
        f.write("\n".join(VOCAB) + "\n")
    # the checkpoint as BertForMaskedLM names it, with the old gamma/beta names
    ck = {}
    for n in names:
        k = "bert." + n
        if n == "embeddings.LayerNorm.weight":
            k = "bert.embeddings.LayerNorm.gamma"
        elif n == "embeddings.LayerNorm.bias":
            k = "bert.embeddings.LayerNorm.beta"
        ck[k] = p[n].detach()
    ck["cls.predictions.bias"] = torch.zeros(c["vocab_size"], dtype=D)
    write_safetensors(os.path.join(d, "model.safetensors"), ck, {"format": "pt"})
    write_safetensors(os.path.join(GOLDEN, "bert_tiny_io.safetensors"), io,
                      {"generator": "scripts/golden_bert_vit.py, torch " + torch.__version__})
    print("bert: loss %.6f, |hidden| max %.3f" % (loss.item(), h.abs().max().item()))


VIT = dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=64,
           image_size=32, patch_size=8, num_channels=3, layer_norm_eps=1e-12, hidden_act="gelu",
           qkv_bias=True, hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0,
           initializer_range=0.02, model_type="vit", architectures=["ViTForImageClassification"])


def write_vit():
    c = VIT
    torch.manual_seed(12)
    H, I, P, C, S = (c["hidden_size"], c["intermediate_size"], c["patch_size"],
                     c["num_channels"], c["image_size"])
    N = (S // P) ** 2
    p = {"embeddings.cls_token": torch.randn(1, 1, H, dtype=D) * 0.5,
         "embeddings.position_embeddings": torch.randn(1, N + 1, H, dtype=D) * 0.5,
         "embeddings.patch_embeddings.projection.weight": torch.randn(H, C, P, P, dtype=D) * 0.1,
         "embeddings.patch_embeddings.projection.bias": torch.randn(H, dtype=D) * 0.1}
    for i in range(c["num_hidden_layers"]):
        pre = "encoder.layer.%d." % i
        rand_ln(p, pre + "layernorm_before", H)
        for n in ("query", "key", "value"):
            rand_linear(p, pre + "attention.attention." + n, H, H)
        rand_linear(p, pre + "attention.output.dense", H, H)
        rand_ln(p, pre + "layernorm_after", H)
        rand_linear(p, pre + "intermediate.dense", I, H)
        rand_linear(p, pre + "output.dense", H, I, 0.2)
    rand_ln(p, "layernorm", H)
    p = {k: f32(v) for k, v in p.items()}
    B = 2
    images = f32(torch.rand(B, C, S, S, dtype=D) * 2 - 1)
    eps = c["layer_norm_eps"]
    e = F.conv2d(images, p["embeddings.patch_embeddings.projection.weight"],
                 p["embeddings.patch_embeddings.projection.bias"], stride=P)
    e = e.flatten(2).transpose(1, 2)                       # [B, N, H], row-major patches
    x = torch.cat([p["embeddings.cls_token"].expand(B, 1, H), e], 1) + p["embeddings.position_embeddings"]
    h = x
    for i in range(c["num_hidden_layers"]):
        pre = "encoder.layer.%d." % i
        h = h + attention(ln(h, p, pre + "layernorm_before", eps), None, p, pre,
                          "attention.attention", c["num_attention_heads"])
        h = h + ffn(ln(h, p, pre + "layernorm_after", eps), p, pre)
    out = ln(h, p, "layernorm", eps)
    d = os.path.join(GOLDEN, "vit_tiny")
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "config.json"), "w") as f:
        json.dump(c, f, indent=2)
    ck = {"vit." + k: v for k, v in p.items()}
    ck["classifier.weight"] = torch.zeros(3, H, dtype=D)
    ck["classifier.bias"] = torch.zeros(3, dtype=D)
    write_safetensors(os.path.join(d, "model.safetensors"), ck, {"format": "pt"})
    write_safetensors(os.path.join(GOLDEN, "vit_tiny_io.safetensors"),
                      {"images": images, "hidden": out, "embeddings": x},
                      {"generator": "scripts/golden_bert_vit.py, torch " + torch.__version__})
    print("vit: |hidden| max %.3f" % out.abs().max().item())


if __name__ == "__main__":
    write_wordpiece()
    if sys.argv[1:] != ["--wordpiece-only"]:
        write_bert()
        write_vit()
