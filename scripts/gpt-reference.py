#!/usr/bin/python3
"""The small GPT of include/kiln/model.h in PyTorch, and the test vectors
that tests/unit/test_gpt_ref.c checks kiln against (in the way of llm.c's
test_gpt2).

  /usr/bin/python3 scripts/gpt-reference.py [-o tests/data/gpt_ref.bin]

Run by a developer (Debian's python3-torch); CI never runs it and nothing in
CI imports torch. The output is deterministic: the same torch build writes
the same file. bench/train/run imports GPT, named_params and decay_names from
here, so the benchmark and the reference test exercise one model definition.

The model (model.h): token + learned position embeddings, n_layer pre-LN
blocks (causal self-attention, GELU(tanh) MLP of width 4d), final LayerNorm,
logits = lnf(x) wte^T (tied head). LayerNorm eps 1e-5, attention scaled by
1/sqrt(d/n_head), cross-entropy with ignore_index=-1, mean over counted
targets. Weights are NOT GPT-2's initialisation: every tensor is random
(N(0, 0.1); LayerNorm weights 1 + N(0, 0.1); biases non-zero) so that every
path carries signal.

File format (little-endian; f32 = IEEE float32, i32 = int32):

  offset  field
  0       char[8]  magic "KILNGREF"
  8       i32      version (1)
  12      i32      n_layer, n_head, d_model, n_ctx, vocab  (model.h config)
  32      i32      B, T          (batch shape, T <= n_ctx)
  40      i32      S             (number of AdamW steps)
  44      i32      n_params      (kiln_gpt_param_count of the config)
  48      f32      beta1, beta2, eps, weight_decay, grad_clip
  68      i32[3]   reserved, 0
  80      body:
          f32[n_params]  params        initial weights, in model.h's order
          i32[B*T]       inputs        token ids, row-major [B][T]
          i32[B*T]       targets       token ids or -1 (ignored)
          f32[B*T*V]     logits        of the initial weights
          f32            loss          mean CE over targets != -1
          f32[n_params]  grads         d loss / d params, model.h's order
          f32[S]         lr            learning rate of each step
          f32[S]         step_loss     loss of the forward before step s
          f32[S]         step_norm     global grad norm before clipping
          f32            final_loss    loss after the S steps
          f32[n_params]  final_params  weights after the S steps

A step is: forward, backward, clip_grad_norm_(all params, grad_clip),
torch.optim.AdamW with two groups (weight_decay on wte, wpe, qkv_w, proj_w,
fc_w, fcproj_w; 0 on biases and LayerNorm parameters), lr set to lr[s].
Step 0's loss and gradients are the `loss` and `grads` above.

The script also repeats everything in float64 from the same weights and
prints how far float32 torch is from it: the floor any float32
implementation (kiln's included) can be held to; docs/MODEL.md records it.
"""

import argparse
import math
import os
import struct
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F

MAGIC = b"KILNGREF"
VERSION = 1

# The configuration of the test vectors: a non-power-of-two vocabulary and
# width (d = 36: no SIMD width divides it; head size 9); T < n_ctx, and T
# longer than 64 so that attention computed in row blocks (kiln's is, by 64)
# crosses a block edge; ignored targets at the start of one row (a chat
# prompt) and the end of another (padding).
CONFIG = dict(n_layer=2, n_head=4, d_model=36, n_ctx=80, vocab=67)
B, T, S = 3, 70, 3
# eps 1e-6, not train.h's default 1e-8: the key biases (rows d..2d-1 of
# qkv_b) have a gradient of exactly zero in exact arithmetic (softmax ignores
# a constant added to all of a query's scores), so in float32 they get
# rounding noise, and with eps 1e-8 Adam turns that noise into updates of
# +-lr with a random sign, in torch and kiln alike. With 1e-6 such noise
# moves a weight by ~1e-4 lr. The formula under test is the same. The clip
# (1.0) is below the gradient norm in all three steps, so clipping is live.
HPARAMS = dict(beta1=0.9, beta2=0.95, eps=1e-6, weight_decay=0.1,
               grad_clip=1.0)
LRS = [1e-2, 5e-3, 2e-3]
SEED = 1234

LAYER_TENSORS = ["ln1_w", "ln1_b", "qkv_w", "qkv_b", "proj_w", "proj_b",
                 "ln2_w", "ln2_b", "fc_w", "fc_b", "fcproj_w", "fcproj_b"]
DECAY = {"wte", "wpe", "qkv_w", "proj_w", "fc_w", "fcproj_w"}


class Block(nn.Module):
    def __init__(self, d, n_head, n_ctx):
        super().__init__()
        self.n_head = n_head
        self.ln1 = nn.LayerNorm(d, eps=1e-5)
        self.qkv = nn.Linear(d, 3 * d)   # rows q, k, v
        self.proj = nn.Linear(d, d)
        self.ln2 = nn.LayerNorm(d, eps=1e-5)
        self.fc = nn.Linear(d, 4 * d)
        self.fcproj = nn.Linear(4 * d, d)
        self.register_buffer(
            "mask", torch.tril(torch.ones(n_ctx, n_ctx, dtype=torch.bool)))

    def forward(self, x):
        b, t, c = x.shape
        hs = c // self.n_head
        q, k, v = self.qkv(self.ln1(x)).split(c, dim=2)
        # (b, t, c) -> (b, h, t, hs): head h owns columns h*hs .. (h+1)*hs-1
        q = q.view(b, t, self.n_head, hs).transpose(1, 2)
        k = k.view(b, t, self.n_head, hs).transpose(1, 2)
        v = v.view(b, t, self.n_head, hs).transpose(1, 2)
        att = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(hs))
        att = att.masked_fill(~self.mask[:t, :t], float("-inf"))
        att = F.softmax(att, dim=-1)
        y = (att @ v).transpose(1, 2).contiguous().view(b, t, c)
        x = x + self.proj(y)
        h = F.gelu(self.fc(self.ln2(x)), approximate="tanh")
        return x + self.fcproj(h)


class GPT(nn.Module):
    def __init__(self, n_layer, n_head, d_model, n_ctx, vocab):
        super().__init__()
        self.wte = nn.Embedding(vocab, d_model)
        self.wpe = nn.Embedding(n_ctx, d_model)
        self.blocks = nn.ModuleList(
            [Block(d_model, n_head, n_ctx) for _ in range(n_layer)])
        self.lnf = nn.LayerNorm(d_model, eps=1e-5)

    def forward(self, idx, targets=None):
        t = idx.shape[1]
        pos = torch.arange(t, device=idx.device)
        x = self.wte(idx) + self.wpe(pos)
        for blk in self.blocks:
            x = blk(x)
        logits = F.linear(self.lnf(x), self.wte.weight)  # tied head
        if targets is None:
            return logits, None
        loss = F.cross_entropy(logits.view(-1, logits.shape[-1]),
                               targets.view(-1), ignore_index=-1)
        return logits, loss


def named_params(model):
    """(name, tensor) in model.h's parameter order; layer tensors are named
    like "l1.fc_w"."""
    out = [("wte", model.wte.weight), ("wpe", model.wpe.weight)]
    for i, blk in enumerate(model.blocks):
        mods = [blk.ln1, blk.qkv, blk.proj, blk.ln2, blk.fc, blk.fcproj]
        for j, mod in enumerate(mods):
            out.append(("l%d.%s" % (i, LAYER_TENSORS[2 * j]), mod.weight))
            out.append(("l%d.%s" % (i, LAYER_TENSORS[2 * j + 1]), mod.bias))
    out += [("lnf_w", model.lnf.weight), ("lnf_b", model.lnf.bias)]
    return out


def decay_names(model):
    """Splits the parameters into the AdamW groups of train.h."""
    decay, no_decay = [], []
    for name, p in named_params(model):
        (decay if name.split(".")[-1] in DECAY else no_decay).append(p)
    return decay, no_decay


def flat(tensors):
    return torch.cat([t.detach().reshape(-1) for t in tensors])


def randomise(model, gen):
    """Random weights with every path live (not GPT-2's init)."""
    with torch.no_grad():
        for name, p in named_params(model):
            r = torch.randn(p.shape, generator=gen, dtype=torch.float32)
            base = name.split(".")[-1]
            if base.startswith("ln") and base.endswith("_w"):
                p.copy_(1.0 + 0.1 * r)
            elif base == "qkv_w":
                p.copy_(0.2 * r)    # attention visibly non-uniform
            else:
                p.copy_(0.1 * r)


def make_batch(gen, vocab):
    seq = torch.randint(0, vocab, (B, T + 1), generator=gen)
    seq[0, 3] = vocab - 1          # the last token id is used
    inputs = seq[:, :T].clone()
    targets = seq[:, 1:].clone()
    targets[0, 5] = vocab - 1
    targets[1, :20] = -1           # a prompt: ignored
    targets[2, T - 10:] = -1       # padding: ignored
    return inputs, targets


def run(model, inputs, targets, dtype):
    """The reference computation in one dtype: forward and gradients of the
    initial weights, then S AdamW steps."""
    model = model.to(dtype)
    params = [p for _, p in named_params(model)]
    logits, loss = model(inputs, targets)
    grads = torch.autograd.grad(loss, params)
    decay, no_decay = decay_names(model)
    opt = torch.optim.AdamW(
        [{"params": decay, "weight_decay": HPARAMS["weight_decay"]},
         {"params": no_decay, "weight_decay": 0.0}],
        lr=LRS[0], betas=(HPARAMS["beta1"], HPARAMS["beta2"]),
        eps=HPARAMS["eps"])
    step_loss, step_norm = [], []
    for s in range(S):
        for g in opt.param_groups:
            g["lr"] = LRS[s]
        opt.zero_grad(set_to_none=True)
        _, l = model(inputs, targets)
        l.backward()
        norm = torch.nn.utils.clip_grad_norm_(params, HPARAMS["grad_clip"])
        opt.step()
        step_loss.append(l.item())
        step_norm.append(norm.item())
    with torch.no_grad():
        _, final_loss = model(inputs, targets)
    return dict(logits=logits.detach(), loss=loss.item(), grads=grads,
                step_loss=step_loss, step_norm=step_norm,
                final_loss=final_loss.item(), final=flat(params))


def compare(r32, r64, names):
    """How far float32 torch lands from float64: the floor for kiln."""
    def err(a, b):
        d = (a.double() - b.double()).abs().max().item()
        return d, d / max(b.abs().max().item(), 1e-30)
    print("float32 torch vs float64 torch (max abs, max abs / tensor max):")
    print("  logits       %.2e  %.2e" % err(r32["logits"], r64["logits"]))
    print("  loss         %.2e" % abs(r32["loss"] - r64["loss"]))
    worst = max(((err(g32, g64), n) for n, g32, g64 in
                 zip(names, r32["grads"], r64["grads"])),
                key=lambda e: e[0][1])
    print("  grads        %.2e  %.2e  (worst: %s)" % (*worst[0], worst[1]))
    print("  step losses  %.2e" % max(abs(a - b) for a, b in
                                     zip(r32["step_loss"], r64["step_loss"])))
    print("  step norms   %.2e" % max(abs(a - b) for a, b in
                                     zip(r32["step_norm"], r64["step_norm"])))
    d = (r32["final"].double() - r64["final"]).abs()
    key_bias = torch.zeros_like(d, dtype=torch.bool)
    off, dm = 0, CONFIG["d_model"]
    for name, g in zip(names, r64["grads"]):
        if name.endswith("qkv_b"):
            key_bias[off + dm:off + 2 * dm] = True
        off += g.numel()
    print("  final params %.2e  (key biases %.2e; mean %.2e)" % (
        d[~key_bias].max().item(), d[key_bias].max().item(),
        d[~key_bias].mean().item()))


def write(path, model, inputs, targets, r):
    n = sum(p.numel() for _, p in named_params(model))
    c = CONFIG
    head = MAGIC + struct.pack(
        "<10i5f3i", VERSION, c["n_layer"], c["n_head"], c["d_model"],
        c["n_ctx"], c["vocab"], B, T, S, n, HPARAMS["beta1"],
        HPARAMS["beta2"], HPARAMS["eps"], HPARAMS["weight_decay"],
        HPARAMS["grad_clip"], 0, 0, 0)
    assert len(head) == 80

    def f32(t):
        return t.detach().to(torch.float32).contiguous().numpy().tobytes()

    def i32(t):
        return t.to(torch.int32).contiguous().numpy().tobytes()

    def fl(xs):
        return struct.pack("<%df" % len(xs), *xs)

    body = [head, f32(r["initial"]), i32(inputs), i32(targets),
            f32(r["logits"]), fl([r["loss"]]), f32(flat(r["grads"])),
            fl(LRS), fl(r["step_loss"]), fl(r["step_norm"]),
            fl([r["final_loss"]]), f32(r["final"])]
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        for b in body:
            f.write(b)
    os.replace(tmp, path)
    return sum(len(b) for b in body)


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("-o", "--out", default=os.path.normpath(os.path.join(
        here, "..", "tests", "data", "gpt_ref.bin")))
    args = ap.parse_args()
    if sys.byteorder != "little":
        sys.exit("gpt-reference: the file format is little-endian")

    torch.set_num_threads(1)       # one summation order, one file
    gen = torch.Generator().manual_seed(SEED)
    model = GPT(**CONFIG)
    randomise(model, gen)
    inputs, targets = make_batch(gen, CONFIG["vocab"])
    names = [n for n, _ in named_params(model)]
    initial = flat(p for _, p in named_params(model)).clone()

    m64 = GPT(**CONFIG).double()
    m64.load_state_dict(model.state_dict())
    r32 = run(model, inputs, targets, torch.float32)
    r64 = run(m64, inputs, targets, torch.float64)
    r32["initial"] = initial

    size = write(args.out, model, inputs, targets, r32)
    print("wrote %s: %d bytes, %d params, loss %.6f, step losses %s, "
          "norms %s" % (args.out, size, initial.numel(), r32["loss"],
                        ["%.6f" % x for x in r32["step_loss"]],
                        ["%.4f" % x for x in r32["step_norm"]]))
    compare(r32, r64, names)


if __name__ == "__main__":
    main()
