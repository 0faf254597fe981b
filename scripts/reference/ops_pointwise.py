#!/usr/bin/env python3
"""Reference numbers for the pointwise ops (PyTorch autograd).

Writes Tests/TrimtabTensorTests/Fixtures/ops_pointwise.json, read by
ElementwiseOpTests, EmbeddingOpTests and ActivationOpTests. Each case holds the op's
inputs, its output `y`, a random projection `R`, and the gradients of L = Σ y ⊙ R with
respect to every differentiable input (`d<name>`), all in float32 (gradients computed in
float64 from the float32 inputs, then rounded).

Ops: add, addBias, mul, scale, embedding (f32 and bf16 table, repeated ids),
concatSequence (batch-1 part broadcast, empty middle part), silu, gelu (erf and tanh),
swiglu. Dropout has no fixture (its mask comes from Trimtab's SplitMix64, not torch's RNG).

Run from the repository root:
    "$(scripts/reference/setup-venv.sh)" scripts/reference/ops_pointwise.py
"""
import json
import pathlib

import torch
import torch.nn.functional as F

OUT = pathlib.Path(__file__).resolve().parents[2] / "Tests/TrimtabTensorTests/Fixtures/ops_pointwise.json"
gen = torch.Generator().manual_seed(20240611)


def randn(*shape, scale=1.0):
    return (torch.randn(*shape, generator=gen, dtype=torch.float32) * scale)


def tensor_json(t):
    t = t.detach().to(torch.float32).contiguous()
    return {"shape": list(t.shape), "data": [float(v) for v in t.reshape(-1).tolist()]}


def case(name, inputs, fn, params=None, extra=None):
    """Evaluates fn on float64 copies of `inputs` (dict name -> (tensor, differentiable))."""
    leaves = {}
    for key, (value, differentiable) in inputs.items():
        leaves[key] = value.to(torch.float64).clone().requires_grad_(differentiable)
    y = fn(**leaves)
    R = torch.rand(y.shape, generator=gen, dtype=torch.float32) * 2 - 1
    if y.requires_grad:
        (y * R.to(torch.float64)).sum().backward()
    tensors = {key: tensor_json(value) for key, (value, _) in inputs.items()}
    tensors["y"] = tensor_json(y)
    tensors["R"] = tensor_json(R)
    for key, leaf in leaves.items():
        if leaf.requires_grad:
            tensors["d" + key] = tensor_json(leaf.grad)
    for key, value in (extra or {}).items():
        tensors[key] = tensor_json(value)
    return {"name": name, "params": params or {}, "tensors": tensors}


def main():
    cases = []

    # Elementwise.
    cases.append(case("add", {"a": (randn(2, 3, 5), True), "b": (randn(2, 3, 5), True)},
                      lambda a, b: a + b))
    cases.append(case("addBias", {"x": (randn(2, 3, 21), True), "bias": (randn(21), True)},
                      lambda x, bias: x + bias))
    cases.append(case("mul", {"a": (randn(4, 19), True), "b": (randn(4, 19), True)},
                      lambda a, b: a * b))
    factor = 0.37
    cases.append(case("scale", {"x": (randn(3, 17), True)}, lambda x: x * factor, params={"factor": factor}))

    # Embedding: ids [2, 5] with repeats (3 three times; 1, 4 and 7 twice); rows 0, 2, 5,
    # 6, 8, 9 of the 11-row table are never used, so their gradient must stay zero.
    ids = torch.tensor([[3, 7, 1, 3, 10], [4, 3, 7, 1, 4]], dtype=torch.int64)
    table = randn(11, 20)
    cases.append(case("embedding", {"table": (table, True)}, lambda table: F.embedding(ids, table),
                      extra={"ids": ids.to(torch.float32)}))
    # A frozen bf16 table: values exactly representable in bf16, output widened to f32.
    table16 = randn(11, 20).to(torch.bfloat16).to(torch.float32)
    cases.append(case("embeddingBF16", {"table": (table16, False)},
                      lambda table: F.embedding(ids, table.to(torch.bfloat16)).to(torch.float64),
                      extra={"ids": ids.to(torch.float32)}))

    # concatSequence: a batch-1 soft prompt [1, 3, C], an empty part [2, 0, C], the
    # sequence [2, 4, C] and a batch-1 suffix [1, 2, C].
    C = 18
    def concat(prompt, empty, seq, suffix):
        B = seq.shape[0]
        return torch.cat([prompt.expand(B, -1, -1), empty, seq, suffix.expand(B, -1, -1)], dim=1)
    cases.append(case("concatSequence",
                      {"prompt": (randn(1, 3, C), True), "empty": (randn(2, 0, C), True),
                       "seq": (randn(2, 4, C), True), "suffix": (randn(1, 2, C), True)}, concat))

    # Activations: wide input ranges (tails of σ, tanh, erf) and lengths that are not
    # multiples of 16 (vector remainder).
    def wide(*shape):
        x = randn(*shape, scale=3.0)
        flat = x.view(-1)
        flat[:8] = torch.tensor([0.0, -0.0, 1e-4, -1e-4, 12.0, -12.0, 30.0, -30.0])
        return x

    cases.append(case("silu", {"x": (wide(3, 37), True)}, lambda x: F.silu(x)))
    cases.append(case("gelu", {"x": (wide(4, 33), True)}, lambda x: F.gelu(x), params={"approximation": "none"}))
    cases.append(case("geluTanh", {"x": (wide(4, 33), True)}, lambda x: F.gelu(x, approximate="tanh"),
                      params={"approximation": "tanh"}))
    cases.append(case("swiglu", {"gate": (wide(2, 3, 19), True), "up": (randn(2, 3, 19), True)},
                      lambda gate, up: F.silu(gate) * up))

    data = {"generator": "scripts/reference/ops_pointwise.py (torch %s)" % torch.__version__, "cases": cases}
    OUT.write_text(json.dumps(data, separators=(",", ":")) + "\n")
    print(f"wrote {OUT} ({OUT.stat().st_size} bytes, {len(cases)} cases)")


if __name__ == "__main__":
    main()
