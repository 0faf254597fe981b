#!/usr/bin/env bash
# Trains every method on Rotten Tomatoes with the same budget and prints the table in
# docs/METHODS.md: test accuracy, trainable parameters, adapter file size, training
# tokens/s and peak memory, with the zero-shot base model and full fine-tuning as
# reference rows.
#
#   scripts/method-table.sh [RUN_DIR]        (default runs/methods)
#
# The budget is the main job's: 150 steps of batch 8 over the training split, the same
# template and label words, seed 42, frozen weights in f32 (full fine-tuning trains
# them), each method at its default learning rate; prompt and prefix tuning start from a
# task description (prefix-tuning-random: PEFT's random prefix, for comparison). Every
# method writes RUN_DIR/<name>/; a method whose result.json exists is not run again, so a
# killed run continues where it stopped. METHODS="lora ia3" runs only those; STEPS=… changes the budget and TEST=… the
# evaluation file.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/fetch-assets.sh >/dev/null
if [ -z "${TRIMTAB_BIN:-}" ]; then  # TRIMTAB_BIN=path: a prebuilt trimtab instead
    swift build -c release --product trimtab 2>&1 | tail -1 >&2
fi
B="${TRIMTAB_BIN:-$PWD/.build/release/trimtab}"

D="${TRIMTAB_CACHE:-$HOME/.cache/trimtab}/data/rotten_tomatoes"
RUN="${1:-runs/methods}"
STEPS="${STEPS:-150}"
TEST="${TEST:-$D/test.jsonl}"
T='Review: {text}\nSentiment:'
L='positive=" positive",negative=" negative"'
INIT="Classify the sentiment of the movie review as positive or negative."
mkdir -p "$RUN"

# name | trimtab train arguments
ALL_METHODS=(
    "prompt-tuning|--method prompt-tuning --virtual-tokens 20 --init text --init-text '$INIT'"
    "p-tuning|--method p-tuning --virtual-tokens 20"
    "prefix-tuning|--method prefix-tuning --virtual-tokens 20 --init text --init-text '$INIT'"
    "prefix-tuning-random|--method prefix-tuning --virtual-tokens 20"
    "lora|--method lora --rank 8 --target-modules q_proj,v_proj"
    "dora|--method lora --rank 8 --target-modules q_proj,v_proj --dora"
    "ia3|--method ia3"
    "adapter|--method adapter --adapter-kind pfeiffer --reduction-factor 16"
    "ln-tuning|--method ln-tuning"
    "bitfit|--method bitfit"
    "full|--method full"
)

selected() { [ -z "${METHODS:-}" ] || [[ " $METHODS " == *" $1 "* ]]; }

if selected zero-shot && [ ! -f "$RUN/zero-shot/result.json" ]; then
    echo "== zero-shot" >&2
    mkdir -p "$RUN/zero-shot"
    "$B" eval --data "$TEST" --template "$T" --labels "$L" --json > "$RUN/zero-shot/eval.json"
    mv "$RUN/zero-shot/eval.json" "$RUN/zero-shot/result.json"
fi

for entry in "${ALL_METHODS[@]}"; do
    name="${entry%%|*}" args="${entry#*|}"
    selected "$name" || continue
    dir="$RUN/$name"
    [ -f "$dir/result.json" ] && continue
    echo "== $name" >&2
    rm -rf "$dir/train"
    mkdir -p "$dir"
    start=$(date +%s)
    if ! eval "\"$B\" train $args --data \"$D/train.jsonl\" --steps $STEPS --batch-size 8 --weights f32 \
            --template \"\$T\" --labels \"\$L\" --log-every 25 --output \"$dir/train\"" > "$dir/train.log" 2>&1; then
        # A method the model cannot take (BitFit on a model without biases) is a row
        # with its reason.
        reason="$(grep -m1 '^Error: ' "$dir/train.log" | sed 's/^Error: //')"
        echo "${reason:-training failed: see $dir/train.log}" >&2
        [ -n "$reason" ] || exit 1
        python3 -c 'import json,sys; print(json.dumps({"error": sys.argv[1]}))' "$reason" > "$dir/result.json"
        continue
    fi
    trained=$(date +%s)
    if [ -d "$dir/train/model" ]; then
        "$B" eval --model "$dir/train/model" --data "$TEST" --template "$T" --labels "$L" --json > "$dir/eval.json"
    else
        "$B" eval --adapter "$dir/train/adapter" --data "$TEST" --json > "$dir/eval.json"
    fi
    echo "{\"train_seconds\": $((trained - start))}" > "$dir/times.json"
    mv "$dir/eval.json" "$dir/result.json"
done

python3 - "$RUN" <<'EOF'
import glob, json, os, re, sys
run = sys.argv[1]
order = ["zero-shot", "prompt-tuning", "p-tuning", "prefix-tuning", "prefix-tuning-random", "lora", "dora", "ia3", "adapter",
         "ln-tuning", "bitfit", "full"]
print("| method | test accuracy | trainable parameters | adapter file | training tokens/s | peak memory |")
print("|---|---|---|---|---|---|")
for name in order:
    path = os.path.join(run, name, "result.json")
    if not os.path.exists(path):
        continue
    result = json.load(open(path))
    if "error" in result:
        print(f"| {name} | — ({result['error']}) | | | | |")
        continue
    accuracy = f"{100 * result['result']['accuracy']:.2f}%"
    if name == "zero-shot":
        print(f"| zero-shot base | {accuracy} | 0 | — | — | — |")
        continue
    log = open(os.path.join(run, name, "train.log")).read()
    params = int(re.search(r"training ([0-9]+) parameters", log).group(1))
    records = [json.loads(line) for line in open(os.path.join(run, name, "train", "metrics.jsonl"))]
    train = [r for r in records if r.get("type") == "train"]
    tokens = sum(r["tokens"] for r in train)
    rate = tokens / train[-1]["elapsed"]
    peak = max(r.get("peak_memory", 0) for r in train) / 2**20
    files = glob.glob(os.path.join(run, name, "train", "adapter", "*.safetensors")) \
        or glob.glob(os.path.join(run, name, "train", "model", "*.safetensors"))
    size = sum(os.path.getsize(f) for f in files)
    size = f"{size / 2**20:.1f} MiB" if size >= 2**20 else f"{size / 2**10:.1f} KiB"
    print(f"| {name} | {accuracy} | {params:,} | {size} | {rate:.0f} | {peak:.0f} MiB |")
EOF
