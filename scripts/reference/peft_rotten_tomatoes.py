"""Hugging Face PEFT on the main job: a soft prompt for SmolLM2-135M-Instruct on Rotten Tomatoes.

The same job as `trimtab train --method prompt-tuning` + `trimtab eval` (see README and
docs/TRAINING.md), done with transformers + PEFT so the two can be compared:

  - model: SmolLM2-135M-Instruct from the cached GGUF, f32 (as Trimtab's default);
  - data: the prepared split (scripts/prepare-data.py), train.jsonl / test.jsonl;
  - input: the template "Review: {text}\\nSentiment:" then the label word
    (" positive" / " negative"); the loss is on the label word only;
  - adapter: PEFT PromptTuningConfig, 20 virtual tokens, TEXT init with the given text;
  - optimizer: torch AdamW (betas 0.9/0.999, eps 1e-8, no weight decay), linear decay to 0,
    no warm-up, gradient norm clipped to 1, batch 8, N steps; batches of similar length
    (shuffle, cut into buckets of 50 batches, sort each by length, shuffle the batches), as
    Trimtab's sampler and transformers' group_by_length do;
  - evaluation: rank classification, the label word with the higher log-probability
    after the templated text, on the whole file.

Prints one JSON object: accuracy (zero-shot and adapted), seconds for training and
evaluation, training tokens/s (real tokens, virtual ones not counted, as Trimtab reports).
No fixture is written: this is the comparison run for the prompt-tuning issue.

Run:
  "$(scripts/reference/setup-venv.sh)" scripts/reference/peft_rotten_tomatoes.py --steps 150 --lr 0.03
  (add --zero-shot to also evaluate the base model; --threads 2 is the default)
"""
import argparse
import json
import os
import random
import time

import torch
from tokenizers import pre_tokenizers
from transformers import AutoModelForCausalLM, AutoTokenizer, get_linear_schedule_with_warmup

from peft import PromptTuningConfig, PromptTuningInit, TaskType, get_peft_model

CACHE = os.environ.get("TRIMTAB_CACHE", os.path.expanduser("~/.cache/trimtab"))
MODEL_DIR = os.path.join(CACHE, "models", "smollm2")
GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
DATA = os.path.join(CACHE, "data", "rotten_tomatoes")
TEMPLATE = "Review: {text}\nSentiment:"
LABELS = {"positive": " positive", "negative": " negative"}


def load_base():
    tok = AutoTokenizer.from_pretrained(MODEL_DIR, gguf_file=GGUF)
    backend = tok.backend_tokenizer
    # SmolLM2's tokenizer.json splits digits one by one; the GGUF conversion drops that step.
    backend.pre_tokenizer = pre_tokenizers.Sequence(
        [pre_tokenizers.Digits(individual_digits=True), backend.pre_tokenizer])
    model = AutoModelForCausalLM.from_pretrained(MODEL_DIR, gguf_file=GGUF, torch_dtype=torch.float32)
    return tok, model


def read(path):
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


def encode(tok, rows, label_ids):
    out = []
    for r in rows:
        ids = tok(TEMPLATE.format(text=r["text"]), add_special_tokens=False)["input_ids"]
        out.append((ids, label_ids[r["label"]]))
    return out


def grouped_batches(lengths, batch_size, rng, bucket_batches=50):
    order = list(range(len(lengths)))
    rng.shuffle(order)
    batches = []
    size = bucket_batches * batch_size
    for start in range(0, len(order), size):
        bucket = sorted(order[start:start + size], key=lambda i: lengths[i])
        batches += [bucket[i:i + batch_size] for i in range(0, len(bucket), batch_size)]
    rng.shuffle(batches)
    return batches


def pad(seqs, pad_id):
    width = max(len(s) for s in seqs)
    ids = torch.full((len(seqs), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(seqs), width), dtype=torch.long)
    for i, s in enumerate(seqs):
        ids[i, :len(s)] = torch.tensor(s)
        mask[i, :len(s)] = 1
    return ids, mask


def evaluate(model, examples, label_ids, pad_id, batch_size=32):
    """Rank classification: compare the label tokens' logits at the last real position."""
    words = [label_ids[k] for k in sorted(label_ids)]
    gold_index = {v: i for i, v in enumerate(words)}
    model.eval()
    correct = 0
    order = sorted(range(len(examples)), key=lambda i: len(examples[i][0]))
    with torch.no_grad():
        for start in range(0, len(order), batch_size):
            chunk = [examples[i] for i in order[start:start + batch_size]]
            ids, mask = pad([c[0] for c in chunk], pad_id)
            logits = model(input_ids=ids, attention_mask=mask).logits
            virtual = logits.shape[1] - ids.shape[1]
            last = mask.sum(1) - 1 + virtual
            scores = logits[torch.arange(len(chunk)), last][:, words]
            pred = scores.argmax(1)
            for p, c in zip(pred.tolist(), chunk):
                correct += int(p == gold_index[c[1]])
    return correct / len(examples)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=150)
    ap.add_argument("--batch-size", type=int, default=8)
    ap.add_argument("--lr", type=float, default=0.03)
    ap.add_argument("--virtual-tokens", type=int, default=20)
    ap.add_argument("--init-text", default="Classify the sentiment of the movie review as positive or negative.")
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--test", default=os.path.join(DATA, "test.jsonl"))
    ap.add_argument("--zero-shot", action="store_true")
    ap.add_argument("--train-only", action="store_true", help="time the training, skip the test evaluation")
    args = ap.parse_args()

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    tok, model = load_base()
    pad_id = tok.pad_token_id if tok.pad_token_id is not None else tok.eos_token_id
    label_ids = {}
    for k, w in LABELS.items():
        ids = tok(w, add_special_tokens=False)["input_ids"]
        assert len(ids) == 1, f"label word {w!r} is {len(ids)} tokens"
        label_ids[k] = ids[0]
    train = encode(tok, read(os.path.join(DATA, "train.jsonl")), label_ids)
    test = encode(tok, read(args.test), label_ids)
    result = {"steps": args.steps, "batch_size": args.batch_size, "lr": args.lr,
              "virtual_tokens": args.virtual_tokens, "init_text": args.init_text, "test": args.test,
              "torch": torch.__version__, "threads": args.threads}

    if args.zero_shot:
        t = time.time()
        result["zero_shot_accuracy"] = evaluate(model, test, label_ids, pad_id)
        result["zero_shot_eval_seconds"] = time.time() - t

    config = PromptTuningConfig(task_type=TaskType.CAUSAL_LM, num_virtual_tokens=args.virtual_tokens,
                                prompt_tuning_init=PromptTuningInit.TEXT, prompt_tuning_init_text=args.init_text,
                                tokenizer_name_or_path=MODEL_DIR, tokenizer_kwargs={"gguf_file": GGUF})
    pm = get_peft_model(model, config)

    params = [p for p in pm.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=args.lr, weight_decay=0.0)
    schedule = get_linear_schedule_with_warmup(optimizer, 0, args.steps)
    rng = random.Random(args.seed)
    batches = []
    tokens = 0
    pm.train()
    t = time.time()
    losses = []
    for step in range(args.steps):
        if not batches:
            batches = grouped_batches([len(e[0]) + 1 for e in train], args.batch_size, rng)
        chunk = [train[i] for i in batches.pop()]
        seqs = [ids + [label] for ids, label in chunk]
        ids, mask = pad(seqs, pad_id)
        labels = torch.full_like(ids, -100)
        for i, (p, label) in enumerate(chunk):
            labels[i, len(p)] = label
        out = pm(input_ids=ids, attention_mask=mask, labels=labels)
        out.loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        optimizer.step()
        schedule.step()
        optimizer.zero_grad()
        tokens += int(mask.sum())
        losses.append(out.loss.item())
        if (step + 1) % 25 == 0:
            print(f"step {step + 1} loss {sum(losses[-25:]) / 25:.4f} {tokens / (time.time() - t):.0f} tok/s",
                  flush=True)
    result["train_seconds"] = time.time() - t
    result["train_tokens_per_s"] = tokens / result["train_seconds"]
    if not args.train_only:
        t = time.time()
        result["accuracy"] = evaluate(pm, test, label_ids, pad_id)
        result["eval_seconds"] = time.time() - t
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
