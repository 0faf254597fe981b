#!/usr/bin/env python3
"""PyTorch's side of `trimtab bench --job prefill`: a transformers forward at B=8, T=128.

Loads the same GGUF as Sources/trimtab/PrefillBench.swift (default: SmolLM2-135M-Instruct
from the asset cache) with
`AutoModelForCausalLM.from_pretrained(dir, gguf_file=name, dtype=torch.float32)`, on 2
threads, and times `model(input_ids)` (logits of every position) under torch.no_grad on
8 rows of 128 random tokens. Row `f32` keeps f32 weights, row `bf16` runs
`model.to(torch.bfloat16)`. Each row runs in its own child process so its peak RSS
(`resource.getrusage(RUSAGE_SELF).ru_maxrss`) is its own.

Writes JSON that `trimtab bench --job prefill --compare FILE` merges by row id.

Run (bench/run does this when the venv exists):
    ~/.cache/trimtab/venv/bin/python scripts/bench/torch_prefill.py --out torch-prefill.json [--seconds 2]
"""
import argparse
import json
import os
import resource
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from torch_rows import run_rows, time_calls  # noqa: E402

B, T = 8, 128
DEFAULT_MODEL = os.path.join(os.environ.get("TRIMTAB_CACHE", os.path.expanduser("~/.cache/trimtab")),
                             "models/smollm2/SmolLM2-135M-Instruct.Q4_1.gguf")


def load(path, dtype_name):
    import torch
    from transformers import AutoModelForCausalLM
    model = AutoModelForCausalLM.from_pretrained(os.path.dirname(path), gguf_file=os.path.basename(path),
                                                 dtype=torch.float32)
    if dtype_name == "bf16":
        model = model.to(torch.bfloat16)
    return model.eval()


def child(args):
    """Measures one row in this process and prints its values as JSON."""
    import torch
    torch.set_num_threads(args.threads)
    model = load(args.model, args.row)
    ids = torch.randint(0, model.config.vocab_size, (B, T), generator=torch.Generator().manual_seed(42))
    with torch.no_grad():
        seconds = time_calls(lambda: model(input_ids=ids), args.seconds, f"torch prefill {args.row}")
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB -> MiB
    print(json.dumps({"torch": B * T / seconds, "torch_ms": seconds * 1e3, "torch_rss": rss,
                      "torch_version": torch.__version__}))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out")
    parser.add_argument("--seconds", type=float, default=2.0)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--only", default="")
    parser.add_argument("--model", default=DEFAULT_MODEL)
    parser.add_argument("--row", help=argparse.SUPPRESS)  # internal: run one row in this process
    args = parser.parse_args()
    if args.row:
        child(args)
        return
    run_rows(__file__, args, "torch {version} + transformers ({threads} threads)",
             {"model": args.model, "seconds_per_row": args.seconds})


if __name__ == "__main__":
    main()
