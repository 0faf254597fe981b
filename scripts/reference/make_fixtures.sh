#!/usr/bin/env bash
# Regenerates every committed test fixture from the reference implementations
# (PyTorch, transformers, tokenizers, PEFT, gguf). Needs the model cache
# (scripts/fetch-assets.sh) and creates the Python environment on first use.
# CI never runs this; it reads the committed fixtures.
set -euo pipefail
cd "$(dirname "$0")/../.."
PY="$(scripts/reference/setup-venv.sh)"
for script in scripts/reference/*.py; do
    echo "== $script" >&2
    "$PY" "$script"
done
