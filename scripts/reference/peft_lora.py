"""PEFT LoRA, DoRA and (IA)3 adapters on SmolLM2-135M-Instruct; checks of Trimtab-made ones
and of Trimtab-merged model directories.

Default mode (writes fixtures into Tests/TrimtabPEFTTests/Fixtures/peft/):
  lora   -- LoraConfig(r=4, lora_alpha=8, q_proj+v_proj, layers_to_transform=[0, 14, 29])
  dora   -- LoraConfig(r=2, lora_alpha=4, use_dora, use_rslora, q_proj+v_proj, layers [3, 20])
  ia3    -- IA3Config with PEFT's Llama default modules (k_proj, v_proj, down_proj;
            down_proj scales its input) on layers 2, 17, 29 (full module paths)
  Each is built with a fixed seed, trained 3 Adam steps (lr 1e-2) on a sentence so B,
  the magnitudes and the vectors are away from their initial values, saved with
  save_pretrained, reloaded with PeftModel.from_pretrained, and the adapted model's logits
  stored as in peft_prompt.py (<name>.json: two prompts alone and as a right-padded batch,
  a subset of vocabulary columns, every position's max |logit|, 8 greedy tokens).

--check DIR:
  Trimtab-made adapters (<name>/ + <name>.json with Trimtab's logits) loaded with
  PeftModel.from_pretrained and compared (peft_prompt.check); exits non-zero above 1e-3.

--check-merged DIR:
  DIR/<name>/ are model directories written by `trimtab merge` (model.safetensors,
  config.json, tokenizer.json, ...), DIR/<name>.json Trimtab's logits of the adapted
  (unmerged) model and DIR/<name>.tokens.json Trimtab's token ids of a few texts. Loads
  each with AutoModelForCausalLM / AutoTokenizer.from_pretrained, compares the logits
  (max |dlogit| / max|logit|) and the token ids; exits non-zero above 1e-3 or on any id
  difference.

Run (ONLY=<name> regenerates one fixture):
  "$(scripts/reference/setup-venv.sh)" scripts/reference/peft_lora.py
  "$(scripts/reference/setup-venv.sh)" scripts/reference/peft_lora.py --check /tmp/trimtab-lora-export
  "$(scripts/reference/setup-venv.sh)" scripts/reference/peft_lora.py --check-merged /tmp/trimtab-merge-export
"""
import copy
import json
import os
import shutil
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import peft_prompt  # noqa: E402  (shared loading, training and logit records)
from peft import IA3Config, LoraConfig, PeftModel, TaskType, get_peft_model  # noqa: E402

FIXTURES = peft_prompt.FIXTURES


def method_configs():
    return [
        ("lora", LoraConfig(task_type=TaskType.CAUSAL_LM, r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"],
                            layers_to_transform=[0, 14, 29])),
        ("dora", LoraConfig(task_type=TaskType.CAUSAL_LM, r=2, lora_alpha=4, target_modules=["q_proj", "v_proj"],
                            layers_to_transform=[3, 20], use_dora=True, use_rslora=True)),
        # PEFT's Llama defaults (k_proj, v_proj, down_proj; down_proj scales its input), on
        # three layers to keep the fixture small (a full-path list, as IA3 has no
        # layers_to_transform).
        ("ia3", IA3Config(task_type=TaskType.CAUSAL_LM,
                          target_modules=["model.layers.%d.%s" % (i, m) for i in (2, 17, 29)
                                          for m in ("self_attn.k_proj", "self_attn.v_proj", "mlp.down_proj")],
                          feedforward_modules=["model.layers.%d.mlp.down_proj" % i for i in (2, 17, 29)])),
    ]


def write_fixtures():
    tok, base = peft_prompt.load_base()
    rows = peft_prompt.rows_for(tok)
    out_dir = os.path.join(FIXTURES, "peft")
    os.makedirs(out_dir, exist_ok=True)
    only = os.environ.get("ONLY")
    for index, (name, config) in enumerate(method_configs()):
        if only and name != only:
            continue
        print("==", name)
        torch.manual_seed(200 + index)
        pm = get_peft_model(copy.deepcopy(base), config)
        peft_prompt.train(pm, tok)
        target = os.path.join(out_dir, name)
        shutil.rmtree(target, ignore_errors=True)
        pm.save_pretrained(target)
        readme = os.path.join(target, "README.md")
        if os.path.exists(readme):
            os.remove(readme)
        loaded = PeftModel.from_pretrained(copy.deepcopy(base), target)
        ref = peft_prompt.reference_logits(loaded, rows)
        ref["generator"] = "peft %s, transformers %s, torch %s, float32" % (
            __import__("peft").__version__, __import__("transformers").__version__, torch.__version__)
        ref["method"] = name
        # How much the adapter moves the logits (so the fixture can fail).
        with torch.no_grad():
            ids = torch.tensor([rows[0]])
            plain = base(input_ids=ids).logits[0]
            adapted = loaded(input_ids=ids).logits[0]
        ref["effect"] = float((plain - adapted).abs().max() / plain.abs().max())
        with open(os.path.join(out_dir, name + ".json"), "w") as f:
            json.dump(ref, f, separators=(",", ":"))
        print("   greedy", repr(tok.decode(ref["greedy"])), "effect on logits %.3e" % ref["effect"])


def check_merged(directory):
    from transformers import AutoModelForCausalLM, AutoTokenizer
    names = sorted(n for n in os.listdir(directory) if os.path.isdir(os.path.join(directory, n)))
    if not names:
        sys.exit("no merged model directories in %s" % directory)
    worst_all, ids_ok = 0.0, True
    gguf_tok, _ = peft_prompt.load_base()
    for name in names:
        path = os.path.join(directory, name)
        model = AutoModelForCausalLM.from_pretrained(path, torch_dtype=torch.float32)
        model.eval()
        tok = AutoTokenizer.from_pretrained(path)
        with open(os.path.join(directory, name + ".json")) as f:
            theirs = json.load(f)
        worst = 0.0
        with torch.no_grad():
            for ids, part in zip(theirs["rows"], theirs["single"]):
                logits = model(input_ids=torch.tensor([ids])).logits[0]
                for t, row in enumerate(part["logits"]):
                    ours = logits[t, theirs["columns"]]
                    worst = max(worst, float((ours - torch.tensor(row)).abs().max()) / part["max_abs"][t])
        mismatches = 0
        with open(os.path.join(directory, name + ".tokens.json")) as f:
            token_cases = json.load(f)
        for case in token_cases:
            hf = tok(case["text"], add_special_tokens=False)["input_ids"]
            if hf != case["ids"]:
                mismatches += 1
                print("   ids differ for %r:\n     HF      %s\n     Trimtab %s" % (case["text"][:60], hf[:20], case["ids"][:20]))
        # The chat template and special tokens are those of the GGUF's own tokenizer.
        messages = [{"role": "user", "content": "Hello there"}]
        rendered = tok.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
        expected = gguf_tok.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
        same = rendered == expected and tok.eos_token == gguf_tok.eos_token and tok.bos_token == gguf_tok.bos_token
        template_ok = ", chat template and special tokens %s" % ("equal" if same else "DIFFER: %r vs %r" % (rendered, expected))
        ids_ok = ids_ok and same
        print("%-10s transformers vs Trimtab (adapted, unmerged): max |dlogit| / max|logit| = %.2e; "
              "token ids: %d/%d texts equal%s" % (name, worst, len(token_cases) - mismatches, len(token_cases), template_ok))
        worst_all = max(worst_all, worst)
        ids_ok = ids_ok and mismatches == 0
    print("worst %.2e" % worst_all)
    sys.exit(0 if worst_all < 1e-3 and ids_ok else 1)


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--check":
        peft_prompt.check(sys.argv[2])
    elif len(sys.argv) == 3 and sys.argv[1] == "--check-merged":
        check_merged(sys.argv[2])
    else:
        write_fixtures()
