#!/usr/bin/env python3
"""PyTorch's side of `trimtab bench --job gemm`: GFLOP/s of the same matrix products.

Times, at the shapes of a SmolLM2-135M training step (B*T = 1024 rows; see
Sources/trimtab/GEMMBench.swift, whose layer list this mirrors), the three products of
every linear layer with torch's CPU matmul, in f32 and in bf16, on 2 threads:

    forward  y  = x @ W.T          torch.mm(x, W.t(), out=y)
    dx       dx += dy @ W          dx.addmm_(dy, W)
    dW       dW += dy.T @ x        dW.addmm_(dy.t(), x)

Transposes are views, outputs are preallocated, so like Trimtab's GEMM nothing is copied.
In bf16 torch keeps the output in bf16 (Trimtab accumulates into f32).

Writes a JSON file that `trimtab bench --job gemm --compare FILE` merges by row id:
    {"source": ..., "columns": [{"key", "title"}], "rows": [{"id", "values"}], "details": {...}}

Run (bench/run does this when the venv exists):
    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE ~/.cache/trimtab/venv/bin/python \
        scripts/bench/torch_gemm.py --out torch-gemm.json [--seconds 2] [--only lm_head]
"""
import argparse
import json
import statistics
import sys
import time

import torch

ROWS = 1024
# (row id prefix, N = out features, K = in features), as in GEMMBench.layers.
SHAPES = [
    ("attn.qo", 576, 576),
    ("attn.kv", 192, 576),
    ("mlp.gate_up", 1536, 576),
    ("mlp.down", 576, 1536),
    ("lm_head", 49152, 576),
]


def median_seconds(calls, budget, min_runs=3, max_runs=2000, warmups=2):
    """Round-robin timing as in BenchTimer: warm-up, then rounds until `budget` seconds."""
    first = []
    for call in calls:
        start = time.perf_counter()
        call()
        first.append(time.perf_counter() - start)
    for call, took in zip(calls, first):
        for _ in range(0 if took > budget / 8 else warmups - 1):
            call()
    times = [[] for _ in calls]
    spent, rounds = 0.0, 0
    while rounds < max_runs and (rounds < min_runs or spent < budget):
        order = range(len(calls)) if rounds % 2 == 0 else reversed(range(len(calls)))
        for index in order:
            start = time.perf_counter()
            calls[index]()
            took = time.perf_counter() - start
            times[index].append(took)
            spent += took
        rounds += 1
    return [statistics.median(samples) for samples in times]


def products(n, k, dtype, generator):
    """The three products of one [n, k] layer as zero-argument callables, with their shapes."""
    x = (torch.rand(ROWS, k, generator=generator) * 2 - 1).to(dtype)
    w = ((torch.rand(n, k, generator=generator) * 2 - 1) / k**0.5).to(dtype)
    dy = ((torch.rand(ROWS, n, generator=generator) * 2 - 1) / ROWS).to(dtype)
    y = torch.zeros(ROWS, n, dtype=dtype)
    dx = torch.zeros(ROWS, k, dtype=dtype)
    dw = torch.zeros(n, k, dtype=dtype)
    return {
        "forward": ((ROWS, n, k), lambda: torch.mm(x, w.t(), out=y)),
        "dx": ((ROWS, k, n), lambda: dx.addmm_(dy, w)),
        "dW": ((n, k, ROWS), lambda: dw.addmm_(dy.t(), x)),
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", required=True, help="JSON file to write")
    parser.add_argument("--seconds", type=float, default=2.0, help="time budget per case")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--only", default="", help="only cases whose id contains this text")
    args = parser.parse_args()

    torch.set_num_threads(args.threads)
    generator = torch.Generator().manual_seed(0)
    rows = []
    with torch.no_grad():
        for name, n, k in SHAPES:
            ids = [f"{name}/{p}" for p in ("forward", "dx", "dW")]
            if not any(args.only.lower() in i.lower() for i in ids):
                continue
            f32 = products(n, k, torch.float32, generator)
            bf16 = products(n, k, torch.bfloat16, generator)
            for product, row_id in zip(("forward", "dx", "dW"), ids):
                if args.only.lower() not in row_id.lower():
                    continue
                (m, nn, kk), call32 = f32[product]
                _, call16 = bf16[product]
                print(f"torch {row_id}: {m}x{nn}x{kk}", file=sys.stderr)
                t32, t16 = median_seconds([call32, call16], args.seconds)
                flops = 2.0 * m * nn * kk
                rows.append({"id": row_id, "values": {"torch_f32": flops / t32 / 1e9,
                                                       "torch_bf16": flops / t16 / 1e9}})
            del f32, bf16

    report = {
        "source": f"torch {torch.__version__} ({torch.get_num_threads()} threads)",
        "columns": [{"key": "torch_f32", "title": "torch f32"},
                    {"key": "torch_bf16", "title": "torch bf16"}],
        "rows": rows,
        "details": {"parallel": torch.__config__.parallel_info(),
                    "mkldnn": torch.backends.mkldnn.is_available(),
                    "seconds_per_case": args.seconds},
    }
    with open(args.out, "w") as f:
        json.dump(report, f, indent=1)


if __name__ == "__main__":
    main()
