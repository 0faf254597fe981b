"""Shared driver of the PyTorch benchmark scripts that measure one row per child process.

`time_calls` times a callable the way `trimtab bench` does (one warm-up, then at least 3
calls and at least `seconds`, median); `run_rows` runs the script once per row (`f32`,
`bf16`) in a fresh process, so each row's peak RSS is its own, and writes the JSON that
`trimtab bench --job NAME --compare FILE` merges by row id.
"""
import json
import statistics
import subprocess
import sys
import time

COLUMNS = [{"key": "torch", "title": "torch tok/s"}, {"key": "torch_ms", "title": "torch ms"},
           {"key": "torch_rss", "title": "torch RSS MiB"}]


def time_calls(call, seconds, label):
    """Median seconds of `call()` after one warm-up; at least 3 calls and `seconds` in all."""
    call()
    times, spent = [], 0.0
    while len(times) < 3 or spent < seconds:
        start = time.perf_counter()
        call()
        took = time.perf_counter() - start
        times.append(took)
        spent += took
        print(f"{label}: {took * 1e3:.0f} ms", file=sys.stderr)
    return statistics.median(times)


def run_rows(script, args, source, details, extra=(), rows=("f32", "bf16")):
    """Runs `script --row R` for each of `rows` that `args.only` admits and writes `args.out`."""
    results, version = [], "?"
    for row in rows:
        if args.only.lower() not in row:
            continue
        out = subprocess.run([sys.executable, script, "--row", row, "--model", args.model,
                              "--seconds", str(args.seconds), "--threads", str(args.threads), *extra],
                             check=True, stdout=subprocess.PIPE, text=True).stdout
        values = json.loads(out.strip().splitlines()[-1])
        version = values.pop("torch_version")
        results.append({"id": row, "values": values})
    report = {"source": source.format(version=version, threads=args.threads), "columns": COLUMNS,
              "rows": results, "details": details}
    with open(args.out, "w") as f:
        json.dump(report, f, indent=1)
