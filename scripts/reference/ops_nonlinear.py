#!/usr/bin/env python3
"""Reference numbers for relu, tanh and sigmoid (PyTorch autograd).

Writes Tests/TrimtabTensorTests/Fixtures/ops_nonlinear.json, read by NonlinearOpTests.
Each case holds the input `x`, the output `y`, a random projection `R`, and `dx`, the
gradient of L = Σ y ⊙ R (computed in float64 from the float32 inputs, then rounded).
Inputs cover the tails (±12, ±30), signed zeros and lengths that are not multiples of 16.

Run from the repository root:
    "$(scripts/reference/setup-venv.sh)" scripts/reference/ops_nonlinear.py
"""
import json
import pathlib

import torch

OUT = pathlib.Path(__file__).resolve().parents[2] / "Tests/TrimtabTensorTests/Fixtures/ops_nonlinear.json"
gen = torch.Generator().manual_seed(20240612)


def tensor_json(t):
    t = t.detach().to(torch.float32).contiguous()
    return {"shape": list(t.shape), "data": [float(v) for v in t.reshape(-1).tolist()]}


def wide(*shape):
    x = torch.randn(*shape, generator=gen, dtype=torch.float32) * 3.0
    flat = x.view(-1)
    flat[:8] = torch.tensor([0.0, -0.0, 1e-4, -1e-4, 12.0, -12.0, 30.0, -30.0])
    return x


def case(name, x, fn):
    leaf = x.to(torch.float64).clone().requires_grad_(True)
    y = fn(leaf)
    R = torch.rand(y.shape, generator=gen, dtype=torch.float32) * 2 - 1
    (y * R.to(torch.float64)).sum().backward()
    return {"name": name, "params": {},
            "tensors": {"x": tensor_json(x), "y": tensor_json(y), "R": tensor_json(R), "dx": tensor_json(leaf.grad)}}


def main():
    cases = [
        case("relu", wide(3, 37), torch.relu),
        case("tanh", wide(4, 33), torch.tanh),
        case("sigmoid", wide(2, 3, 19), torch.sigmoid),
    ]
    data = {"generator": "scripts/reference/ops_nonlinear.py (torch %s)" % torch.__version__, "cases": cases}
    OUT.write_text(json.dumps(data, separators=(",", ":")) + "\n")
    print(f"wrote {OUT} ({OUT.stat().st_size} bytes, {len(cases)} cases)")


if __name__ == "__main__":
    main()
