#!/usr/bin/env python3
"""Load generator for `trimtab serve` (loopback only, bounded in time and count).

Creates N prompt-tuning adapters (random soft prompts, PEFT format) in the server's
adapter directory, then for each mix of 1, 8 and 64 distinct adapters sends --requests
greedy completions with --concurrency in flight, and reports requests/s, generated
tokens/s and p50/p99 latency.

    trimtab serve --adapters /tmp/bench-adapters --max-batch 16 &
    bench/serve_load.py --adapters /tmp/bench-adapters --token-dim 576

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


def write_soft_prompt(directory, name, tokens, dim, seed):
    """A PEFT prompt-tuning adapter: adapter_config.json + adapter_model.safetensors."""
    path = os.path.join(directory, name)
    os.makedirs(path, exist_ok=True)
    rng = random.Random(seed)
    values = [rng.gauss(0, 0.05) for _ in range(tokens * dim)]
    data = struct.pack(f"<{len(values)}f", *values)
    header = json.dumps({"__metadata__": {"format": "pt"},
                         "prompt_embeddings": {"dtype": "F32", "shape": [tokens, dim],
                                               "data_offsets": [0, len(data)]}}).encode()
    header += b" " * ((8 - len(header) % 8) % 8)
    tmp = os.path.join(path, ".adapter_model.safetensors.tmp")
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(header)) + header + data)
    os.replace(tmp, os.path.join(path, "adapter_model.safetensors"))
    config = {"peft_type": "PROMPT_TUNING", "task_type": "CAUSAL_LM", "num_virtual_tokens": tokens,
              "token_dim": dim, "num_transformer_submodules": 1, "prompt_tuning_init": "RANDOM",
              "inference_mode": True}
    with open(os.path.join(path, "adapter_config.json"), "w") as f:
        json.dump(config, f)


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
            body = {"model": names[i % len(names)], "prompt": prompts[i % len(prompts)],
                    "max_tokens": max_tokens, "temperature": 0}
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
    p.add_argument("--virtual-tokens", type=int, default=10)
    p.add_argument("--mixes", default="1,8,64")
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
    names = [f"bench-soft-{i:02d}" for i in range(max(mixes))]
    for i, name in enumerate(names):
        write_soft_prompt(args.adapters, name, args.virtual_tokens, args.token_dim, seed=i)
    # Warm up (loads every adapter once, outside the timed runs).
    for name in names:
        post(args.server + "/v1/completions", {"model": name, "prompt": "hi", "max_tokens": 1}, timeout=60)

    results = [run_mix(args.server, names[:k], args.requests, args.concurrency, args.max_tokens, args.seconds)
               for k in mixes]
    print(f"{'adapters':>8} {'requests':>8} {'errors':>6} {'req/s':>8} {'gen tok/s':>10} {'p50 s':>8} {'p99 s':>8}")
    for r in results:
        print(f"{r['adapters']:>8} {r['requests']:>8} {r['errors']:>6} {r['requests_per_s']:>8.2f} "
              f"{r['tokens_per_s']:>10.1f} {r['p50_s']:>8.2f} {r['p99_s']:>8.2f}")
    if results and results[0]["tokens_per_s"] > 0:
        for r in results[1:]:
            print(f"{r['adapters']} adapters keep {100 * r['tokens_per_s'] / results[0]['tokens_per_s']:.0f}% "
                  f"of the single-adapter token rate")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"args": vars(args), "results": results}, f, indent=2)


if __name__ == "__main__":
    main()
