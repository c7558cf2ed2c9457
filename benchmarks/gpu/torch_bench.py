#!/usr/bin/env python3
"""PyTorch twins of the WGSL benchmarks, run in the same session on the same GPU (run-all.sh).

Writes one JSON list of rows {name, shape, dtype, ms, tflops | tokens_per_s, peak_gib}. Random weights;
timings are the median of CUDA-event timed iterations after warm-up. Usage: torch_bench.py --json FILE [--quick]
"""
import argparse
import json
import statistics

import torch


def timed(fn, iters=10, warmup=3):
    for _ in range(warmup):
        fn()
    torch.cuda.synchronize()
    times = []
    for _ in range(iters):
        a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        a.record()
        fn()
        b.record()
        torch.cuda.synchronize()
        times.append(a.elapsed_time(b))
    return statistics.median(times)


def bench_matmul(rows, quick):
    torch.backends.cuda.matmul.allow_tf32 = False
    sizes = [(4096, 4096, 4096)] if quick else [(4096, 4096, 4096), (8192, 8192, 8192), (4096, 11008, 4096), (4096, 4096, 11008)]
    for dtype in (torch.float32, torch.float16):
        for m, n, k in sizes:
            a = torch.randn(m, k, device="cuda", dtype=dtype)
            w = torch.randn(n, k, device="cuda", dtype=dtype)
            ms = timed(lambda: a @ w.T)
            rows.append({"name": "matmul", "shape": f"{m}x{n}x{k}", "dtype": str(dtype).split(".")[-1],
                         "ms": ms, "tflops": 2 * m * n * k / ms / 1e9})


def bench_attention(rows, quick):
    import torch.nn.functional as F
    for dtype in (torch.float32, torch.float16):
        for T in ([512] if quick else [512, 2048]):
            B, H, D = 4, 32, 128
            q, k, v = (torch.randn(B, H, T, D, device="cuda", dtype=dtype) for _ in range(3))
            ms = timed(lambda: F.scaled_dot_product_attention(q, k, v, is_causal=True))
            flops = 4 * B * H * T * T * D / 2  # causal
            rows.append({"name": "attention_fwd_sdpa", "shape": f"B{B}xH{H}xT{T}xD{D}", "dtype": str(dtype).split(".")[-1],
                         "ms": ms, "tflops": flops / ms / 1e9})


def llama7b(dtype, layers=None):
    from transformers import LlamaConfig, LlamaModel
    cfg = LlamaConfig(hidden_size=4096, intermediate_size=11008, num_hidden_layers=layers or 32, num_attention_heads=32,
                      num_key_value_heads=32, vocab_size=32000, rms_norm_eps=1e-5, rope_theta=10000.0)
    cfg._attn_implementation = "sdpa" if dtype != torch.float32 else "eager"
    with torch.device("cuda"):
        model = LlamaModel(cfg).to(dtype)
    return model.eval()


def bench_embed(rows, quick):
    for dtype in (torch.bfloat16, torch.float32):
        model = llama7b(dtype, layers=4 if quick else None)
        for B, T in ([(8, 128)] if quick else [(1, 128), (8, 128), (32, 128), (8, 512), (16, 512)]):
            ids = torch.randint(3, 32000, (B, T), device="cuda")
            torch.cuda.reset_peak_memory_stats()
            with torch.no_grad():
                ms = timed(lambda: model(input_ids=ids).last_hidden_state, iters=5, warmup=2)
            rows.append({"name": "embed_llama7b", "shape": f"B{B}xT{T}", "dtype": str(dtype).split(".")[-1],
                         "layers": model.config.num_hidden_layers, "ms": ms, "tokens_per_s": B * T / ms * 1e3,
                         "peak_gib": torch.cuda.max_memory_allocated() / 2**30})
        del model
        torch.cuda.empty_cache()


def bench_train(rows, quick):
    try:
        from peft import LoraConfig, get_peft_model
    except ImportError:
        get_peft_model = None
    for dtype in (torch.bfloat16, torch.float32):
        model = llama7b(dtype, layers=4 if quick else None)
        model.gradient_checkpointing_enable()
        model.train()
        if get_peft_model is None:
            rows.append({"name": "train_lora_llama7b", "skipped": "peft not installed"})
            return
        model = get_peft_model(model, LoraConfig(r=64, lora_alpha=16, lora_dropout=0.1,
                                                 target_modules=["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]))
        opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-5)
        B, T = (2, 512)
        ids = torch.randint(3, 32000, (B, T), device="cuda")

        def step():
            h = model(input_ids=ids).last_hidden_state
            loss = h.float().pow(2).mean()
            loss.backward()
            opt.step()
            opt.zero_grad()

        torch.cuda.reset_peak_memory_stats()
        ms = timed(step, iters=3, warmup=1)
        rows.append({"name": "train_lora_llama7b", "shape": f"B{B}xT{T}", "dtype": str(dtype).split(".")[-1],
                     "layers": 4 if quick else 32, "ms": ms, "tokens_per_s": B * T / ms * 1e3,
                     "peak_gib": torch.cuda.max_memory_allocated() / 2**30})
        del model, opt
        torch.cuda.empty_cache()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--json", required=True)
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args()
    rows = [{"name": "device", "gpu": torch.cuda.get_device_name(0), "torch": torch.__version__}]
    for fn in (bench_matmul, bench_attention, bench_embed, bench_train):
        try:
            fn(rows, args.quick)
        except Exception as e:  # keep the other benchmarks when one fails
            rows.append({"name": fn.__name__, "error": repr(e)})
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=1)
    print(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
