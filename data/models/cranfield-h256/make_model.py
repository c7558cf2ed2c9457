"""Train cranfield-h256: a small LLaMA-architecture causal LM, 256 wide, on the bundled Cranfield text.

Why: the quantization accuracy test (packages/trainer/src/quant-accuracy.test.ts) needs a *trained*
model wider than stories260K (64) to show how the 4-bit formats behave on wider rows, and no pretrained
LLaMA of that size can be downloaded here. This is a toy LM, not a quality model.

Run from the repository root with PyTorch only (1.13 CPU is enough; no transformers / safetensors):
    /usr/bin/python3 data/models/cranfield-h256/make_model.py            # trains, writes the folder
    /usr/bin/python3 data/models/cranfield-h256/make_model.py --bench 5  # times 5 steps, writes nothing

It writes into data/models/cranfield-h256/: config.json, model.safetensors (F16, HF names, tied head),
the stories260K tokenizer files (copied), train-log.json (losses), and the forward golden
packages/llama/test/fixtures/cranfield-h256-forward.json (HF-convention float32 forward of the saved
f16 weights upcast to f32, via make_fixtures.py's line-by-line forward).

Deterministic: fixed seeds, a fixed step count, data order from a seeded generator, 2 threads. Another
torch build or thread count may round differently.
"""

import argparse
import json
import math
import os
import shutil
import sys
import time

# Debian's torch calls the system BLAS; with OpenBLAS (libopenblas0-pthread) keep it to our 2 threads.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "2")
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.abspath(os.path.join(HERE, "..", "..", ".."))
STORIES = os.path.join(REPO, "data", "models", "stories260K")
sys.dont_write_bytecode = True  # no __pycache__ left in the source tree by the import below
sys.path.insert(0, os.path.join(REPO, "packages", "llama", "test"))
from make_fixtures import forward, mask_desc, rows_seen, save_safetensors, load_safetensors, fmt  # noqa: E402

CFG = dict(hidden=256, inter=704, layers=4, heads=8, kv_heads=4, head_dim=32, vocab=512, tied=True, theta=10000.0, eps=1e-5)
SEQ = 256
BATCH = 8
STEPS = 550
LR, MIN_LR, WARMUP, WD = 2e-3, 2e-4, 50, 0.1
HOLDOUT_DOCS = 100  # the last 100 abstracts are not trained on (validation loss)
SEED = 1234


# ---------------------------------------------------------------- tokenizer (tokenizer.json BPE, exact)


class Tokenizer:
    """stories260K's tokenizer.json: prepend '▁', spaces -> '▁', BPE by merge rank, byte fallback.

    No piece has '▁' after its first character, so BPE never merges across a '▁' and each '▁word' can be
    encoded alone (and cached). Gives the same ids as our TypeScript tokenizer on every Cranfield text.
    """

    def __init__(self, path):
        with open(path) as f:
            t = json.load(f)
        self.vocab = t["model"]["vocab"]
        self.ranks = {tuple(m.split(" ")) if isinstance(m, str) else tuple(m): i for i, m in enumerate(t["model"]["merges"])}
        self.cache = {}

    def word(self, w):
        if w in self.cache:
            return self.cache[w]
        parts = list(w)
        while len(parts) > 1:
            best, at = None, -1
            for i in range(len(parts) - 1):
                r = self.ranks.get((parts[i], parts[i + 1]))
                if r is not None and (best is None or r < best):
                    best, at = r, i
            if best is None:
                break
            parts[at : at + 2] = [parts[at] + parts[at + 1]]
        ids = []
        for p in parts:
            if p in self.vocab:
                ids.append(self.vocab[p])
            else:
                ids.extend(self.vocab[f"<0x{b:02X}>"] for b in p.encode("utf-8"))
        self.cache[w] = ids
        return ids

    def encode(self, text):
        if not text:  # the Prepend normalizer leaves an empty string empty (two Cranfield abstracts are)
            return [1]
        s = "▁" + text.replace(" ", "▁")
        words, start = [], 0
        for i in range(1, len(s)):
            if s[i] == "▁":
                words.append(s[start:i])
                start = i
        words.append(s[start:])
        return [1] + [i for w in words for i in self.word(w)]


# ---------------------------------------------------------------- model (HF LlamaForCausalLM, batched)


def init_weights(cfg, seed):
    g = torch.Generator().manual_seed(seed)
    H, I, V, D, L = cfg["hidden"], cfg["inter"], cfg["vocab"], cfg["head_dim"], cfg["layers"]
    q, kv = cfg["heads"] * D, cfg["kv_heads"] * D
    std, out_std = 0.02, 0.02 / math.sqrt(2 * L)  # GPT-2 / llama2.c: residual projections scaled down

    def lin(o, i, s=std):
        return (torch.randn(o, i, generator=g) * s).requires_grad_()

    w = {"model.embed_tokens.weight": lin(V, H)}
    for l in range(L):
        p = f"model.layers.{l}."
        w[p + "input_layernorm.weight"] = torch.ones(H, requires_grad=True)
        w[p + "self_attn.q_proj.weight"] = lin(q, H)
        w[p + "self_attn.k_proj.weight"] = lin(kv, H)
        w[p + "self_attn.v_proj.weight"] = lin(kv, H)
        w[p + "self_attn.o_proj.weight"] = lin(H, q, out_std)
        w[p + "post_attention_layernorm.weight"] = torch.ones(H, requires_grad=True)
        w[p + "mlp.gate_proj.weight"] = lin(I, H)
        w[p + "mlp.up_proj.weight"] = lin(I, H)
        w[p + "mlp.down_proj.weight"] = lin(H, I, out_std)
    w["model.norm.weight"] = torch.ones(H, requires_grad=True)
    return w


def rms(x, w, eps):
    return w * (x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps))


def rotate_half(x):
    a, b = x[..., : x.shape[-1] // 2], x[..., x.shape[-1] // 2 :]
    return torch.cat((-b, a), dim=-1)


def logits_batched(cfg, w, ids):
    """Causal LM logits [B, T, V] for full (unpadded) sequences at positions 0..T-1."""
    B, T = ids.shape
    H, nH, nKv, D = cfg["hidden"], cfg["heads"], cfg["kv_heads"], cfg["head_dim"]
    inv = 1.0 / (cfg["theta"] ** (torch.arange(0, D, 2).float() / D))
    freqs = torch.arange(T).float()[:, None] * inv[None, :]
    emb = torch.cat((freqs, freqs), -1)
    cos, sin = emb.cos(), emb.sin()
    causal = torch.full((T, T), float("-inf")).triu(1)
    h = F.embedding(ids, w["model.embed_tokens.weight"])
    for l in range(cfg["layers"]):
        p = f"model.layers.{l}."
        x = rms(h, w[p + "input_layernorm.weight"], cfg["eps"])
        q = F.linear(x, w[p + "self_attn.q_proj.weight"]).view(B, T, nH, D).transpose(1, 2)
        k = F.linear(x, w[p + "self_attn.k_proj.weight"]).view(B, T, nKv, D).transpose(1, 2)
        v = F.linear(x, w[p + "self_attn.v_proj.weight"]).view(B, T, nKv, D).transpose(1, 2)
        q = q * cos + rotate_half(q) * sin
        k = k * cos + rotate_half(k) * sin
        k = k.repeat_interleave(nH // nKv, dim=1)
        v = v.repeat_interleave(nH // nKv, dim=1)
        a = F.softmax(q @ k.transpose(2, 3) * D**-0.5 + causal, dim=-1)
        h = h + F.linear((a @ v).transpose(1, 2).reshape(B, T, nH * D), w[p + "self_attn.o_proj.weight"])
        x = rms(h, w[p + "post_attention_layernorm.weight"], cfg["eps"])
        g_, u = F.linear(x, w[p + "mlp.gate_proj.weight"]), F.linear(x, w[p + "mlp.up_proj.weight"])
        h = h + F.linear(F.silu(g_) * u, w[p + "mlp.down_proj.weight"])
    return F.linear(rms(h, w["model.norm.weight"], cfg["eps"]), w["model.embed_tokens.weight"])


# ---------------------------------------------------------------- data


def jsonl(path):
    with open(path) as f:
        return [json.loads(l) for l in f if l.strip()]


def token_streams(tok):
    docs = jsonl(os.path.join(REPO, "data", "cranfield", "corpus.jsonl"))
    queries = jsonl(os.path.join(REPO, "data", "cranfield", "queries.jsonl"))
    train_texts = [d["text"] for d in docs[:-HOLDOUT_DOCS]] + [q["text"] for q in queries]
    val_texts = [d["text"] for d in docs[-HOLDOUT_DOCS:]]
    train = torch.tensor([i for t in train_texts for i in tok.encode(t)])
    val = torch.tensor([i for t in val_texts for i in tok.encode(t)])
    return train, val


def windows(stream, starts):
    return torch.stack([stream[s : s + SEQ + 1] for s in starts.tolist()])


def loss_of(w, batch):
    logits = logits_batched(CFG, w, batch[:, :-1])
    return F.cross_entropy(logits.reshape(-1, CFG["vocab"]), batch[:, 1:].reshape(-1))


@torch.no_grad()
def val_loss(w, val):
    starts = torch.arange(0, len(val) - SEQ - 1, SEQ)[:32]
    losses = [loss_of(w, windows(val, starts[i : i + 8])).item() for i in range(0, len(starts), 8)]
    return sum(losses) / len(losses)


def lr_at(step):
    if step < WARMUP:
        return LR * (step + 1) / WARMUP
    t = (step - WARMUP) / max(1, STEPS - WARMUP)
    return MIN_LR + 0.5 * (LR - MIN_LR) * (1 + math.cos(math.pi * t))


# ---------------------------------------------------------------- main


def config_json():
    return {
        "architectures": ["LlamaForCausalLM"],
        "model_type": "llama",
        "attention_bias": False,
        "attention_dropout": 0.0,
        "bos_token_id": 1,
        "eos_token_id": 2,
        "pad_token_id": None,
        "head_dim": CFG["head_dim"],
        "hidden_act": "silu",
        "hidden_size": CFG["hidden"],
        "initializer_range": 0.02,
        "intermediate_size": CFG["inter"],
        "max_position_embeddings": SEQ,
        "mlp_bias": False,
        "num_attention_heads": CFG["heads"],
        "num_hidden_layers": CFG["layers"],
        "num_key_value_heads": CFG["kv_heads"],
        "pretraining_tp": 1,
        "rms_norm_eps": CFG["eps"],
        "rope_scaling": None,
        "rope_theta": CFG["theta"],
        "tie_word_embeddings": True,
        "torch_dtype": "float16",
        "use_cache": True,
        "vocab_size": CFG["vocab"],
    }


def golden(tok, w16):
    """HF-convention float32 forward (make_fixtures.forward) of the saved f16 weights, upcast."""
    w = {k: v.float() for k, v in w16.items()}
    text = "what similarity laws must be obeyed when constructing aeroelastic models of heated high speed aircraft ."
    ids = tok.encode(text)[:24]
    T = len(ids)
    case = dict(name="cranfield-query-1", ids=[ids], positions=[list(range(T))], mask=mask_desc(1, T, [0], [T]))
    hidden = forward(CFG, w, torch.tensor([ids]), torch.tensor(case["positions"]), case["mask"])[0]
    logits = F.linear(hidden, w["model.embed_tokens.weight"])
    # The batched training forward must be the same function (it is what was trained).
    check = logits_batched(CFG, w, torch.tensor([ids]))[0]
    assert torch.allclose(check, logits, atol=1e-4, rtol=1e-4), (check - logits).abs().max()
    return dict(
        name=case["name"],
        ids=ids,
        positions=case["positions"][0],
        mask=case["mask"],
        rows=rows_seen(case["mask"]),
        hidden=fmt(hidden.flatten().tolist(), 7),
        logits_last=fmt(logits[-1].tolist(), 7),
    )


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bench", type=int, default=0, help="time this many steps and exit")
    args = ap.parse_args()
    torch.set_num_threads(2)
    torch.manual_seed(SEED)
    tok = Tokenizer(os.path.join(STORIES, "tokenizer.json"))
    train, val = token_streams(tok)
    print(f"tokens: train {len(train)}, validation {len(val)}", flush=True)
    w = init_weights(CFG, SEED)
    params = list(w.values())
    n_params = sum(p.numel() for k, p in w.items())
    print(f"parameters {n_params}", flush=True)
    decay = [p for p in params if p.dim() == 2]
    no_decay = [p for p in params if p.dim() < 2]
    opt = torch.optim.AdamW(
        [{"params": decay, "weight_decay": WD}, {"params": no_decay, "weight_decay": 0.0}],
        lr=LR,
        betas=(0.9, 0.95),
        eps=1e-8,
    )
    g = torch.Generator().manual_seed(SEED + 1)
    steps = args.bench or STEPS
    log = {"val_loss_init": val_loss(w, val), "train_loss": []}
    print(f"validation loss at init {log['val_loss_init']:.4f} (ln 512 = {math.log(512):.4f})", flush=True)
    t0 = time.time()
    for step in range(steps):
        for group in opt.param_groups:
            group["lr"] = lr_at(step)
        batch = windows(train, torch.randint(0, len(train) - SEQ - 1, (BATCH,), generator=g))
        loss = loss_of(w, batch)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        log["train_loss"].append(round(loss.item(), 5))
        if step % 50 == 0 or step == steps - 1:
            print(f"step {step} loss {loss.item():.4f} lr {lr_at(step):.2e} {time.time() - t0:.0f} s", flush=True)
    elapsed = time.time() - t0
    print(f"{steps} steps in {elapsed:.0f} s ({elapsed / steps:.2f} s/step)", flush=True)
    if args.bench:
        return
    log["val_loss_final"] = val_loss(w, val)
    log.update(steps=STEPS, batch=BATCH, seq=SEQ, seconds=round(elapsed), threads=2, torch=torch.__version__)
    log["parameters"] = n_params
    print(f"validation loss final {log['val_loss_final']:.4f}", flush=True)

    w16 = {k: v.detach().to(torch.float16) for k, v in w.items()}
    save_safetensors(os.path.join(HERE, "model.safetensors"), w16)
    with open(os.path.join(HERE, "config.json"), "w") as f:
        json.dump(config_json(), f, indent=2)
        f.write("\n")
    for name in ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "generation_config.json"):
        shutil.copyfile(os.path.join(STORIES, name), os.path.join(HERE, name))
    with open(os.path.join(HERE, "train-log.json"), "w") as f:
        json.dump(log, f, separators=(",", ":"))
        f.write("\n")
    gold = {
        "about": "Made by data/models/cranfield-h256/make_model.py (HF conventions, float32 on the f16 weights).",
        "case": golden(tok, load_safetensors(os.path.join(HERE, "model.safetensors"))),
    }
    with open(os.path.join(REPO, "packages", "llama", "test", "fixtures", "cranfield-h256-forward.json"), "w") as f:
        json.dump(gold, f, separators=(",", ":"))
        f.write("\n")
    print("written", flush=True)


if __name__ == "__main__":
    main()
