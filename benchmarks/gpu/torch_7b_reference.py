#!/usr/bin/env python3
"""The PyTorch reference of the model-folder rows (benchmarks/src/model-folder.bench.ts): final hidden states.

Reads a LLaMA model folder (safetensors shards, e.g. `device-main make-model`'s random 7B-shaped one),
puts every matrix (projections and the embedding) through each base format's quantize -> dequantize
rules of docs/quantization.md in torch (f16 as stored; q8/q4 symmetric blocks of 32 with an f16 scale;
nf4 blocks of 64 with the f16 absmax and QLoRA's levels), and runs a plain float32 LLaMA forward
(HF LlamaModel's math: RMSNorm, RoPE, causal attention, SwiGLU, final norm) over the same fixed token
rows for every format at once, one layer's weights read at a time. Writes
{"reference", "batch", "seq", "ids", "hidden": {format: [batch*seq*hidden floats]}} to --out; the
WebGPU side compares its own forward of those rows (min row cosine) before it times anything.

No transformers or bitsandbytes needed (bitsandbytes' NF4 would not be our bits anyway: the check is
of our format). Runs on CUDA when present, else the CPU (the smoke test of run-all.sh).

Usage: torch_7b_reference.py --model DIR --out REF.json [--formats f16,q8,q4,nf4] [--batch 2] [--seq 16]
"""
import argparse
import json
import mmap
import os
import struct
import sys
import time

import torch
import torch.nn.functional as F

DEV = "cuda" if torch.cuda.is_available() else "cpu"
DTYPES = {"F32": torch.float32, "F16": torch.float16, "BF16": torch.bfloat16}
NF4_LEVELS = [-1.0, -0.6961928009986877, -0.5250730514526367, -0.39491748809814453, -0.28444138169288635,
              -0.18477343022823334, -0.09105003625154495, 0.0, 0.07958029955625534, 0.16093020141124725,
              0.24611230194568634, 0.33791524171829224, 0.44070982933044434, 0.5626170039176941,
              0.7229568362236023, 1.0]


class Shards:
    """The folder's tensors by name, memory-mapped (one tensor in memory at a time)."""

    def __init__(self, folder):
        index = os.path.join(folder, "model.safetensors.index.json")
        if os.path.exists(index):
            with open(index) as f:
                files = sorted(set(json.load(f)["weight_map"].values()))
        else:
            files = ["model.safetensors"]
        self.where = {}
        self.maps = []
        for name in files:
            fh = open(os.path.join(folder, name), "rb")
            mm = mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_COPY)
            (n,) = struct.unpack("<Q", mm[:8])
            header = json.loads(mm[8 : 8 + n])
            for key, e in header.items():
                if key != "__metadata__":
                    self.where[key] = (mm, 8 + n, e)
            self.maps.append((fh, mm))

    def get(self, name):
        mm, base, e = self.where[name]
        a, b = e["data_offsets"]
        dt = DTYPES[e["dtype"]]
        raw = torch.frombuffer(mm, dtype=torch.uint8, count=b - a, offset=base + a)
        if dt == torch.bfloat16:
            t = raw.view(torch.int16).view(torch.bfloat16)
        else:
            t = raw.view(dt)
        return t.reshape(e["shape"]).to(DEV).float()


def fake_quantize(w, fmt):
    """w [rows, cols] f32 -> the f32 values our quantized format decodes to (docs/quantization.md)."""
    if fmt in ("f16", "f32"):
        return w
    block = 64 if fmt == "nf4" else 32
    rows, cols = w.shape
    pad = (-cols) % block
    x = F.pad(w, (0, pad)).reshape(rows, -1, block)  # padding is zero: never raises absmax
    amax = x.abs().amax(dim=-1, keepdim=True)
    if fmt == "nf4":
        scale = amax.half().double()
    else:
        qmax = 127 if fmt == "q8" else 7
        scale = (amax.double() / qmax).float().half().double()  # f64, rounded to f32, then to f16
    zero = scale == 0
    v = x.double() / torch.where(zero, torch.ones_like(scale), scale)
    if fmt == "nf4":
        levels = torch.tensor(NF4_LEVELS, dtype=torch.float32, device=w.device).double()
        mids = (levels[:-1] + levels[1:]) / 2
        code = (v.unsqueeze(-1) > mids).sum(-1)  # the nearest level; a tie goes to the lower code
        code = torch.where(zero, torch.full_like(code, 7), code)
        out = (scale * levels[code]).float()
    else:
        q = torch.sign(v) * torch.floor(v.abs() + 0.5)  # halves away from zero (C roundf)
        q = q.clamp(-qmax, qmax)
        q = torch.where(zero, torch.zeros_like(q), q)
        out = (scale * q).float()
    return out.reshape(rows, -1)[:, :cols]


def rms_norm(x, w, eps):
    return w * (x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps))


def rotate_half(x):
    h = x.shape[-1] // 2
    return torch.cat((-x[..., h:], x[..., :h]), dim=-1)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--formats", default="f16,q8,q4,nf4")
    ap.add_argument("--batch", type=int, default=2)
    ap.add_argument("--seq", type=int, default=16)
    ap.add_argument("--seed", type=int, default=5)
    args = ap.parse_args()
    t0 = time.time()
    with open(os.path.join(args.model, "config.json")) as f:
        c = json.load(f)
    Hd, L, nH = c["hidden_size"], c["num_hidden_layers"], c["num_attention_heads"]
    nKv = c.get("num_key_value_heads", nH)
    D = c.get("head_dim") or Hd // nH
    eps, theta, V = c["rms_norm_eps"], c.get("rope_theta", 10000.0), c["vocab_size"]
    formats = [f for f in args.formats.split(",") if f]
    for f in formats:
        if f not in ("f16", "q8", "q4", "nf4"):
            sys.exit(f"unknown format {f}: choose from f16, q8, q4, nf4")
    shards = Shards(args.model)
    B, T = args.batch, args.seq
    g = torch.Generator().manual_seed(args.seed)
    ids = torch.randint(3, V, (B, T), generator=g)

    emb = shards.get("model.embed_tokens.weight")
    h = {f: F.embedding(ids.to(DEV), fake_quantize(emb, f)) for f in formats}
    del emb
    inv = 1.0 / (theta ** (torch.arange(0, D, 2, dtype=torch.int64, device=DEV).float() / D))
    ang = torch.arange(T, device=DEV).float()[:, None] * inv[None, :]
    ang = torch.cat((ang, ang), dim=-1)
    cos, sin = ang.cos()[None, None], ang.sin()[None, None]
    mask = torch.full((T, T), float("-inf"), device=DEV).triu(1)
    for layer in range(L):
        p = f"model.layers.{layer}."
        w = {k: shards.get(p + k + ".weight") for k in (
            "input_layernorm", "post_attention_layernorm", "self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj",
            "self_attn.o_proj", "mlp.gate_proj", "mlp.up_proj", "mlp.down_proj")}
        for f in formats:
            q = {k: fake_quantize(v, f) for k, v in w.items() if v.dim() == 2}
            x = rms_norm(h[f], w["input_layernorm"], eps)
            qs = (x @ q["self_attn.q_proj"].T).view(B, T, nH, D).transpose(1, 2)
            ks = (x @ q["self_attn.k_proj"].T).view(B, T, nKv, D).transpose(1, 2)
            vs = (x @ q["self_attn.v_proj"].T).view(B, T, nKv, D).transpose(1, 2)
            qs, ks = qs * cos + rotate_half(qs) * sin, ks * cos + rotate_half(ks) * sin
            ks, vs = ks.repeat_interleave(nH // nKv, dim=1), vs.repeat_interleave(nH // nKv, dim=1)
            att = torch.softmax(qs @ ks.transpose(2, 3) * D**-0.5 + mask, dim=-1)
            o = (att @ vs).transpose(1, 2).reshape(B, T, nH * D)
            h[f] = h[f] + o @ q["self_attn.o_proj"].T
            x = rms_norm(h[f], w["post_attention_layernorm"], eps)
            mlp = F.silu(x @ q["mlp.gate_proj"].T) * (x @ q["mlp.up_proj"].T)
            h[f] = h[f] + mlp @ q["mlp.down_proj"].T
        print(f"layer {layer + 1}/{L} ({time.time() - t0:.0f} s)", flush=True)
    norm = shards.get("model.norm.weight")
    out = dict(
        reference=f"plain torch {torch.__version__} float32 on {DEV} (torch_7b_reference.py)",
        batch=B, seq=T, ids=ids.reshape(-1).tolist(),
        hidden={f: rms_norm(h[f], norm, eps).reshape(-1).cpu().tolist() for f in formats},
    )
    tmp = args.out + ".tmp"
    with open(tmp, "w") as f:
        json.dump(out, f)
    os.replace(tmp, args.out)
    print(f"wrote {args.out}: {len(formats)} formats x {B * T} rows in {time.time() - t0:.0f} s", flush=True)


if __name__ == "__main__":
    main()
