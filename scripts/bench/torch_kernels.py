#!/usr/bin/env python3
"""PyTorch's side of `trimtab bench --job kernels`: GB/s and µs of the same ops.

Mirrors Sources/trimtab/KernelBench.swift (same row ids, shapes and byte counts): a
SmolLM2-135M step at B=8, T=128, C=576 (9/3 heads of 64, FFN 1536, vocabulary 49152),
f32, 2 threads. Forward runs under torch.no_grad; backward runs the op with inputs that
require grad (untimed), then times only `y.backward(seed)`. Gradients accumulate into
.grad as in Trimtab. Ops: torch.nn.functional (rms_norm, layer_norm, silu, gelu,
softmax, cross_entropy, embedding, dropout, scaled_dot_product_attention with
enable_gqa), rope as transformers writes it (x*cos + rotate_half(x)*sin), swiglu as
silu(gate)*up, concat as torch.cat with the batch-1 prefix expanded.

Writes JSON that `trimtab bench --job kernels --compare FILE` merges by row id.

Run (bench/run does this when the venv exists):
    ~/.cache/trimtab/venv/bin/python scripts/bench/torch_kernels.py --out torch-kernels.json [--seconds 1]
"""
import argparse
import json
import statistics
import sys
import time

import torch
import torch.nn.functional as F

B, T, C, H, HKV, D, FFN, V, P = 8, 128, 576, 9, 3, 64, 1536, 49152, 20
N = B * T


def median_time(seconds, setup, body):
    for _ in range(2):
        setup()
        body()
    times, spent = [], 0.0
    while len(times) < 2000 and (len(times) < 3 or spent < seconds):
        setup()
        start = time.perf_counter()
        body()
        took = time.perf_counter() - start
        times.append(took)
        spent += took
    return statistics.median(times)


def rnd(*shape, scale=1.0, grad=True, gen):
    x = (torch.rand(*shape, generator=gen) * 2 - 1) * scale
    return x.requires_grad_(grad)


def cases(gen):
    """(id, forward bytes, backward bytes, maker returning a zero-arg op) like KernelBench.cases."""
    by = lambda elements: 4.0 * elements
    q, kv = N * H * D, N * HKV * D
    out = []

    def rms():
        x, w = rnd(N, C, gen=gen), rnd(C, gen=gen)
        return lambda: F.rms_norm(x, (C,), w, eps=1e-5)
    out.append(("rmsnorm", by(2 * N * C + C), by(4 * N * C + 3 * C), rms))

    def ln():
        x, w, b = rnd(N, C, gen=gen), rnd(C, gen=gen), rnd(C, gen=gen)
        return lambda: F.layer_norm(x, (C,), w, b, eps=1e-5)
    out.append(("layernorm", by(2 * N * C + 2 * C), by(4 * N * C + 6 * C), ln))

    def rope():
        x = rnd(B, T, H, D, gen=gen)
        inv = 1.0 / (100000 ** (torch.arange(0, D, 2, dtype=torch.float32) / D))
        ang = torch.outer(torch.arange(T, dtype=torch.float32), inv)
        emb = torch.cat([ang, ang], dim=-1)
        cos, sin = emb.cos()[None, :, None, :], emb.sin()[None, :, None, :]

        def rotate_half(v):
            return torch.cat([-v[..., D // 2:], v[..., : D // 2]], dim=-1)
        return lambda: x * cos + rotate_half(x) * sin
    out.append(("rope", by(2 * q), by(3 * q), rope))

    for prefix in (False, True):
        p = P if prefix else 0
        pkv = B * p * HKV * D

        def attn(p=p):
            qh = rnd(B, T, H, D, gen=gen)
            k = rnd(B, T, HKV, D, gen=gen)
            v = rnd(B, T, HKV, D, gen=gen)
            if p:
                pk, pv = rnd(B, p, HKV, D, gen=gen), rnd(B, p, HKV, D, gen=gen)
                mask = torch.ones(T, p + T, dtype=torch.bool)
                mask[:, p:] = torch.ones(T, T, dtype=torch.bool).tril()

                def run():
                    kk = torch.cat([pk, k], dim=1).transpose(1, 2)
                    vv = torch.cat([pv, v], dim=1).transpose(1, 2)
                    o = F.scaled_dot_product_attention(qh.transpose(1, 2), kk, vv, attn_mask=mask, enable_gqa=True)
                    return o.transpose(1, 2)
                return run

            def run():
                o = F.scaled_dot_product_attention(qh.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2),
                                                   is_causal=True, enable_gqa=True)
                return o.transpose(1, 2)
            return run
        out.append(("attention_prefix" if prefix else "attention",
                    by(2 * q + 2 * kv + 2 * pkv), by(4 * q + 6 * kv + 6 * pkv), attn))

    def silu():
        x = rnd(N, FFN, scale=4, gen=gen)
        return lambda: F.silu(x)
    out.append(("silu", by(2 * N * FFN), by(4 * N * FFN), silu))

    def gelu():
        x = rnd(N, FFN, scale=4, gen=gen)
        return lambda: F.gelu(x)
    out.append(("gelu", by(2 * N * FFN), by(4 * N * FFN), gelu))

    def swiglu():
        g, u = rnd(N, FFN, scale=4, gen=gen), rnd(N, FFN, gen=gen)
        return lambda: F.silu(g) * u
    out.append(("swiglu", by(3 * N * FFN), by(7 * N * FFN), swiglu))

    S = B * H * T

    def softmax():
        x = rnd(S, T, scale=4, gen=gen)
        return lambda: F.softmax(x, dim=-1)
    out.append(("softmax", by(2 * S * T), by(4 * S * T), softmax))

    def ce():
        logits = rnd(N, V, scale=4, gen=gen)
        targets = torch.randint(0, V, (N,), generator=gen)
        return lambda: F.cross_entropy(logits, targets)
    out.append(("cross_entropy", by(N * V + N), by(3 * N * V + N), ce))

    def add():
        x, y = rnd(N, C, gen=gen), rnd(N, C, gen=gen)
        return lambda: x + y
    out.append(("add", by(3 * N * C), by(5 * N * C), add))

    def add_bias():
        x, b = rnd(N, FFN, gen=gen), rnd(FFN, gen=gen)
        return lambda: x + b
    out.append(("add_bias", by(2 * N * FFN + FFN), by(3 * N * FFN + 2 * FFN), add_bias))

    def mul():
        x, y = rnd(N, C, gen=gen), rnd(N, C, gen=gen)
        return lambda: x * y
    out.append(("mul", by(3 * N * C), by(7 * N * C), mul))

    def emb():
        table = rnd(V, C, scale=0.1, gen=gen)
        ids = torch.randint(0, V, (B, T), generator=gen)
        return lambda: F.embedding(ids, table)
    out.append(("embedding", by(2 * N * C + N), by(3 * N * C + N), emb))

    def concat():
        soft, x = rnd(1, P, C, gen=gen), rnd(B, T, C, gen=gen)
        return lambda: torch.cat([soft.expand(B, P, C), x], dim=1)
    out.append(("concat_sequence", by(2 * (B * P + N) * C), by(B * P * C + 2 * P * C + 3 * N * C), concat))

    def dropout():
        x = rnd(N, FFN, gen=gen)
        return lambda: F.dropout(x, p=0.1, training=True)
    out.append(("dropout", by(2 * N * FFN), by(3 * N * FFN), dropout))
    return out


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", required=True)
    parser.add_argument("--seconds", type=float, default=2.0)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--only", default="")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    gen = torch.Generator().manual_seed(0)
    only = args.only.lower()
    rows = []
    for name, fwd_bytes, bwd_bytes, make in cases(gen):
        ids = {pass_: f"{name}/{pass_}" for pass_ in ("forward", "backward")}
        if not any(only in i.lower() for i in ids.values()):
            continue
        print(f"torch {name}", file=sys.stderr)
        op = make()
        for pass_, row_id in ids.items():
            if only not in row_id.lower():
                continue
            if pass_ == "forward":
                def body():
                    with torch.no_grad():
                        op()
                seconds = median_time(args.seconds, lambda: None, body)
                work = fwd_bytes
            else:
                state = {}

                def setup():
                    y = op()
                    if "seed" not in state:
                        state["seed"] = torch.rand(y.shape, generator=gen) - 0.5
                    state["y"] = y
                seconds = median_time(args.seconds, setup, lambda: state["y"].backward(state["seed"]))
                work = bwd_bytes
            rows.append({"id": row_id, "values": {"torch": work / seconds / 1e9, "torch_us": seconds * 1e6}})
        del op
    report = {
        "source": f"torch {torch.__version__} ({torch.get_num_threads()} threads)",
        "columns": [{"key": "torch", "title": "torch GB/s"}, {"key": "torch_us", "title": "torch µs"}],
        "rows": rows,
        "details": {"parallel": torch.__config__.parallel_info(), "seconds_per_case": args.seconds},
    }
    with open(args.out, "w") as f:
        json.dump(report, f, indent=1)


if __name__ == "__main__":
    main()
