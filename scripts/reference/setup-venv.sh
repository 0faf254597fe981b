#!/usr/bin/env bash
# Creates the Python environment the reference scripts and the PyTorch benchmarks run
# in ($TRIMTAB_CACHE/venv, default ~/.cache/trimtab/venv) and prints its python path.
set -euo pipefail
CACHE="${TRIMTAB_CACHE:-$HOME/.cache/trimtab}"
VENV="$CACHE/venv"
HERE="$(cd "$(dirname "$0")" && pwd)"
if ! "$VENV/bin/python" -c "import torch, transformers, peft, gguf, tokenizers" >/dev/null 2>&1; then
    python3 -m venv "$VENV"
    "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check -r "$HERE/requirements.txt" >&2
fi
echo "$VENV/bin/python"
