"""Writes adamw-golden.json: three torch.optim.AdamW steps on a small fixed vector.

Run from this folder with `/usr/bin/python3 adamw-golden.py` (PyTorch only). The test replays the same
gradients through the GPU kernel and compares params, exp_avg and exp_avg_sq after every step.
"""
import json
import math

import torch

N = 9
P0 = [0.5, -1.25, 2.0, 0.0, 3.5e-3, -7.0, 1e-4, 0.75, -0.3]


def grad(step, i):
    # Fixed, sign-varying values of several magnitudes, including a zero gradient.
    if i == 3:
        return 0.0
    return math.sin(1.7 * i + 0.9 * step) * (10.0 ** ((i % 4) - 2))


def run(weight_decay, lr, betas, eps):
    p = torch.nn.Parameter(torch.tensor(P0, dtype=torch.float32))
    opt = torch.optim.AdamW([p], lr=lr, betas=betas, eps=eps, weight_decay=weight_decay, foreach=False)
    steps = []
    for step in range(1, 4):
        g = torch.tensor([grad(step, i) for i in range(N)], dtype=torch.float32)
        p.grad = g.clone()
        opt.step()
        st = opt.state[p]
        steps.append(
            {
                "grad": g.tolist(),
                "param": p.detach().tolist(),
                "exp_avg": st["exp_avg"].tolist(),
                "exp_avg_sq": st["exp_avg_sq"].tolist(),
            }
        )
    return {
        "lr": lr,
        "beta1": betas[0],
        "beta2": betas[1],
        "eps": eps,
        "weightDecay": weight_decay,
        "param0": P0,
        "steps": steps,
    }


cases = [run(0.1, 1e-2, (0.9, 0.999), 1e-8), run(0.0, 3e-3, (0.8, 0.95), 1e-6)]
with open("adamw-golden.json", "w") as f:
    json.dump({"torch": torch.__version__, "cases": cases}, f, indent=1)
    f.write("\n")
