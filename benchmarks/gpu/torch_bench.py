#!/usr/bin/env python3
"""PyTorch twins of the WGSL benchmarks, measured on the same GPU in the same run (run-all.sh).

Reads the plan that `device-main plan --json PLAN` writes (one spec per measurement: a key, an op and its
arguments, derived from the same shapes as the WGSL rows, so keys match by construction) and writes
{"meta": {...}, "rows": [...], "failures": [...]} to --json after every measurement. Row fields: key, op,
dtype, ms (median), gflops or gbps (the same FLOP / byte counts as the WGSL rows), tokens_per_s and
peak_gib for end-to-end rows, impl (how it was computed).

Kernels: CUDA-event timing, median of 5 after 2 warm-ups; fp32 matmuls with TF32 off (the WGSL f32
kernels do true f32), fp16 on tensor cores. End to end (wall clock around a call that ends with a
readback, like the WGSL side): transformers LlamaModel with random weights, bf16 with SDPA and fp32
with eager attention; training adds PEFT LoRA (or equivalent hooks when peft is missing), non-reentrant
gradient checkpointing, a bag-of-words + next-token loss on the LM head, clipping and AdamW.

Usage: torch_bench.py --plan PLAN --json OUT [--suite kernels,model]. Without CUDA it runs on the CPU
(fp32 only): for checking the script on a CPU machine, not for timings.
"""
import argparse
import datetime
import gc
import json
import math
import statistics
import sys
import time

import torch
import torch.nn.functional as F

KERNEL_OPS = {"matmul", "attention_forward", "attention_backward", "rmsnorm", "rmsnorm_backward", "rope", "swiglu",
              "swiglu_backward", "cross_entropy", "bow_loss", "adamw"}
MODEL_OPS = {"embed", "train_lora"}
DTYPES = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}
DEV = "cuda" if torch.cuda.is_available() else "cpu"


def sync():
    if DEV == "cuda":
        torch.cuda.synchronize()


def timed(fn, iters=5, warmup=2):
    """Median milliseconds of fn() (CUDA events on a GPU, perf_counter on the CPU)."""
    for _ in range(warmup):
        fn()
    sync()
    times = []
    for _ in range(iters):
        if DEV == "cuda":
            a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            a.record()
            fn()
            b.record()
            torch.cuda.synchronize()
            times.append(a.elapsed_time(b))
        else:
            t0 = time.perf_counter()
            fn()
            times.append((time.perf_counter() - t0) * 1e3)
    return statistics.median(times)


def timed_wall(fn, target_ms=20_000, max_iters=3):
    """Wall-clock median of an end-to-end call: one warm-up, then as many as fit in target_ms (1..max_iters)."""
    t0 = time.perf_counter()
    fn()
    sync()
    warm = (time.perf_counter() - t0) * 1e3
    iters = max(1, min(max_iters, int(target_ms // max(warm, 1e-3))))
    times = []
    for _ in range(iters):
        sync()
        t0 = time.perf_counter()
        fn()
        sync()
        times.append((time.perf_counter() - t0) * 1e3)
    return statistics.median(times)


def rand(*shape, dtype=torch.float32, requires_grad=False, lo=-1.0, hi=1.0):
    t = torch.rand(*shape, device=DEV, dtype=torch.float32) * (hi - lo) + lo
    return t.to(dtype).requires_grad_(requires_grad)


def causal_pairs(T):
    return T * (T + 1) / 2


# ---------------------------------------------------------------- kernels


def op_matmul(s, dt):
    M, N, K, layout = s["M"], s["N"], s["K"], s["layout"]
    if layout == "nt":
        a, w = rand(M, K, dtype=dt), rand(N, K, dtype=dt)
        fn = lambda: a @ w.T  # noqa: E731
    elif layout == "nn":
        a, w = rand(M, K, dtype=dt), rand(K, N, dtype=dt)
        fn = lambda: a @ w  # noqa: E731
    else:  # tn: A stored [K, M]
        a, b = rand(K, M, dtype=dt), rand(K, N, dtype=dt)
        fn = lambda: a.T @ b  # noqa: E731
    ms = timed(fn)
    return dict(ms=ms, gflops=2 * M * N * K / ms / 1e6, impl="torch.matmul" + (" (TF32 off)" if dt == torch.float32 else ""))


def attention_inputs(s, dt, requires_grad=False):
    B, H, KV, T, D = s["B"], s["H"], s["KV"], s["T"], s["D"]
    if KV != H:
        raise ValueError("GQA specs are not planned for the kernel benchmark")
    return [rand(B, H, T, D, dtype=dt, requires_grad=requires_grad, lo=-1.5, hi=1.5) for _ in range(3)]


def op_attention_forward(s, dt):
    q, k, v = attention_inputs(s, dt)
    with torch.no_grad():
        ms = timed(lambda: F.scaled_dot_product_attention(q, k, v, is_causal=True))
    flops = 4 * s["B"] * s["H"] * s["D"] * causal_pairs(s["T"])
    return dict(ms=ms, gflops=flops / ms / 1e6, impl="F.scaled_dot_product_attention(is_causal=True)")


def op_attention_backward(s, dt):
    q, k, v = attention_inputs(s, dt, requires_grad=True)
    out = F.scaled_dot_product_attention(q, k, v, is_causal=True)
    d_out = torch.rand_like(out)
    ms = timed(lambda: torch.autograd.grad(out, (q, k, v), d_out, retain_graph=True))
    flops = 2.5 * 4 * s["B"] * s["H"] * s["D"] * causal_pairs(s["T"])
    return dict(ms=ms, gflops=flops / ms / 1e6, impl="SDPA backward (autograd.grad)")


def rms_norm(x, w, eps=1e-5):
    if hasattr(F, "rms_norm"):
        return F.rms_norm(x, (x.shape[-1],), w, eps)
    return w * (x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps))


def op_rmsnorm(s, dt):
    T, D = s["T"], s["D"]
    x, w = rand(T, D), torch.ones(D, device=DEV)
    with torch.no_grad():
        ms = timed(lambda: rms_norm(x, w))
    return dict(ms=ms, gbps=(2 * T * D * 4 + D * 4) / ms / 1e6, impl="F.rms_norm" if hasattr(F, "rms_norm") else "eager")


def op_rmsnorm_backward(s, dt):
    T, D = s["T"], s["D"]
    x, w = rand(T, D, requires_grad=True), torch.ones(D, device=DEV)
    y = rms_norm(x, w)
    dy = torch.rand_like(y)
    ms = timed(lambda: torch.autograd.grad(y, x, dy, retain_graph=True))
    return dict(ms=ms, gbps=(3 * T * D * 4 + D * 4) / ms / 1e6, impl="autograd of F.rms_norm")


def op_rope(s, dt):
    T, H, D = s["T"], s["H"], s["D"]
    x = rand(T, H, D)
    inv = 1.0 / (10000.0 ** (torch.arange(0, D, 2, device=DEV).float() / D))
    freqs = torch.outer(torch.arange(T, device=DEV).float(), inv)
    emb = torch.cat((freqs, freqs), dim=-1)
    cos, sin = emb.cos()[:, None, :], emb.sin()[:, None, :]

    def rotate_half(t):
        return torch.cat((-t[..., D // 2 :], t[..., : D // 2]), dim=-1)

    with torch.no_grad():
        ms = timed(lambda: x * cos + rotate_half(x) * sin)
    return dict(ms=ms, gbps=(2 * T * H * D * 4 + T * 4) / ms / 1e6, impl="HF apply_rotary_pos_emb (eager)")


def op_swiglu(s, dt):
    n = s["T"] * s["I"]
    g, u = rand(n), rand(n)
    with torch.no_grad():
        ms = timed(lambda: F.silu(g) * u)
    return dict(ms=ms, gbps=3 * n * 4 / ms / 1e6, impl="F.silu(gate) * up (eager)")


def op_swiglu_backward(s, dt):
    n = s["T"] * s["I"]
    g, u = rand(n, requires_grad=True), rand(n, requires_grad=True)
    y = F.silu(g) * u
    dy = torch.rand_like(y)
    ms = timed(lambda: torch.autograd.grad(y, (g, u), dy, retain_graph=True))
    return dict(ms=ms, gbps=5 * n * 4 / ms / 1e6, impl="autograd of F.silu(gate) * up")


def op_cross_entropy(s, dt):
    R, V = s["R"], s["V"]
    logits = rand(R, V, requires_grad=True, lo=-4, hi=4)
    labels = torch.randint(3, V, (R,), device=DEV)

    def step():
        loss = F.cross_entropy(logits, labels, reduction="sum") / R
        return torch.autograd.grad(loss, logits)

    ms = timed(step)
    return dict(ms=ms, gbps=(2 * R * V * 4 + 2 * R * 4) / ms / 1e6, impl="F.cross_entropy forward + backward")


def op_bow_loss(s, dt):
    G, P, V, n = s["G"], s["P"], s["V"], s["targets"]
    logits = rand(G * P, V, requires_grad=True, lo=-4, hi=4)
    targets = torch.randint(3, V, (G, n), device=DEV)

    def step():
        pooled = logits.view(G, P, V).max(dim=1).values
        logp = F.log_softmax(pooled, dim=-1)
        loss = -(logp.gather(1, targets).mean(dim=1)).sum() / (10 * G)
        return torch.autograd.grad(loss, logits)

    ms = timed(step)
    return dict(ms=ms, gbps=2 * G * P * V * 4 / ms / 1e6, impl="max-pool + log_softmax + gather, forward + backward")


def op_adamw(s, dt):
    N = s["N"]
    p = torch.nn.Parameter(rand(N))
    p.grad = rand(N, lo=-1e-3, hi=1e-3)
    fused = DEV == "cuda"
    opt = torch.optim.AdamW([p], lr=1e-4, weight_decay=0.0, fused=fused) if fused else torch.optim.AdamW([p], lr=1e-4)
    ms = timed(opt.step)
    return dict(ms=ms, gbps=7 * N * 4 / ms / 1e6, impl="torch.optim.AdamW" + (" (fused)" if fused else ""))


# ---------------------------------------------------------------- end to end


def llama(s, dt, attn):
    from transformers import LlamaConfig, LlamaModel

    cfg = LlamaConfig(
        hidden_size=s["hidden"], intermediate_size=s["intermediate"], num_hidden_layers=s["layers"],
        num_attention_heads=s["heads"], num_key_value_heads=s["kv_heads"], head_dim=s["head_dim"],
        vocab_size=s["vocab"], rms_norm_eps=1e-5, rope_theta=10000.0, max_position_embeddings=4096, use_cache=False,
    )
    cfg._attn_implementation = attn
    if hasattr(torch.device(DEV), "__enter__"):  # torch >= 2.0: build the weights on the GPU directly
        with torch.device(DEV):
            model = LlamaModel(cfg)
    else:
        model = LlamaModel(cfg).to(DEV)
    return model.to(dt)


class ModelCache:
    """One random model at a time (a 7B model is 13-27 GB): reused by consecutive embed specs."""

    def __init__(self):
        self.key, self.model = None, None

    def get(self, s, dt, attn):
        key = (s["hidden"], s["intermediate"], s["layers"], s["heads"], s["kv_heads"], s["vocab"], dt, attn)
        if key != self.key:
            self.drop()
            self.model, self.key = llama(s, dt, attn).eval(), key
        return self.model

    def drop(self):
        self.model, self.key = None, None
        gc.collect()
        if DEV == "cuda":
            torch.cuda.empty_cache()


CACHE = ModelCache()


def attn_impl(dt):
    return "sdpa" if dt != torch.float32 else "eager"


def peak_gib():
    return torch.cuda.max_memory_allocated() / 2**30 if DEV == "cuda" else None


def reset_peak():
    if DEV == "cuda":
        torch.cuda.reset_peak_memory_stats()


def op_embed(s, dt):
    model = CACHE.get(s, dt, attn_impl(dt))
    B, T = s["B"], s["T"]
    ids = torch.randint(3, s["vocab"], (B, T), device=DEV)

    def run():
        with torch.no_grad():
            h = model(input_ids=ids).last_hidden_state
            e = F.normalize(h[:, -8:].float().mean(dim=1), dim=-1)
        return e.cpu()

    reset_peak()
    ms = timed_wall(run)
    flops = 2 * (s["layers"] * layer_params(s)) * B * T + s["layers"] * 4 * B * s["heads"] * s["head_dim"] * causal_pairs(T)
    return dict(ms=ms, tokens_per_s=B * T / ms * 1e3, gflops=flops / ms / 1e6, peak_gib=peak_gib(),
                impl=f"transformers LlamaModel ({attn_impl(dt)} attention), mean of last 8 rows, L2 norm, readback")


def layer_params(s):
    h, q, kv, i = s["hidden"], s["heads"] * s["head_dim"], s["kv_heads"] * s["head_dim"], s["intermediate"]
    return 2 * h * q + 2 * h * kv + 3 * h * i + 2 * h


TARGETS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]


def add_lora(model, r, alpha, dropout):
    """PEFT LoRA on all 7 projections, or the same computation with hooks when peft is missing."""
    try:
        from peft import LoraConfig, get_peft_model

        return get_peft_model(model, LoraConfig(r=r, lora_alpha=alpha, lora_dropout=dropout, target_modules=TARGETS)), "peft"
    except ImportError:
        pass
    for p in model.parameters():
        p.requires_grad_(False)
    scale = alpha / r
    for name, mod in list(model.named_modules()):
        if name.split(".")[-1] not in TARGETS:
            continue
        a = torch.nn.Parameter(torch.empty(r, mod.in_features, device=DEV).uniform_(-1, 1) / math.sqrt(mod.in_features))
        b = torch.nn.Parameter(torch.zeros(mod.out_features, r, device=DEV))
        mod.register_parameter("lora_A", a)
        mod.register_parameter("lora_B", b)

        def hook(m, inputs, output):
            x = F.dropout(inputs[0].float(), dropout, m.training)
            return output + (F.linear(F.linear(x, m.lora_A), m.lora_B) * scale).to(output.dtype)

        mod.register_forward_hook(hook)
    return model, "forward hooks (peft not installed)"


def op_train_lora(s, dt):
    CACHE.drop()
    B, T, V = s["B"], s["T"], s["vocab"]
    base = llama(s, dt, attn_impl(dt))
    base.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    model, how = add_lora(base, s["r"], s["alpha"], s["dropout"])
    model.train()
    lm_head = torch.nn.Linear(s["hidden"], V, bias=False, device=DEV, dtype=dt).requires_grad_(False)
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=1e-5, weight_decay=0.0)
    ids = torch.randint(3, V, (B, T), device=DEV)
    n_suffix = 37  # flag: 19 EBAE + 18 EBAR suffix tokens after the text
    text = slice(1, T - n_suffix - 1)
    ar_labels = ids[:, 2 : T - n_suffix]
    bow_targets = torch.randint(3, V, (2 * B, 64), device=DEV)

    def step():
        h = model(input_ids=ids).last_hidden_state
        special = torch.cat([h[:, -26:-18], h[:, -8:]], dim=0)  # the 8 EBAE and 8 EBAR read-out rows
        pooled = lm_head(special).float().max(dim=1).values
        bow = -(F.log_softmax(pooled, -1).gather(1, bow_targets).mean(1)).mean() / 10
        ar = F.cross_entropy(lm_head(h[:, text]).float().reshape(-1, V), ar_labels.reshape(-1))
        loss = ar + bow
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)
        return loss.item()

    reset_peak()
    ms = timed_wall(step)
    flops = 3 * (2 * s["layers"] * layer_params(s) * B * T + s["layers"] * 4 * B * s["heads"] * s["head_dim"] * causal_pairs(T))
    result = dict(ms=ms, tokens_per_s=B * T / ms * 1e3, gflops=flops / ms / 1e6, peak_gib=peak_gib(),
                  impl=f"LoRA r={s['r']} via {how}, gradient checkpointing, bow + AR loss, clip, AdamW ({attn_impl(dt)} attention)")
    del model, base, lm_head, opt, params
    CACHE.drop()
    return result


OPS = {name[3:]: fn for name, fn in globals().items() if name.startswith("op_")}


def versions():
    out = {"torch": torch.__version__}
    for mod in ("transformers", "peft"):
        try:
            out[mod] = __import__(mod).__version__
        except ImportError:
            out[mod] = "not installed"
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--plan", required=True, help="JSON list of specs from `device-main plan`")
    ap.add_argument("--json", required=True, help="output file (rewritten after every measurement)")
    ap.add_argument("--suite", default="kernels,model", help="comma list: kernels, model")
    args = ap.parse_args()
    with open(args.plan) as f:
        plan = json.load(f)
    wanted = set()
    for suite in args.suite.split(","):
        wanted |= {"kernels": KERNEL_OPS, "model": MODEL_OPS}.get(suite.strip(), set())
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    meta = dict(date=datetime.datetime.now(datetime.timezone.utc).isoformat(), device=DEV,
                gpu=torch.cuda.get_device_name(0) if DEV == "cuda" else "cpu (no CUDA: not a timing run)",
                command=" ".join(sys.argv), **versions())
    result = dict(meta=meta, rows=[], failures=[])
    for spec in plan:
        if spec["op"] not in wanted:
            continue
        key, dtype = spec["key"], spec["dtype"]
        try:
            if DEV == "cpu" and dtype != "fp32":
                raise RuntimeError(f"skipped: {dtype} needs CUDA")
            row = OPS[spec["op"]](spec, DTYPES[dtype])
            result["rows"].append(dict(key=key, op=spec["op"], dtype=dtype, **row))
            print(f"{key}: {row['ms']:.3f} ms", flush=True)
        except Exception as e:  # one failure must not stop the others
            msg = str(e).strip().splitlines()[0][:300] if str(e).strip() else type(e).__name__
            if "out of memory" in msg.lower():
                msg = f"CUDA out of memory: {msg}"
            result["failures"].append(dict(key=key, error=msg))
            print(f"{key}: {msg}", flush=True)
        finally:
            if DEV == "cuda" and spec["op"] in KERNEL_OPS:
                torch.cuda.empty_cache()
        with open(args.json, "w") as f:
            json.dump(result, f, indent=1)
    CACHE.drop()
    with open(args.json, "w") as f:
        json.dump(result, f, indent=1)


if __name__ == "__main__":
    main()
