#!/usr/bin/env python3
"""Reference numbers for optimizers, learning-rate schedules and gradient clipping.

Writes Tests/TrimtabTensorTests/Fixtures/optim.json, read by OptimizerTests.swift:
  - adamw*, sgd*: two parameter tensors (p0 (3, 4), p1 (5,), values bounded away from
    zero) and a fixed sequence of 10 gradient pairs g0_<k>, g1_<k>; p1 has no gradient
    (grad None) in the steps listed in params["p1_skip"]. Expected parameters and state
    after 10 steps of torch.optim.AdamW / torch.optim.SGD (single-tensor path,
    foreach=False). "adamw_scheduled" sets lr = base * linear-warmup multiplier
    (transformers get_linear_schedule_with_warmup, stepped after each update).
  - clip_*: gradients before and after torch.nn.utils.clip_grad_norm_, and the norm.
  - schedules: multipliers of transformers' schedules for steps 0..n-1.

Run: /root/.cache/trimtab/venv/bin/python scripts/reference/optim.py
"""
import json
import os

import torch
from transformers import (
    get_constant_schedule_with_warmup,
    get_cosine_schedule_with_warmup,
    get_cosine_with_min_lr_schedule_with_warmup,
    get_linear_schedule_with_warmup,
)

OUT = os.path.join(os.path.dirname(__file__), "..", "..", "Tests", "TrimtabTensorTests", "Fixtures", "optim.json")
STEPS = 10
P1_SKIP = [3, 6]


def t(x):
    x = x.detach().to(torch.float32).contiguous()
    return {"shape": list(x.shape), "data": [float(v) for v in x.reshape(-1).tolist()]}


def problem():
    g = torch.Generator().manual_seed(1234)
    def away_from_zero(shape):
        r = torch.randn(shape, generator=g)
        return torch.sign(r) * (0.5 + r.abs())
    p0, p1 = away_from_zero((3, 4)), away_from_zero((5,))
    grads = [(torch.randn((3, 4), generator=g) * 0.3, torch.randn((5,), generator=g) * 2.0) for _ in range(STEPS)]
    return p0, p1, grads


def run(make_optimizer, schedule=None):
    p0, p1, grads = problem()
    tensors = {"p0": t(p0), "p1": t(p1)}
    for k, (g0, g1) in enumerate(grads):
        tensors[f"g0_{k}"], tensors[f"g1_{k}"] = t(g0), t(g1)
    w0, w1 = p0.clone().requires_grad_(True), p1.clone().requires_grad_(True)
    opt = make_optimizer([w0, w1])
    sched = schedule(opt) if schedule else None
    for k, (g0, g1) in enumerate(grads):
        opt.zero_grad(set_to_none=True)
        w0.grad = g0.clone()
        w1.grad = None if k in P1_SKIP else g1.clone()
        opt.step()
        if sched:
            sched.step()
    tensors["p0_final"], tensors["p1_final"] = t(w0), t(w1)
    for i, w in enumerate([w0, w1]):
        for name, value in opt.state[w].items():
            if torch.is_tensor(value):
                tensors[f"{i}.{name}"] = t(value.reshape(w.shape) if value.numel() > 1 else value)
    return tensors


def main():
    cases = []
    adamw = dict(lr=0.02, betas=(0.85, 0.99), eps=1e-7, weight_decay=0.1)
    cases.append({"name": "adamw", "params": {**adamw, "betas": list(adamw["betas"]), "p1_skip": P1_SKIP},
                  "tensors": run(lambda ps: torch.optim.AdamW(ps, foreach=False, **adamw))})
    cases.append({"name": "adamw_defaults", "params": {"lr": 0.001, "p1_skip": P1_SKIP},
                  "tensors": run(lambda ps: torch.optim.AdamW(ps, lr=0.001, foreach=False))})
    sched = dict(lr=0.05, betas=(0.9, 0.95), eps=1e-8, weight_decay=0.01)
    cases.append({"name": "adamw_scheduled",
                  "params": {**sched, "betas": list(sched["betas"]), "p1_skip": P1_SKIP, "warmup": 3, "total": 10},
                  "tensors": run(lambda ps: torch.optim.AdamW(ps, foreach=False, **sched),
                                 lambda o: get_linear_schedule_with_warmup(o, 3, 10))})
    for name, kw in [("sgd_plain", dict(lr=0.1)),
                     ("sgd_momentum", dict(lr=0.05, momentum=0.9, dampening=0.1, weight_decay=0.01)),
                     ("sgd_nesterov", dict(lr=0.05, momentum=0.8, weight_decay=0.05, nesterov=True))]:
        cases.append({"name": name, "params": {**kw, "p1_skip": P1_SKIP},
                      "tensors": run(lambda ps, kw=kw: torch.optim.SGD(ps, foreach=False, **kw))})

    g = torch.Generator().manual_seed(99)
    grads = [torch.randn((4, 3), generator=g), torch.randn((7,), generator=g), torch.randn((2, 2, 2), generator=g)]
    norm = torch.sqrt(sum((x.double() ** 2).sum() for x in grads)).item()
    for name, max_norm in [("clip_above", norm / 3), ("clip_below", norm * 1.5)]:
        ws = [torch.zeros_like(x, requires_grad=True) for x in grads] + [torch.zeros(3, requires_grad=True)]
        for w, x in zip(ws, grads):
            w.grad = x.clone()
        total = torch.nn.utils.clip_grad_norm_(ws, max_norm, foreach=False)
        tensors = {f"g{i}": t(x) for i, x in enumerate(grads)}
        tensors.update({f"clipped{i}": t(w.grad) for i, w in enumerate(ws[:3])})
        cases.append({"name": name, "params": {"max_norm": float(torch.tensor(max_norm, dtype=torch.float32)),
                                               "norm": float(total)}, "tensors": tensors})

    n = 16
    def multipliers(make):
        s = make(torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=1.0))
        return [s.lr_lambdas[0](k) for k in range(n)]
    schedules = {
        "linear_w3_t12": multipliers(lambda o: get_linear_schedule_with_warmup(o, 3, 12)),
        "linear_w0_t10": multipliers(lambda o: get_linear_schedule_with_warmup(o, 0, 10)),
        "cosine_w3_t12": multipliers(lambda o: get_cosine_schedule_with_warmup(o, 3, 12)),
        "cosine_w0_t10": multipliers(lambda o: get_cosine_schedule_with_warmup(o, 0, 10)),
        "cosine_w2_t10_min0.1": multipliers(lambda o: get_cosine_with_min_lr_schedule_with_warmup(o, 2, 10, min_lr_rate=0.1)),
        "constant_with_warmup_w4": multipliers(lambda o: get_constant_schedule_with_warmup(o, 4)),
        "constant_with_warmup_w0": multipliers(lambda o: get_constant_schedule_with_warmup(o, 0)),
    }
    cases.append({"name": "schedules", "params": {}, "tensors": {
        k: {"shape": [n], "data": [float(v) for v in vs]} for k, vs in schedules.items()}})

    with open(OUT, "w") as f:
        json.dump({"generator": f"scripts/reference/optim.py (torch {torch.__version__})", "cases": cases}, f)
    print(f"wrote {OUT} ({os.path.getsize(OUT)} bytes)")


if __name__ == "__main__":
    main()
