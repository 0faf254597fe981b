#!/usr/bin/env python3
"""PyTorch's side of `trimtab bench --job decode` (batch 1) and `decode-batch8` (`--batch 8`).

Mirrors Sources/trimtab/DecodeBench.swift: the same GGUF (default SmolLM2-135M-Instruct
from the asset cache) loaded with transformers (f32; row `bf16` after
`model.to(torch.bfloat16)`; row `gguf` repeats the f32 numbers, since transformers
dequantises a GGUF to f32 at load), 2 threads, a 16-token prompt per row (row r: 16 ids of the
same text from its r-th id on, no special tokens, so rows need no padding) and
`generate(max_new_tokens=128, min_new_tokens=128, do_sample=False, attention_mask=...)`.

Decode time is taken with a streamer: generate calls `streamer.put` once with the prompt
and then once per new token, right after it is chosen. Per-token time is
(time of the 128th token - time of the 1st) / 127, i.e. 127 steps of one-token forward
with the KV cache + logits + argmax, without the prompt's forward (exactly what the
Swift side measures through Generator's onToken callback); tokens/s counts every row. "1st ms" is the time from
calling generate to the first token.

Run (bench/run does this when the venv exists):
    ~/.cache/trimtab/venv/bin/python scripts/bench/torch_decode.py --out torch-decode.json [--seconds 2]
"""
import argparse
import json
import os
import statistics
import sys
import time

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

PROMPT_LENGTH, NEW_TOKENS = 16, 128
PROMPT_TEXT = "Write a short story about a lighthouse keeper who finds a message in a bottle on the beach."
DEFAULT_MODEL = os.path.join(os.environ.get("TRIMTAB_CACHE", os.path.expanduser("~/.cache/trimtab")),
                             "models/smollm2/SmolLM2-135M-Instruct.Q4_1.gguf")


class Stamps:
    """A streamer that records when each new token arrives."""

    def __init__(self):
        self.prompt_seen = False
        self.times = []

    def put(self, value):
        if not self.prompt_seen:
            self.prompt_seen = True
            return
        self.times.append(time.perf_counter())

    def end(self):
        pass


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", required=True)
    parser.add_argument("--seconds", type=float, default=2.0)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--only", default="")
    parser.add_argument("--model", default=DEFAULT_MODEL)
    parser.add_argument("--batch", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    directory, name = os.path.dirname(args.model), os.path.basename(args.model)
    tokenizer = AutoTokenizer.from_pretrained(directory, gguf_file=name)
    ids = tokenizer(PROMPT_TEXT, add_special_tokens=False)["input_ids"]
    prompt = torch.tensor([[ids[(i + r) % len(ids)] for i in range(PROMPT_LENGTH)] for r in range(args.batch)])
    mask = torch.ones_like(prompt)
    base = AutoModelForCausalLM.from_pretrained(directory, gguf_file=name, dtype=torch.float32).eval()
    rows, notes = [], []
    for row in ("f32", "bf16"):
        if args.only.lower() not in row and not (row == "f32" and args.only.lower() in "gguf"):
            continue
        model = base.to(torch.bfloat16) if row == "bf16" else base

        def generate(new_tokens, streamer=None):
            return model.generate(prompt, attention_mask=mask, max_new_tokens=new_tokens, min_new_tokens=new_tokens,
                                  do_sample=False, streamer=streamer, pad_token_id=tokenizer.eos_token_id)

        with torch.no_grad():
            generate(8)  # warm-up
            per_token, first, spent = [], [], 0.0
            while len(per_token) < 3 or spent < args.seconds:
                stamps = Stamps()
                start = time.perf_counter()
                out = generate(NEW_TOKENS, stamps)
                t = stamps.times
                assert len(t) == NEW_TOKENS, f"{len(t)} tokens"
                per_token.append((t[-1] - t[0]) / (NEW_TOKENS - 1))
                first.append(t[0] - start)
                spent += t[-1] - start
                print(f"torch decode batch {args.batch} {row}: {per_token[-1] * 1e3:.1f} ms/step", file=sys.stderr)
        seconds = statistics.median(per_token)
        rows.append({"id": row, "values": {"torch": args.batch / seconds, "torch_ms": seconds * 1e3,
                                           "torch_first_ms": statistics.median(first) * 1e3}})
        notes.append(f"{row} first tokens: {out[0, PROMPT_LENGTH:PROMPT_LENGTH + 12].tolist()}")
        if row == "f32":
            # transformers dequantises a GGUF to f32 at load: its answer to Trimtab's `gguf`
            # row (decoding from the file's blocks) is this f32 run.
            rows.append({"id": "gguf", "values": dict(rows[-1]["values"])})
    report = {
        "source": f"torch {torch.__version__} + transformers generate ({torch.get_num_threads()} threads)",
        "columns": [{"key": "torch", "title": "torch tok/s"}, {"key": "torch_ms", "title": "torch ms/step"},
                    {"key": "torch_first_ms", "title": "torch 1st ms"}],
        "rows": rows,
        "details": {"model": args.model, "prompt_ids": prompt[0].tolist(), "notes": notes},
    }
    with open(args.out, "w") as f:
        json.dump(report, f, indent=1)


if __name__ == "__main__":
    main()
