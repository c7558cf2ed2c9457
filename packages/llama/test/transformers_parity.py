#!/usr/bin/env python3
"""Final hidden states from Hugging Face transformers for the tiny fixtures and stories260K, so the GPU
forward can be compared with the library users actually run (`device-main parity`, benchmarks/gpu/run-all.sh).

For each model folder under packages/llama/test/fixtures (tiny-mha, tiny-gqa, tiny-gqa-f16, tiny-gqa-bf16)
and data/models/stories260K, loads it with `LlamaForCausalLM.from_pretrained` in float32 with eager
attention (16-bit checkpoints are upcast, as our loader reads them), runs the cases that
packages/llama/test/fixtures/forward.json stores for it (tiny-gqa-f16 reuses tiny-gqa's: same ids and
vocabulary) with their ids, position ids and mask (passed as a 4D additive float mask, so LLaRA's block
rule and padding are exactly those of the mask description), and writes OUT/<model>.json:

  {"reference": "...", "model": "tiny-gqa", "folder": "packages/llama/test/fixtures/tiny-gqa",
   "cases": [{"name", "ids", "positions", "mask", "rows", "hidden", "adapter",
              "golden_max_abs_diff", "golden_of", "hidden_states_last_is_normed"}]}

`hidden` are the final post-norm hidden states (`LlamaModel(...).last_hidden_state`, the normed last entry
of `output_hidden_states`) at `rows` (the slots that see at least one key), flattened row-major.
`golden_max_abs_diff` compares them with the plain-torch golden in forward.json (make_fixtures.py) of model
`golden_of`: it shows that golden still matches transformers (for tiny-gqa-f16 the golden is of the f32
weights, so it differs by the weights' rounding). The LoRA case of stories260K applies the PEFT adapter of
data/goldens/llara-flag-stories260K/adapter as PEFT computes it, `base(x) + lora_B(lora_A(x)) * alpha / r`,
through forward hooks (no peft package needed).

Usage: python3 packages/llama/test/transformers_parity.py --out DIR [--reference transformers|plain]
`--reference plain` runs make_fixtures.py's plain-torch forward instead of transformers (for machines
without transformers, e.g. to test the pipeline); the files then say so in "reference".
"""

import argparse
import json
import os
import sys
import traceback

import torch
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.abspath(os.path.join(HERE, "..", "..", ".."))
FIXTURES = os.path.join(HERE, "fixtures")
sys.path.insert(0, HERE)
sys.dont_write_bytecode = True  # no __pycache__ beside the fixtures
import make_fixtures  # noqa: E402  (safetensors reader, mask rule and the plain-torch forward)

STORIES = os.path.join(REPO, "data", "models", "stories260K")
ADAPTERS = {("stories260K", "stories-10-lora"): os.path.join(REPO, "data", "goldens", "llara-flag-stories260K", "adapter")}


def rel(path):
    return os.path.relpath(path, REPO)


def model_folders():
    """(name, folder, forward.json key) for every fixture folder plus stories260K."""
    out = []
    for name in sorted(os.listdir(FIXTURES)):
        folder = os.path.join(FIXTURES, name)
        if os.path.isfile(os.path.join(folder, "config.json")):
            out.append((name, folder))
    out.append(("stories260K", STORIES))
    return out


def cases_for(forward, name):
    """(cases, name of the model whose golden they carry) or (None, None)."""
    models = forward["models"]
    if name in models:
        return models[name], name
    for suffix in ("-f16", "-bf16"):
        if name.endswith(suffix) and name[: -len(suffix)] in models:
            return models[name[: -len(suffix)]], name[: -len(suffix)]
    return None, None


def additive_mask(mask, dtype=torch.float32):
    B, T = mask["batch"], mask["seqLen"]
    allow = torch.tensor(
        [[[make_fixtures.allowed(mask, b, i, j) for j in range(T)] for i in range(T)] for b in range(B)]
    )
    out = torch.zeros(B, 1, T, T, dtype=dtype)
    out[~allow[:, None]] = torch.finfo(dtype).min
    return out


def read_adapter(folder):
    with open(os.path.join(folder, "adapter_config.json")) as f:
        config = json.load(f)
    tensors = make_fixtures.load_safetensors(os.path.join(folder, "adapter_model.safetensors"))
    scaling = config["lora_alpha"] / (config["r"] ** 0.5 if config.get("use_rslora") else config["r"])
    return {k: v.float() for k, v in tensors.items()}, scaling


class TransformersRunner:
    def __init__(self, folder):
        import transformers
        from transformers import LlamaForCausalLM

        kwargs = dict(attn_implementation="eager")
        try:
            self.model = LlamaForCausalLM.from_pretrained(folder, dtype=torch.float32, **kwargs)
        except TypeError:  # transformers 4.x spells it torch_dtype
            self.model = LlamaForCausalLM.from_pretrained(folder, torch_dtype=torch.float32, **kwargs)
        self.model.eval()
        self.describe = f"transformers {transformers.__version__}, torch {torch.__version__}, float32, eager attention, CPU"

    def hidden(self, ids, positions, mask, adapter):
        hooks = []
        if adapter is not None:
            tensors, scaling = adapter
            modules = dict(self.model.named_modules())
            for key, a in tensors.items():
                if not key.endswith(".lora_A.weight"):
                    continue
                b = tensors[key.replace(".lora_A.", ".lora_B.")]
                path = key[len("base_model.model.") : -len(".lora_A.weight")]

                def hook(_module, inputs, output, a=a, b=b):
                    return output + F.linear(F.linear(inputs[0], a), b) * scaling

                hooks.append(modules[path].register_forward_hook(hook))
        try:
            with torch.no_grad():
                out = self.model.model(
                    input_ids=ids, position_ids=positions, attention_mask=additive_mask(mask), output_hidden_states=True,
                    use_cache=False,
                )
        finally:
            for h in hooks:
                h.remove()
        last = out.last_hidden_state
        normed = out.hidden_states is not None and torch.equal(out.hidden_states[-1], last)
        return last, normed


class PlainRunner:
    """make_fixtures.py's plain-torch transcription of LlamaForCausalLM (no transformers needed)."""

    def __init__(self, folder):
        with open(os.path.join(folder, "config.json")) as f:
            c = json.load(f)
        rope = c.get("rope_parameters") or {}
        self.cfg = dict(
            hidden=c["hidden_size"], layers=c["num_hidden_layers"], heads=c["num_attention_heads"],
            kv_heads=c.get("num_key_value_heads", c["num_attention_heads"]),
            head_dim=c.get("head_dim") or c["hidden_size"] // c["num_attention_heads"],
            theta=c.get("rope_theta", rope.get("rope_theta", 10000.0)), eps=c["rms_norm_eps"],
        )
        self.w = {k: v.float() for k, v in make_fixtures.load_safetensors(os.path.join(folder, "model.safetensors")).items()}
        self.describe = f"plain torch (make_fixtures.py, no transformers), torch {torch.__version__}, float32, CPU"

    def hidden(self, ids, positions, mask, adapter):
        lora = None if adapter is None else dict(tensors=adapter[0], scaling=adapter[1])
        return make_fixtures.forward(self.cfg, self.w, ids, positions, mask, lora), True


def run_model(name, folder, cases, golden_of, reference):
    runner = TransformersRunner(folder) if reference == "transformers" else PlainRunner(folder)
    out_cases = []
    for case in cases:
        mask = case["mask"]
        B, T = mask["batch"], mask["seqLen"]
        ids = torch.tensor(case["ids"]).reshape(B, T)
        positions = torch.tensor(case["positions"]).reshape(B, T)
        adapter_dir = ADAPTERS.get((name, case["name"]))
        adapter = read_adapter(adapter_dir) if adapter_dir else None
        hidden, normed = runner.hidden(ids, positions, mask, adapter)
        H = hidden.shape[-1]
        rows = hidden.reshape(-1, H)[torch.tensor(case["rows"])]
        golden = torch.tensor(case["hidden"]).reshape(-1, H)
        out_cases.append(
            dict(
                name=case["name"],
                ids=case["ids"],
                positions=case["positions"],
                mask=mask,
                rows=case["rows"],
                hidden=rows.flatten().tolist(),
                adapter=rel(adapter_dir) if adapter_dir else None,
                golden_max_abs_diff=float((rows - golden).abs().max()),
                golden_of=golden_of,
                hidden_states_last_is_normed=bool(normed),
            )
        )
        print(f"{name} {case['name']}: {len(case['rows'])} rows, max |reference - forward.json {golden_of}| = "
              f"{out_cases[-1]['golden_max_abs_diff']:.3e}")
    return dict(reference=runner.describe, model=name, folder=rel(folder), cases=out_cases)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", required=True, help="folder for <model>.json files")
    ap.add_argument("--reference", choices=["transformers", "plain"], default="transformers")
    args = ap.parse_args()
    torch.set_num_threads(min(8, os.cpu_count() or 1))
    with open(os.path.join(FIXTURES, "forward.json")) as f:
        forward = json.load(f)
    if args.reference == "transformers":
        try:
            import transformers  # noqa: F401
        except ImportError:
            sys.exit("transformers is not installed here; install it or run with --reference plain.")
    os.makedirs(args.out, exist_ok=True)
    failed = 0
    for name, folder in model_folders():
        cases, golden_of = cases_for(forward, name)
        if not cases:
            print(f"{name}: no cases in forward.json, skipped")
            continue
        try:
            result = run_model(name, folder, cases, golden_of, args.reference)
        except Exception:  # one broken model must not hide the others
            failed += 1
            print(f"{name}: FAILED\n{traceback.format_exc()}", file=sys.stderr)
            continue
        with open(os.path.join(args.out, f"{name}.json"), "w") as f:
            json.dump(result, f)
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
