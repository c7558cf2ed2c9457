#!/usr/bin/env python3
"""PyTorch twin of benchmarks/src/index-search.bench.ts (`benchSearch`): exact inner-product search as
`torch.topk(queries @ corpus.T)` over a 1M x 4096 float16 corpus on CUDA, for the same query batch sizes.

Prints one JSON list of rows {name, shape, dtype, queries, k, shards, ms, queries_per_s, gbps, hbm_fraction,
device}: ms is the median of CUDA-event timed batches after warm-up; gbps = corpus bytes / ms (the corpus
is read once per batch), hbm_fraction = gbps / the GPU's peak memory bandwidth (null when unknown).
Usage: torch_search_bench.py [--smoke] [--json FILE]. --smoke uses a tiny corpus, and the CPU (float32)
when there is no CUDA device.
"""
import argparse
import json

import torch
from torch_bench import timed  # same folder: median ms with CUDA events (perf_counter on the CPU)


def peak_bandwidth_gbps(name):
    """Same table as peakBandwidthGBps in index-search.bench.ts."""
    name = name.upper()
    if "H200" in name:
        return 4800.0
    if "H100" in name:
        if "PCIE" in name:
            return 2000.0
        if "NVL" in name:
            return 3900.0
        return 3350.0
    if "A100" in name:
        return 2039.0 if "80GB" in name else 1555.0
    return None


def bench_search(smoke, k=None, iters=None):
    cuda = torch.cuda.is_available()
    if not cuda and not smoke:
        raise SystemExit("torch_search_bench.py needs a CUDA device outside --smoke mode.")
    device = "cuda" if cuda else "cpu"
    # Half matmuls are CUDA-only in older PyTorch builds: the CPU smoke run uses float32.
    dtype = torch.float16 if cuda else torch.float32
    n, d = (4096, 64) if smoke else (1_000_000, 4096)
    k = k or (10 if smoke else 100)
    iters = iters or (2 if smoke else 5)
    batches = [1, 16] if smoke else [1, 16, 128, 1024]
    name = torch.cuda.get_device_name() if cuda else "cpu"
    peak = peak_bandwidth_gbps(name)
    gen = torch.Generator(device=device).manual_seed(1234)
    corpus = (torch.rand(n, d, device=device, generator=gen) * 2 - 1).to(dtype)
    corpus_bytes = n * d * corpus.element_size()
    rows = []
    for qb in batches:
        q = (torch.rand(qb, d, device=device, generator=gen) * 2 - 1).to(dtype)

        def run():
            # Scores in the storage dtype (f32 accumulation on tensor cores), top-k in f32 like the WGSL path.
            return torch.topk((q @ corpus.T).float(), k, dim=1)

        with torch.no_grad():
            ms = timed(run, iters)
        gbps = corpus_bytes / (ms * 1e6)
        rows.append({
            "name": "index_search_torch",
            "shape": f"{n}x{d}",
            "dtype": "f16" if dtype == torch.float16 else "f32",
            "queries": qb,
            "k": k,
            "shards": 1,
            "ms": ms,
            "queries_per_s": qb / ms * 1e3,
            "gbps": gbps,
            "hbm_fraction": gbps / peak if peak else None,
            "device": name,
        })
    return rows


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--smoke", action="store_true", help="tiny corpus (CPU allowed)")
    ap.add_argument("--json", help="also write the rows to this file")
    ap.add_argument("--k", type=int, default=None)
    args = ap.parse_args()
    rows = bench_search(args.smoke, k=args.k)
    text = json.dumps(rows, indent=2)
    print(text)
    if args.json:
        with open(args.json, "w") as f:
            f.write(text + "\n")


if __name__ == "__main__":
    main()
