"""Reference values for the normalisation and loss ops (RMSNorm, LayerNorm, softmax,
softmax cross-entropy) from PyTorch.

Writes Tests/TrimtabTensorTests/Fixtures/ops_norm.json, read by NormOpTests and
LossOpTests. Inputs are drawn in float32; the references are computed in float64 from
those exact float32 values, so they are the truth the Swift f32 kernels are held to.
For the ops with a tensor output y, gradients are those of L = Σ y ⊙ R for the stored
random projection R (the same scalar the Swift tests seed backward with); for
cross-entropy they are those of the mean loss itself.

Run:  "$(scripts/reference/setup-venv.sh)" scripts/reference/ops_norm.py
"""

import json
import pathlib

import torch
import torch.nn.functional as F

ROOT = pathlib.Path(__file__).resolve().parents[2]
OUT = ROOT / "Tests/TrimtabTensorTests/Fixtures/ops_norm.json"

gen = torch.Generator().manual_seed(20240607)


def randn(*shape, scale=1.0, shift=0.0):
    """float32 normal samples, returned as float64 holding the same values."""
    x = torch.randn(*shape, generator=gen, dtype=torch.float32) * scale + shift
    return x.to(torch.float32).double()


def tensor(t):
    values = t.detach().to(torch.float32).reshape(-1).tolist()
    return {"shape": list(t.shape), "data": [float(f"{v:.9g}") for v in values]}


def with_grad(*tensors):
    return [t.clone().requires_grad_(True) for t in tensors]


cases = []

# RMSNorm: y = x / sqrt(mean(x²) + eps) · (w + offset)
for name, shape, eps, offset, wscale in [
    ("rms_norm", (2, 3, 16), 1e-6, 0.0, 1.0),
    ("rms_norm_gemma", (4, 12), 1e-6, 1.0, 0.1),   # Gemma stores weight − 1
    ("rms_norm_one_row", (1, 5), 1e-5, 0.0, 1.0),
]:
    x0, w0 = randn(*shape), randn(shape[-1], scale=wscale, shift=0.0 if offset else 1.0)
    r = randn(*shape)
    x, w = with_grad(x0, w0)
    y = F.rms_norm(x, (shape[-1],), weight=w + offset, eps=eps)
    (y * r).sum().backward()
    cases.append({"name": name, "params": {"eps": eps, "weightOffset": offset},
                  "tensors": {"x": tensor(x0), "weight": tensor(w0), "R": tensor(r), "y": tensor(y),
                              "dx": tensor(x.grad), "dweight": tensor(w.grad)}})

# LayerNorm: y = (x − mean) / sqrt(var + eps) · w + b (biased variance)
for name, shape, eps, has_bias, shift in [
    ("layer_norm", (5, 24), 1e-5, True, 3.0),   # rows offset from zero: checks centring
    ("layer_norm_no_bias", (2, 2, 8), 1e-12, False, 0.0),
]:
    x0, w0, b0 = randn(*shape, shift=shift), randn(shape[-1], scale=0.5, shift=1.0), randn(shape[-1], scale=0.5)
    r = randn(*shape)
    x, w, b = with_grad(x0, w0, b0)
    y = F.layer_norm(x, (shape[-1],), weight=w, bias=b if has_bias else None, eps=eps)
    (y * r).sum().backward()
    tensors = {"x": tensor(x0), "weight": tensor(w0), "R": tensor(r), "y": tensor(y),
               "dx": tensor(x.grad), "dweight": tensor(w.grad)}
    if has_bias:
        tensors.update({"bias": tensor(b0), "dbias": tensor(b.grad)})
    cases.append({"name": name, "params": {"eps": eps, "hasBias": has_bias}, "tensors": tensors})

# Softmax over the last axis
for name, shape, scale in [("softmax", (4, 17), 3.0), ("softmax_wide_range", (2, 9), 30.0)]:
    x0, r = randn(*shape, scale=scale), randn(*shape)
    (x,) = with_grad(x0)
    y = torch.softmax(x, dim=-1)
    (y * r).sum().backward()
    cases.append({"name": name, "params": {},
                  "tensors": {"x": tensor(x0), "R": tensor(r), "y": tensor(y), "dx": tensor(x.grad)}})

# Cross-entropy (mean over counted positions) and per-token log-probabilities
for name, rows, vocab, scale, targets in [
    ("cross_entropy", 7, 50, 2.0, [3, -100, 49, 0, 17, -100, 8]),
    ("cross_entropy_all_counted", 3, 11, 5.0, [10, 4, 4]),
]:
    z0 = randn(rows, vocab, scale=scale)
    (z,) = with_grad(z0)
    t = torch.tensor(targets)
    loss = F.cross_entropy(z, t, ignore_index=-100, reduction="mean")
    loss.backward()
    logp = torch.log_softmax(z0, dim=-1)
    token_logp = torch.where(t == -100, torch.zeros(rows, dtype=torch.float64),
                             logp.gather(1, t.clamp(min=0)[:, None])[:, 0])
    cases.append({"name": name, "params": {"targets": targets, "ignoreIndex": -100},
                  "tensors": {"logits": tensor(z0), "loss": tensor(loss.reshape(())),
                              "dlogits": tensor(z.grad), "tokenLogProbabilities": tensor(token_logp)}})

OUT.parent.mkdir(parents=True, exist_ok=True)
OUT.write_text(json.dumps({"generator": f"scripts/reference/ops_norm.py (torch {torch.__version__})",
                           "cases": cases}, separators=(",", ":")) + "\n")
print(f"wrote {OUT.relative_to(ROOT)} ({OUT.stat().st_size} bytes, {len(cases)} cases)")
