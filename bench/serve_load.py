#!/usr/bin/env python3
"""Load generator for `trimtab serve` (loopback only, bounded in time and count).

Creates N random adapters of each kind asked for (PEFT format: soft prompts, and LoRAs
of rank 8 on q_proj and v_proj) in the server's adapter directory, then for each kind and
each mix of 1, 8 and 64 distinct adapters sends --requests greedy completions with
--concurrency in flight, and reports requests/s, generated tokens/s and p50/p99 latency.
With --rounds 2 the mixes run twice, the second time in reverse order (64, 8, 1), and the
table gives the mean of both, so a drift of the machine over the run does not read as an
effect of the mix.

    trimtab serve --adapters /tmp/bench-adapters --max-batch 16 &
    bench/serve_load.py --adapters /tmp/bench-adapters --kinds soft,lora --rounds 2

Standard library only. Every mix stops after --seconds even if requests remain.
"""
import argparse
import json
import os
import random
import struct
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request


def write_adapter(directory, name, tensors, config):
    """A PEFT adapter directory: adapter_model.safetensors (f32 tensors, written through a
    temporary file) and adapter_config.json. `tensors` maps names to (shape, values)."""
    path = os.path.join(directory, name)
    os.makedirs(path, exist_ok=True)
    header, blobs, offset = {"__metadata__": {"format": "pt"}}, [], 0
    for tensor_name, (shape, values) in tensors.items():
        blob = struct.pack(f"<{len(values)}f", *values)
        header[tensor_name] = {"dtype": "F32", "shape": shape, "data_offsets": [offset, offset + len(blob)]}
        blobs.append(blob)
        offset += len(blob)
    encoded = json.dumps(header).encode()
    encoded += b" " * ((8 - len(encoded) % 8) % 8)
    tmp = os.path.join(path, ".adapter_model.safetensors.tmp")
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(encoded)) + encoded + b"".join(blobs))
    os.replace(tmp, os.path.join(path, "adapter_model.safetensors"))
    with open(os.path.join(path, "adapter_config.json"), "w") as f:
        json.dump(dict(config, task_type="CAUSAL_LM", inference_mode=True), f)


def write_soft_prompt(directory, name, args, seed):
    """A PEFT prompt-tuning adapter of --virtual-tokens random rows."""
    rng = random.Random(seed)
    tokens, dim = args.virtual_tokens, args.token_dim
    write_adapter(directory, name, {"prompt_embeddings": ([tokens, dim], [rng.gauss(0, 0.05) for _ in range(tokens * dim)])},
                  {"peft_type": "PROMPT_TUNING", "num_virtual_tokens": tokens, "token_dim": dim,
                   "num_transformer_submodules": 1, "prompt_tuning_init": "RANDOM"})


def write_lora(directory, name, args, seed, rank=8):
    """A PEFT LoRA adapter, r=8 on q_proj and v_proj of every layer; B is random too (PEFT
    starts it at zero), so each adapter steers the model its own way."""
    rng = random.Random(seed)
    dim, tensors = args.token_dim, {}
    for layer in range(args.layers):
        for module, out in (("q_proj", dim), ("v_proj", args.kv_dim)):
            prefix = f"base_model.model.model.layers.{layer}.self_attn.{module}"
            tensors[f"{prefix}.lora_A.weight"] = ([rank, dim], [rng.gauss(0, 0.05) for _ in range(rank * dim)])
            tensors[f"{prefix}.lora_B.weight"] = ([out, rank], [rng.gauss(0, 0.05) for _ in range(out * rank)])
    write_adapter(directory, name, tensors,
                  {"peft_type": "LORA", "r": rank, "lora_alpha": 2 * rank, "lora_dropout": 0.0,
                   "target_modules": ["q_proj", "v_proj"], "bias": "none", "fan_in_fan_out": False,
                   "init_lora_weights": True, "use_rslora": False, "use_dora": False})


WRITERS = {"soft": write_soft_prompt, "lora": write_lora}


def post(url, body, timeout):
    request = urllib.request.Request(url, data=json.dumps(body).encode(),
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=timeout) as response:
        return json.load(response)


def run_mix(server, names, requests, concurrency, max_tokens, seconds):
    prompts = ["Write one sentence about the sea.", "List three colours.", "What is a cat?",
               "Say hello politely.", "Describe rain in a few words.", "Name a planet."]
    lock = threading.Lock()
    latencies, tokens, errors = [], [0], [0]
    next_index = [0]
    deadline = time.monotonic() + seconds

    def worker():
        while True:
            with lock:
                i = next_index[0]
                if i >= requests or time.monotonic() > deadline:
                    return
                next_index[0] += 1
            # ignore_eos: every request generates max_tokens tokens, so each mix does the
            # same work whatever its adapters make the model say.
            body = {"model": names[i % len(names)], "prompt": prompts[i % len(prompts)],
                    "max_tokens": max_tokens, "temperature": 0, "ignore_eos": True}
            start = time.monotonic()
            try:
                answer = post(server + "/v1/completions", body, timeout=max(5, seconds))
                elapsed = time.monotonic() - start
                with lock:
                    latencies.append(elapsed)
                    tokens[0] += answer["usage"]["completion_tokens"]
            except (urllib.error.URLError, OSError, KeyError) as error:
                with lock:
                    errors[0] += 1
                print(f"request {i}: {error}", file=sys.stderr)

    start = time.monotonic()
    threads = [threading.Thread(target=worker) for _ in range(concurrency)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.monotonic() - start
    latencies.sort()

    def pct(p):
        return latencies[min(len(latencies) - 1, int(p * len(latencies)))] if latencies else float("nan")

    return {"adapters": len(names), "requests": len(latencies), "errors": errors[0], "seconds": wall,
            "requests_per_s": len(latencies) / wall, "tokens_per_s": tokens[0] / wall,
            "p50_s": pct(0.50), "p99_s": pct(0.99)}


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--server", default="http://127.0.0.1:8080")
    p.add_argument("--adapters", required=True, help="the server's --adapters directory")
    p.add_argument("--token-dim", type=int, default=576, help="the model's hidden size (SmolLM2-135M: 576)")
    p.add_argument("--kv-dim", type=int, default=192, help="v_proj's output width (SmolLM2-135M: 3 heads × 64)")
    p.add_argument("--layers", type=int, default=30, help="the model's layers (SmolLM2-135M: 30)")
    p.add_argument("--virtual-tokens", type=int, default=10)
    p.add_argument("--kinds", default="soft", help="adapter kinds, comma-separated: soft, lora")
    p.add_argument("--mixes", default="1,8,64")
    p.add_argument("--rounds", type=int, default=1, help="2: run the mixes again in reverse order and average")
    p.add_argument("--requests", type=int, default=64, help="requests per mix (at most)")
    p.add_argument("--concurrency", type=int, default=16)
    p.add_argument("--max-tokens", type=int, default=16)
    p.add_argument("--seconds", type=float, default=120, help="time limit per mix")
    p.add_argument("--json", help="also write the results to this file")
    args = p.parse_args()

    host = urllib.parse.urlparse(args.server).hostname
    if host not in ("127.0.0.1", "localhost", "::1"):
        sys.exit(f"serve_load: refusing {host}: loopback only")
    mixes = [int(m) for m in args.mixes.split(",")]
    if args.requests > 10_000 or args.seconds > 1800:
        sys.exit("serve_load: at most 10000 requests and 1800 s per mix")
    kinds = [k for k in args.kinds.split(",") if k]
    if any(k not in WRITERS for k in kinds) or args.rounds not in (1, 2):
        sys.exit(f"serve_load: --kinds takes {', '.join(WRITERS)}; --rounds 1 or 2")
    names = {kind: [f"bench-{kind}-{i:02d}" for i in range(max(mixes))] for kind in kinds}
    for kind in kinds:
        for i, name in enumerate(names[kind]):
            WRITERS[kind](args.adapters, name, args, seed=i)
    # Warm up (loads every adapter once, outside the timed runs).
    for kind in kinds:
        for name in names[kind]:
            post(args.server + "/v1/completions", {"model": name, "prompt": "hi", "max_tokens": 1}, timeout=60)

    runs = []  # (kind, mix, result), in the order they ran
    for round_index in range(args.rounds):
        order = [(kind, k) for kind in kinds for k in mixes]
        for kind, k in (order if round_index == 0 else list(reversed(order))):
            result = run_mix(args.server, names[kind][:k], args.requests, args.concurrency, args.max_tokens,
                             args.seconds)
            print(f"round {round_index + 1}: {kind} x{k}: {result['tokens_per_s']:.1f} tok/s", file=sys.stderr)
            runs.append((kind, k, result))

    def mean(kind, k, key):
        values = [r[key] for kd, m, r in runs if kd == kind and m == k]
        return sum(values) / len(values)

    print(f"{'kind':>5} {'adapters':>8} {'requests':>8} {'errors':>6} {'req/s':>8} {'gen tok/s':>10} "
          f"{'p50 s':>8} {'p99 s':>8} {'vs 1':>6}")
    for kind in kinds:
        for k in mixes:
            share = mean(kind, k, "tokens_per_s") / max(mean(kind, mixes[0], "tokens_per_s"), 1e-9)
            print(f"{kind:>5} {k:>8} {sum(r['requests'] for kd, m, r in runs if kd == kind and m == k):>8} "
                  f"{sum(r['errors'] for kd, m, r in runs if kd == kind and m == k):>6} "
                  f"{mean(kind, k, 'requests_per_s'):>8.2f} {mean(kind, k, 'tokens_per_s'):>10.1f} "
                  f"{mean(kind, k, 'p50_s'):>8.2f} {mean(kind, k, 'p99_s'):>8.2f} {100 * share:>5.0f}%")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"args": vars(args), "runs": [{"kind": kd, "adapters": m, **r} for kd, m, r in runs]}, f,
                      indent=2)


if __name__ == "__main__":
    main()
