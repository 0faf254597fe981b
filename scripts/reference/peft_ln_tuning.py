"""PEFT LayerNorm tuning (LN_TUNING) on SmolLM2-135M-Instruct, and a check of Trimtab-made adapters.

Default mode (writes fixtures):
  Builds a PEFT 0.21 LN_TUNING adapter (default target modules for llama: input_layernorm,
  post_attention_layernorm, norm), trains it 3 Adam steps on a sentence (lr 1e-2) so the
  norm weights move away from the base model's, saves it with `save_pretrained` into
  Tests/TrimtabPEFTTests/Fixtures/peft/ln_tuning/, reloads it with
  `PeftModel.from_pretrained` and stores the adapted model's logits in
  Tests/TrimtabPEFTTests/Fixtures/peft/ln_tuning.json (same layout as peft_prompt.py:
  two prompts alone and as a right-padded batch, a subset of vocabulary columns, each
  position's max |logit|, the 8-token greedy continuation of the first prompt).

--check DIR mode:
  DIR holds Trimtab-made LN_TUNING adapters (<name>/ + <name>.json with Trimtab's logits);
  each is loaded with PeftModel.from_pretrained and compared (exit 1 above 1e-3 of the
  largest logit). Reuses peft_prompt.py's loading and comparison.

Run:
  "$(scripts/reference/setup-venv.sh)" scripts/reference/peft_ln_tuning.py
  "$(scripts/reference/setup-venv.sh)" scripts/reference/peft_ln_tuning.py --check /tmp/trimtab-ln-export
"""
import copy
import json
import os
import shutil
import sys

import torch

import peft
from peft import LNTuningConfig, PeftModel, TaskType, get_peft_model
from safetensors import safe_open

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from peft_prompt import FIXTURES, check, load_base, reference_logits, rows_for, train  # noqa: E402


def write_fixture():
    tok, base = load_base()
    rows = rows_for(tok)
    out_dir = os.path.join(FIXTURES, "peft")
    os.makedirs(out_dir, exist_ok=True)
    torch.manual_seed(200)
    pm = get_peft_model(copy.deepcopy(base), LNTuningConfig(task_type=TaskType.CAUSAL_LM))
    train(pm, tok)
    target = os.path.join(out_dir, "ln_tuning")
    shutil.rmtree(target, ignore_errors=True)
    pm.save_pretrained(target)
    readme = os.path.join(target, "README.md")
    if os.path.exists(readme):
        os.remove(readme)
    with safe_open(os.path.join(target, "adapter_model.safetensors"), "pt") as f:
        keys = sorted(f.keys())
    print("   %d tensors, e.g. %s" % (len(keys), keys[:3]))
    loaded = PeftModel.from_pretrained(copy.deepcopy(base), target)
    ref = reference_logits(loaded, rows)
    ref["generator"] = "peft %s, transformers %s, torch %s, float32" % (
        peft.__version__, __import__("transformers").__version__, torch.__version__)
    ref["method"] = "ln_tuning"
    with open(os.path.join(out_dir, "ln_tuning.json"), "w") as f:
        json.dump(ref, f, separators=(",", ":"))
    print("   greedy", repr(tok.decode(ref["greedy"])))


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--check":
        check(sys.argv[2])
    else:
        write_fixture()
