"""Writes hf-fixture.json: RoPE outputs computed the way HF transformers' LLaMA does, in float32.

The few lines below mirror transformers' LlamaRotaryEmbedding (default and linear rope_type:
inv_freq /= factor) and apply_rotary_pos_emb/rotate_half, so the fixture needs only torch.
Run from this folder:  /usr/bin/python3 make-hf-fixture.py
"""
import json

import torch


def hf_rope(x, position_ids, head_dim, theta, factor=None):
    inv_freq = 1.0 / (theta ** (torch.arange(0, head_dim, 2, dtype=torch.int64).to(dtype=torch.float) / head_dim))
    if factor is not None:
        inv_freq = inv_freq / factor
    inv_freq_expanded = inv_freq[None, :, None].float().expand(position_ids.shape[0], -1, 1)
    position_ids_expanded = position_ids[:, None, :].float()
    freqs = (inv_freq_expanded.float() @ position_ids_expanded.float()).transpose(1, 2)
    emb = torch.cat((freqs, freqs), dim=-1)
    cos, sin = emb.cos(), emb.sin()  # [1, T, head_dim]
    cos, sin = cos.unsqueeze(1), sin.unsqueeze(1)  # broadcast over heads: x is [1, heads, T, head_dim]

    def rotate_half(v):
        x1, x2 = v[..., : v.shape[-1] // 2], v[..., v.shape[-1] // 2 :]
        return torch.cat((-x2, x1), dim=-1)

    return x * cos + rotate_half(x) * sin


cases = []
gen = torch.Generator().manual_seed(1234)
for heads, head_dim, theta, factor, positions in [
    (2, 8, 10000.0, None, [0, 1, 7, 300]),
    (1, 128, 10000.0, None, [511, 4095]),
    (1, 64, 500000.0, None, [2, 8191]),
    (2, 16, 10000.0, 4.0, [0, 3, 2047]),
]:
    T = len(positions)
    x = torch.rand(T, heads, head_dim, generator=gen) * 2 - 1
    pos = torch.tensor([positions], dtype=torch.int64)
    out = hf_rope(x.transpose(0, 1)[None], pos, head_dim, theta, factor)[0].transpose(0, 1)
    cases.append(
        {
            "numHeads": heads,
            "headDim": head_dim,
            "theta": theta,
            "factor": factor,
            "positions": positions,
            "x": x.reshape(-1).tolist(),
            "out": out.reshape(-1).tolist(),
        }
    )

with open("hf-fixture.json", "w") as f:
    json.dump({"torch": torch.__version__, "cases": cases}, f)
