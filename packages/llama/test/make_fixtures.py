"""Golden fixtures for the LLaMA loader and the CPU reference forward (src/reference/llama-ref.ts).

Run from anywhere with PyTorch only (no transformers, no safetensors package needed):
    /usr/bin/python3 packages/llama/test/make_fixtures.py

It writes, under packages/llama/test/fixtures/:
  tiny-mha/        MHA: hidden 64, 2 layers, 4 heads (head_dim 16), intermediate 64, vocab 128, untied
                   lm_head, transformers 4.x config.json (rope_theta 10000, torch_dtype), F32 safetensors.
  tiny-gqa/        GQA: hidden 64, 2 layers, 8 heads / 4 kv heads, head_dim 8, intermediate 80, vocab 128,
                   tied embeddings, transformers 5.x config.json (rope_parameters {rope_theta 500000,
                   rope_type default}, dtype), F32 safetensors.
  tiny-gqa-f16/, tiny-gqa-bf16/   the tiny-gqa weights stored as F16 / BF16 (rounded from F32).
  forward.json     per model and case: ids, position ids, mask description, the rows compared and the final
                   post-norm hidden states at those rows: `hidden` as HF computes them in float32 (7
                   significant digits), and `hidden_f64` from the same code in float64 (11 digits; see
                   forward()), which a float64 reference with the same semantics matches to ~1e-10. For the
                   bf16 variant the forward runs in float32 on the upcast weights (what the loader makes).
                   Also stories260K (data/models/stories260K, real weights) on one sentence, without and
                   with the LoRA adapter of data/goldens/llara-flag-stories260K/adapter, plus its logits.

The forward below follows HF transformers' LlamaForCausalLM (modeling_llama.py, eager attention) line by
line in plain torch: RMSNorm in float32 `hidden * torch.rsqrt(variance + eps)` then `weight * hidden`,
RoPE with inv_freq = 1 / theta ** (arange(0, d, 2) / d) and cos/sin of (inv_freq @ position_ids) in
float32, rotate_half, repeat_kv for GQA, additive mask (finfo.min where not allowed), softmax in float32,
SwiGLU MLP, PEFT LoRA `base(x) + lora_B(lora_A(x)) * (alpha / r)`. Rows that see no key (padding) are
not compared: HF gives them a uniform average, the reference a zero attention output.
"""

import json
import os
import struct

import torch
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "fixtures")
REPO = os.path.abspath(os.path.join(HERE, "..", "..", ".."))


# ---------------------------------------------------------------- safetensors (minimal, no package)

DTYPES = {"F32": torch.float32, "F16": torch.float16, "BF16": torch.bfloat16}
NAMES = {v: k for k, v in DTYPES.items()}


def save_safetensors(path, tensors, metadata=None):
    # As the safetensors library lays files out: sorted by name (one dtype per file here), __metadata__
    # first, header padded with spaces to a multiple of 8.
    header = {"__metadata__": metadata or {"format": "pt"}}
    blobs, offset = [], 0
    for name in sorted(tensors):
        t = tensors[name].contiguous()
        raw = t.view(torch.int16).numpy().tobytes() if t.dtype == torch.bfloat16 else t.numpy().tobytes()
        header[name] = {"dtype": NAMES[t.dtype], "shape": list(t.shape), "data_offsets": [offset, offset + len(raw)]}
        blobs.append(raw)
        offset += len(raw)
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * ((8 - len(text) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for b in blobs:
            f.write(b)


def load_safetensors(path):
    with open(path, "rb") as f:
        data = f.read()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8 : 8 + n])
    out = {}
    for name, e in header.items():
        if name == "__metadata__":
            continue
        a, b = e["data_offsets"]
        buf = bytearray(data[8 + n + a : 8 + n + b])
        dt = DTYPES[e["dtype"]]
        if dt == torch.bfloat16:
            t = torch.frombuffer(buf, dtype=torch.int16).view(torch.bfloat16)
        else:
            t = torch.frombuffer(buf, dtype=dt)
        out[name] = t.reshape(e["shape"]).clone()
    return out


# ---------------------------------------------------------------- HF LlamaForCausalLM forward, plain torch


def rms_norm(hidden_states, weight, eps, compute=torch.float32):
    input_dtype = hidden_states.dtype
    hidden_states = hidden_states.to(compute)
    variance = hidden_states.pow(2).mean(-1, keepdim=True)
    hidden_states = hidden_states * torch.rsqrt(variance + eps)
    return weight * hidden_states.to(input_dtype)


def rope_cos_sin(position_ids, head_dim, theta, compute=torch.float32):
    inv_freq = 1.0 / (theta ** (torch.arange(0, head_dim, 2, dtype=torch.int64).float() / head_dim))
    inv_freq_expanded = inv_freq[None, :, None].float().expand(position_ids.shape[0], -1, 1)
    position_ids_expanded = position_ids[:, None, :].float()
    freqs = (inv_freq_expanded.float() @ position_ids_expanded.float()).transpose(1, 2)
    emb = torch.cat((freqs, freqs), dim=-1).to(compute)
    return emb.cos(), emb.sin()


def rotate_half(x):
    x1 = x[..., : x.shape[-1] // 2]
    x2 = x[..., x.shape[-1] // 2 :]
    return torch.cat((-x2, x1), dim=-1)


def repeat_kv(hidden_states, n_rep):
    batch, num_key_value_heads, slen, head_dim = hidden_states.shape
    if n_rep == 1:
        return hidden_states
    hidden_states = hidden_states[:, :, None, :, :].expand(batch, num_key_value_heads, n_rep, slen, head_dim)
    return hidden_states.reshape(batch, num_key_value_heads * n_rep, slen, head_dim)


def proj(x, w, name, lora):
    y = F.linear(x, w[name])
    if lora is not None:
        key = "base_model.model." + name.replace(".weight", "")
        a = lora["tensors"].get(key + ".lora_A.weight")
        if a is not None:
            b = lora["tensors"][key + ".lora_B.weight"]
            y = y + F.linear(F.linear(x, a), b) * lora["scaling"]
    return y


def allowed(mask, b, i, j):
    vs, ve = mask["validStart"][b], mask["validEnd"][b]
    if not (vs <= j < ve and vs <= i < ve):
        return False
    if mask["causal"] and j > i:
        return False
    blk = mask.get("block")
    if blk:
        a_s, a_e, b_s, b_e = blk[4 * b : 4 * b + 4]
        if b_s <= i < b_e and a_s <= j < a_e:
            return False
    return True


def forward(cfg, w, input_ids, position_ids, mask, lora=None, compute=torch.float32):
    """Final post-norm hidden states [B, T, H] (LlamaModel output).

    compute=torch.float32 is HF exactly. compute=torch.float64 runs the same code in float64 (weights,
    norms, softmax), with RoPE angles still formed in float32 as HF forms them and their cos/sin taken in
    float64: the semantics of the reference, without float32 rounding, to check it to ~1e-10.
    """
    if compute == torch.float64:
        w = {k: v.double() for k, v in w.items()}
        if lora is not None:
            lora = dict(lora, tensors={k: v.double() for k, v in lora["tensors"].items()})
    B, T = input_ids.shape
    H, nH, nKv, D = cfg["hidden"], cfg["heads"], cfg["kv_heads"], cfg["head_dim"]
    allow = torch.tensor([[[allowed(mask, b, i, j) for j in range(T)] for i in range(T)] for b in range(B)])
    causal_mask = torch.zeros(B, 1, T, T, dtype=compute)
    causal_mask[~allow[:, None]] = torch.finfo(compute).min

    h = F.embedding(input_ids, w["model.embed_tokens.weight"])
    cos, sin = rope_cos_sin(position_ids, D, cfg["theta"], compute)
    cos, sin = cos.unsqueeze(1), sin.unsqueeze(1)
    for l in range(cfg["layers"]):
        p = f"model.layers.{l}."
        residual = h
        x = rms_norm(h, w[p + "input_layernorm.weight"], cfg["eps"], compute)
        q = proj(x, w, p + "self_attn.q_proj.weight", lora).view(B, T, nH, D).transpose(1, 2)
        k = proj(x, w, p + "self_attn.k_proj.weight", lora).view(B, T, nKv, D).transpose(1, 2)
        v = proj(x, w, p + "self_attn.v_proj.weight", lora).view(B, T, nKv, D).transpose(1, 2)
        q = (q * cos) + (rotate_half(q) * sin)
        k = (k * cos) + (rotate_half(k) * sin)
        k = repeat_kv(k, nH // nKv)
        v = repeat_kv(v, nH // nKv)
        attn_weights = torch.matmul(q, k.transpose(2, 3)) * D**-0.5
        attn_weights = attn_weights + causal_mask
        attn_weights = F.softmax(attn_weights, dim=-1, dtype=compute).to(q.dtype)
        attn_output = torch.matmul(attn_weights, v).transpose(1, 2).contiguous().reshape(B, T, nH * D)
        h = residual + proj(attn_output, w, p + "self_attn.o_proj.weight", lora)
        residual = h
        x = rms_norm(h, w[p + "post_attention_layernorm.weight"], cfg["eps"], compute)
        gate = proj(x, w, p + "mlp.gate_proj.weight", lora)
        up = proj(x, w, p + "mlp.up_proj.weight", lora)
        h = residual + proj(F.silu(gate) * up, w, p + "mlp.down_proj.weight", lora)
    return rms_norm(h, w["model.norm.weight"], cfg["eps"], compute)


# ---------------------------------------------------------------- tiny random checkpoints


def make_weights(cfg, seed):
    g = torch.Generator().manual_seed(seed)
    H, I, V, D = cfg["hidden"], cfg["inter"], cfg["vocab"], cfg["head_dim"]
    q, kv = cfg["heads"] * D, cfg["kv_heads"] * D

    def lin(out_dim, in_dim):
        return torch.randn(out_dim, in_dim, generator=g) / in_dim**0.5

    def norm():
        return 1 + 0.1 * torch.randn(H, generator=g)

    w = {"model.embed_tokens.weight": torch.randn(V, H, generator=g)}
    for l in range(cfg["layers"]):
        p = f"model.layers.{l}."
        w[p + "input_layernorm.weight"] = norm()
        w[p + "self_attn.q_proj.weight"] = lin(q, H)
        w[p + "self_attn.k_proj.weight"] = lin(kv, H)
        w[p + "self_attn.v_proj.weight"] = lin(kv, H)
        w[p + "self_attn.o_proj.weight"] = lin(H, q)
        w[p + "post_attention_layernorm.weight"] = norm()
        w[p + "mlp.gate_proj.weight"] = lin(I, H)
        w[p + "mlp.up_proj.weight"] = lin(I, H)
        w[p + "mlp.down_proj.weight"] = lin(H, I)
    w["model.norm.weight"] = norm()
    if not cfg["tied"]:
        w["lm_head.weight"] = lin(V, H)
    return w


MHA = dict(hidden=64, inter=64, layers=2, heads=4, kv_heads=4, head_dim=16, vocab=128, tied=False, theta=10000.0, eps=1e-5)
GQA = dict(hidden=64, inter=80, layers=2, heads=8, kv_heads=4, head_dim=8, vocab=128, tied=True, theta=500000.0, eps=1e-6)


def config_4x(cfg):
    return {
        "architectures": ["LlamaForCausalLM"],
        "model_type": "llama",
        "attention_bias": False,
        "attention_dropout": 0.0,
        "bos_token_id": 1,
        "eos_token_id": 2,
        "hidden_act": "silu",
        "hidden_size": cfg["hidden"],
        "initializer_range": 0.02,
        "intermediate_size": cfg["inter"],
        "max_position_embeddings": 256,
        "mlp_bias": False,
        "num_attention_heads": cfg["heads"],
        "num_hidden_layers": cfg["layers"],
        "num_key_value_heads": cfg["kv_heads"],
        "pretraining_tp": 1,
        "rms_norm_eps": cfg["eps"],
        "rope_scaling": None,
        "rope_theta": cfg["theta"],
        "tie_word_embeddings": cfg["tied"],
        "torch_dtype": "float32",
        "transformers_version": "4.46.0",
        "use_cache": True,
        "vocab_size": cfg["vocab"],
    }


def config_5x(cfg, dtype):
    return {
        "architectures": ["LlamaForCausalLM"],
        "model_type": "llama",
        "attention_bias": False,
        "attention_dropout": 0.0,
        "bos_token_id": 1,
        "eos_token_id": 2,
        "dtype": dtype,
        "head_dim": cfg["head_dim"],
        "hidden_act": "silu",
        "hidden_size": cfg["hidden"],
        "initializer_range": 0.02,
        "intermediate_size": cfg["inter"],
        "max_position_embeddings": 256,
        "mlp_bias": False,
        "num_attention_heads": cfg["heads"],
        "num_hidden_layers": cfg["layers"],
        "num_key_value_heads": cfg["kv_heads"],
        "pretraining_tp": 1,
        "rms_norm_eps": cfg["eps"],
        "rope_parameters": {"rope_theta": cfg["theta"], "rope_type": "default"},
        "tie_word_embeddings": cfg["tied"],
        "transformers_version": "5.0.0",
        "use_cache": True,
        "vocab_size": cfg["vocab"],
    }


def write_model(name, config, weights):
    d = os.path.join(OUT, name)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "config.json"), "w") as f:
        json.dump(config, f, indent=2)
        f.write("\n")
    save_safetensors(os.path.join(d, "model.safetensors"), weights)


# ---------------------------------------------------------------- cases


def mask_desc(batch, seq_len, valid_start, valid_end, block=None):
    m = {"batch": batch, "seqLen": seq_len, "causal": True, "validStart": valid_start, "validEnd": valid_end}
    if block is not None:
        m["block"] = block
    return m


def cases(vocab, seed):
    g = torch.Generator().manual_seed(seed)

    def ids(n):
        return torch.randint(3, vocab, (n,), generator=g).tolist()

    s1, s7, s13 = [1] + ids(0), [1] + ids(6), [1] + ids(12)
    out = []
    for name, s in (("len1", s1), ("len7", s7), ("len13", s13)):
        n = len(s)
        out.append(dict(name=name, ids=[s], positions=[list(range(n))], mask=mask_desc(1, n, [0], [n])))
    # Two sequences left-padded to 13 with pad 0 (positions count from the first real token).
    pad = 13 - len(s7)
    out.append(
        dict(
            name="batch2-left-padded",
            ids=[[0] * pad + s7, s13],
            positions=[[0] * pad + list(range(len(s7))), list(range(13))],
            mask=mask_desc(2, 13, [pad, 0], [13, 13]),
        )
    )
    # LLaRA-like: slots [4, 8) are block A, [8, 12) block B (B rows must not see A columns) and B reuses
    # A's positions; right padding of 2 slots at the end.
    s = [1] + ids(11)
    pos = list(range(8)) + [4, 5, 6, 7] + [0, 0]
    out.append(
        dict(
            name="llara-block",
            ids=[s + [0, 0]],
            positions=[pos],
            mask=mask_desc(1, 14, [0], [12], block=[4, 8, 8, 12]),
        )
    )
    return out


def rows_seen(mask):
    """Flattened rows that see at least one key (the ones compared)."""
    T = mask["seqLen"]
    return [b * T + i for b in range(mask["batch"]) for i in range(T) if any(allowed(mask, b, i, j) for j in range(T))]


def fmt(values, digits=8):
    return [float(f"{v:.{digits}g}") for v in values]


# Cases that also get float64 hidden states (len7 is inside batch2; len1 is trivial).
F64_CASES = ("len13", "batch2-left-padded", "llara-block")


def run_case(cfg, w, case, lora=None, f64=True):
    input_ids = torch.tensor(case["ids"])
    position_ids = torch.tensor(case["positions"])
    rows = rows_seen(case["mask"])
    out = dict(
        name=case["name"],
        ids=sum(case["ids"], []),
        positions=sum(case["positions"], []),
        mask=case["mask"],
        rows=rows,
    )
    for key, compute, digits in (("hidden", torch.float32, 7), ("hidden_f64", torch.float64, 11)):
        if key == "hidden_f64" and not (f64 and case["name"] in F64_CASES):
            continue
        hidden = forward(cfg, w, input_ids, position_ids, case["mask"], lora, compute).reshape(-1, cfg["hidden"])
        out[key] = fmt(hidden[rows].flatten().tolist(), digits)
    return out


def stories260k():
    d = os.path.join(REPO, "data", "models", "stories260K")
    with open(os.path.join(d, "config.json")) as f:
        c = json.load(f)
    cfg = dict(
        hidden=c["hidden_size"], inter=c["intermediate_size"], layers=c["num_hidden_layers"],
        heads=c["num_attention_heads"], kv_heads=c["num_key_value_heads"], head_dim=c["head_dim"],
        vocab=c["vocab_size"], tied=c["tie_word_embeddings"], theta=c["rope_theta"], eps=c["rms_norm_eps"],
    )
    w = load_safetensors(os.path.join(d, "model.safetensors"))
    adapter_dir = os.path.join(REPO, "data", "goldens", "llara-flag-stories260K", "adapter")
    with open(os.path.join(adapter_dir, "adapter_config.json")) as f:
        ac = json.load(f)
    lora = dict(tensors=load_safetensors(os.path.join(adapter_dir, "adapter_model.safetensors")), scaling=ac["lora_alpha"] / ac["r"])
    # The flag prefix and the first text tokens of golden.json ('"' then "experimental investigation ...").
    ids = [1, 313, 344, 444, 427, 285, 288, 377, 412, 421]
    case = dict(name="stories-10", ids=[ids], positions=[list(range(len(ids)))], mask=mask_desc(1, len(ids), [0], [len(ids)]))
    plain = run_case(cfg, w, case, f64=False)
    hidden = forward(cfg, w, torch.tensor([ids]), torch.tensor([case["positions"][0]]), case["mask"])[0]
    plain["logits_last"] = fmt(F.linear(hidden[-1], w["model.embed_tokens.weight"]).tolist(), 7)
    with_lora = run_case(cfg, w, case, lora, f64=False)
    # The adapter's B matrices are trained (non-zero), so this case differs from the plain one.
    with_lora["name"] = "stories-10-lora"
    return [plain, with_lora]


def main():
    torch.set_num_threads(1)
    os.makedirs(OUT, exist_ok=True)
    result = {"about": "Made by make_fixtures.py (plain torch, HF LlamaForCausalLM conventions, float32).", "models": {}}

    mha_w = make_weights(MHA, seed=1)
    write_model("tiny-mha", config_4x(MHA), mha_w)
    result["models"]["tiny-mha"] = [run_case(MHA, mha_w, c) for c in cases(MHA["vocab"], seed=11)]

    gqa_w = make_weights(GQA, seed=2)
    write_model("tiny-gqa", config_5x(GQA, "float32"), gqa_w)
    result["models"]["tiny-gqa"] = [run_case(GQA, gqa_w, c) for c in cases(GQA["vocab"], seed=12)]

    # 16-bit copies: the loader test checks their values against the rounded f32 weights; the bf16 one
    # (coarser) also gets a forward case, run in float32 on the upcast weights.
    for dtype, name in ((torch.float16, "float16"), (torch.bfloat16, "bfloat16")):
        low = {k: v.to(dtype) for k, v in gqa_w.items()}
        folder = "tiny-gqa-f16" if dtype == torch.float16 else "tiny-gqa-bf16"
        write_model(folder, config_5x(GQA, name), low)
        if dtype == torch.bfloat16:
            up = {k: v.float() for k, v in low.items()}
            result["models"][folder] = [
                run_case(GQA, up, c, f64=False) for c in cases(GQA["vocab"], seed=12) if c["name"] == "llara-block"
            ]

    result["models"]["stories260K"] = stories260k()
    with open(os.path.join(OUT, "forward.json"), "w") as f:
        json.dump(result, f, separators=(",", ":"))
        f.write("\n")
    total = sum(os.path.getsize(os.path.join(r, f)) for r, _, fs in os.walk(OUT) for f in fs)
    print(f"fixtures written to {OUT} ({total} bytes)")


if __name__ == "__main__":
    main()
