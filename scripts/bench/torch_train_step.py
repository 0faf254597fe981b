#!/usr/bin/env python3
"""PyTorch's side of the training-step jobs (`prompt-tuning`, `prefix-tuning`, `lora`, `full`).

The same step as Sources/trimtab/TrainingStepBench.swift: SmolLM2-135M-Instruct from the
cached GGUF (`AutoModelForCausalLM.from_pretrained(dir, gguf_file=name)`), frozen, wrapped
with `get_peft_model` (PromptTuningConfig or PrefixTuningConfig, 20 virtual tokens, random
init; LoraConfig r=8, alpha 16 on q_proj, v_proj) or, for `full`, every weight trainable
and no PEFT (f32 only); 8 rows of 128 random tokens with `labels=input_ids` (loss on every position);
forward, backward, `clip_grad_norm_(1)`, torch AdamW step. Row `f32` keeps f32 weights;
row `bf16` casts the frozen model to bfloat16 (the adapter's parameters stay f32, as
Trimtab's do), run under `torch.autocast("cpu", dtype=torch.bfloat16)`. Each row runs in
its own child process on 2 threads so its peak RSS (ru_maxrss) is its own.

Writes JSON that `trimtab bench --job JOB --compare FILE` merges by row id; bench/run calls
it through scripts/bench/torch_<job>.py.
"""
import argparse
import json
import os
import resource
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from torch_rows import run_rows, time_calls  # noqa: E402

B, T, P = 8, 128, 20
DEFAULT_MODEL = os.path.join(os.environ.get("TRIMTAB_CACHE", os.path.expanduser("~/.cache/trimtab")),
                             "models/smollm2/SmolLM2-135M-Instruct.Q4_1.gguf")


def child(args):
    import torch
    from peft import LoraConfig, PrefixTuningConfig, PromptTuningConfig, TaskType, get_peft_model
    from transformers import AutoModelForCausalLM
    torch.set_num_threads(args.threads)
    torch.manual_seed(42)
    model = AutoModelForCausalLM.from_pretrained(os.path.dirname(args.model), gguf_file=os.path.basename(args.model),
                                                 dtype=torch.float32)
    if args.row == "bf16":
        model = model.to(torch.bfloat16)
    if args.method == "full":
        pm = model
        for p in pm.parameters():
            p.requires_grad_(True)
    else:
        if args.method == "prompt-tuning":
            config = PromptTuningConfig(task_type=TaskType.CAUSAL_LM, num_virtual_tokens=P)
        elif args.method == "prefix-tuning":
            config = PrefixTuningConfig(task_type=TaskType.CAUSAL_LM, num_virtual_tokens=P)
        else:
            config = LoraConfig(task_type=TaskType.CAUSAL_LM, r=8, lora_alpha=16, target_modules=["q_proj", "v_proj"])
        pm = get_peft_model(model, config)
    for p in pm.parameters():
        if p.requires_grad:
            p.data = p.data.float()
    pm.train()
    params = [p for p in pm.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=1e-3)
    ids = torch.randint(0, model.config.vocab_size, (B, T), generator=torch.Generator().manual_seed(42))

    def step():
        optimizer.zero_grad()
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=args.row == "bf16"):
            loss = pm(input_ids=ids, labels=ids).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        optimizer.step()

    seconds = time_calls(step, args.seconds, f"torch {args.method} {args.row}")
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB -> MiB
    print(json.dumps({"torch": B * T / seconds, "torch_ms": seconds * 1e3, "torch_rss": rss,
                      "torch_version": torch.__version__}))


def main(method):
    parser = argparse.ArgumentParser(description=f"PyTorch + PEFT {method} training step")
    parser.add_argument("--out")
    parser.add_argument("--seconds", type=float, default=2.0)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--only", default="")
    parser.add_argument("--model", default=DEFAULT_MODEL)
    parser.add_argument("--row", help=argparse.SUPPRESS)  # internal: run one row in this process
    parser.add_argument("--method", default=method, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.row:
        child(args)
        return
    run_rows(os.path.abspath(__file__), args, "torch {version} + transformers + PEFT ({threads} threads)",
             {"model": args.model, "seconds_per_row": args.seconds, "method": method}, extra=("--method", method),
             rows=("f32",) if method == "full" else ("f32", "bf16"))

if __name__ == "__main__" and len(sys.argv) > 1 and "--method" in sys.argv:
    main(sys.argv[sys.argv.index("--method") + 1])
