"""PEFT prompt-learning adapters on SmolLM2-135M-Instruct, and a check of Trimtab-made ones.

Default mode (writes fixtures):
  For each method -- prompt tuning (TEXT init, P=8), P-tuning with an MLP and with an LSTM
  encoder (P=8), prefix tuning without and with projection (P=4) -- builds a PEFT 0.21
  adapter with a fixed seed, trains it 3 Adam steps on a sentence so it is not at its
  initial value, saves it with `save_pretrained` into
  Tests/TrimtabPEFTTests/Fixtures/peft/<name>/, reloads it with
  `PeftModel.from_pretrained` and stores the adapted model's logits in
  Tests/TrimtabPEFTTests/Fixtures/peft/<name>.json: two prompts one at a time and as one
  right-padded batch with an attention mask (valid positions only, virtual ones
  included), a subset of vocabulary columns plus every position's max |logit| (the
  tolerance scale), and the 8-token greedy continuation of the first prompt.
  The TEXT fixture also records the ids PEFT copies for TEXT init (a long text, cut to
  P, and a short one, repeated).
  It also writes Tests/TrimtabPEFTTests/Fixtures/prompt_encoders.json: PEFT's
  PromptEncoder (MLP, 2-layer BiLSTM) and PrefixEncoder (projection) on a tiny config,
  with their weights, output and the gradients of sum(out * R).

--check DIR mode:
  DIR holds Trimtab-made adapters (<name>/adapter_config.json, adapter_model.safetensors)
  with Trimtab's logits (<name>.json, same layout as the fixtures). Each adapter is
  loaded with PeftModel.from_pretrained and its logits compared; prints
  max |dlogit| / max|logit| per adapter and exits non-zero above 1e-3.

Run:
  "$(scripts/reference/setup-venv.sh)" scripts/reference/peft_prompt.py
  "$(scripts/reference/setup-venv.sh)" scripts/reference/peft_prompt.py --check /tmp/trimtab-peft-export
"""
import copy
import json
import os
import shutil
import sys

import torch
from tokenizers import pre_tokenizers
from transformers import AutoModelForCausalLM, AutoTokenizer

import peft
from peft import (PeftModel, PrefixTuningConfig, PromptEncoderConfig, PromptTuningConfig, TaskType,
                  get_peft_model)
from peft.tuners.p_tuning.model import PromptEncoder
from peft.tuners.prefix_tuning.model import PrefixEncoder

CACHE = os.environ.get("TRIMTAB_CACHE", os.path.expanduser("~/.cache/trimtab"))
DIR = os.path.join(CACHE, "models", "smollm2")
GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
FIXTURES = os.path.join(ROOT, "Tests", "TrimtabPEFTTests", "Fixtures")

PROMPTS = ["The capital of France is", "Trim tabs steer large ships because the rudder"]
TEXT_LONG = "Classify the sentiment of this movie review as positive or negative"
TEXT_SHORT = "Great film"
TRAIN_TEXT = "A trim tab is a small surface that moves a large rudder with little force."


def load_base():
    tok = AutoTokenizer.from_pretrained(DIR, gguf_file=GGUF)
    backend = tok.backend_tokenizer
    backend.pre_tokenizer = pre_tokenizers.Sequence(
        [pre_tokenizers.Digits(individual_digits=True), backend.pre_tokenizer])
    model = AutoModelForCausalLM.from_pretrained(DIR, gguf_file=GGUF, torch_dtype=torch.float32)
    model.eval()
    return tok, model


def rows_for(tok):
    return [tok(text, add_special_tokens=False)["input_ids"] for text in PROMPTS]


def reference_logits(pm, rows, columns=None, greedy=True):
    """Logits of the adapted model for each row alone and for the right-padded batch."""
    pm.eval()
    out = {"rows": rows}
    singles = []
    with torch.no_grad():
        for ids in rows:
            logits = pm(input_ids=torch.tensor([ids]), attention_mask=torch.ones(1, len(ids), dtype=torch.long)).logits[0]
            singles.append(logits)
        width = max(len(r) for r in rows)
        ids = torch.tensor([r + [0] * (width - len(r)) for r in rows])
        mask = torch.tensor([[1] * len(r) + [0] * (width - len(r)) for r in rows])
        batch = pm(input_ids=ids, attention_mask=mask).logits
    virtual = singles[0].shape[0] - len(rows[0])
    if columns is None:
        g = torch.Generator().manual_seed(4321)
        columns = set(torch.randint(0, singles[0].shape[-1], (64,), generator=g).tolist())
        for logits in singles:
            columns |= set(torch.topk(logits, 4, dim=-1).indices.flatten().tolist())
        columns = sorted(columns)
    out["virtual"] = virtual
    out["columns"] = columns

    def pack(logits):
        return {"logits": [[round(float(v), 5) for v in row[columns]] for row in logits],
                "max_abs": [float(row.abs().max()) for row in logits]}

    out["single"] = [pack(l) for l in singles]
    out["batch"] = [pack(batch[b, :virtual + len(r)]) for b, r in enumerate(rows)]
    if greedy:
        with torch.no_grad():
            ids = torch.tensor([rows[0]])
            gen = pm.generate(input_ids=ids, attention_mask=torch.ones_like(ids), max_new_tokens=8,
                              do_sample=False, pad_token_id=2, eos_token_id=None)
        out["greedy"] = gen[0, -8:].tolist()
    return out


def train(pm, tok, steps=3, lr=1e-2):
    pm.train()
    ids = torch.tensor([tok(TRAIN_TEXT, add_special_tokens=False)["input_ids"]])
    params = [p for p in pm.parameters() if p.requires_grad]
    opt = torch.optim.Adam(params, lr=lr)
    for _ in range(steps):
        opt.zero_grad()
        loss = pm(input_ids=ids, attention_mask=torch.ones_like(ids), labels=ids).loss
        loss.backward()
        opt.step()
    print("   final train loss %.4f" % loss.item())


def text_init_ids(tok, text, p):
    # PromptEmbedding.__init__: tokenizer(init_text)["input_ids"], cut or repeated to P.
    ids = tok(text)["input_ids"]
    if len(ids) < p:
        ids = ids * -(-p // len(ids))
    return ids[:p]


def method_configs():
    tokenizer_kwargs = {"gguf_file": GGUF}
    return [
        ("prompt_tuning_text", PromptTuningConfig(
            task_type=TaskType.CAUSAL_LM, num_virtual_tokens=8, prompt_tuning_init="TEXT",
            prompt_tuning_init_text=TEXT_LONG, tokenizer_name_or_path=DIR, tokenizer_kwargs=tokenizer_kwargs)),
        ("p_tuning_mlp", PromptEncoderConfig(
            task_type=TaskType.CAUSAL_LM, num_virtual_tokens=8, encoder_reparameterization_type="MLP",
            encoder_hidden_size=128)),
        ("p_tuning_lstm", PromptEncoderConfig(
            task_type=TaskType.CAUSAL_LM, num_virtual_tokens=8, encoder_reparameterization_type="LSTM",
            encoder_hidden_size=64, encoder_num_layers=2)),
        ("prefix_tuning", PrefixTuningConfig(task_type=TaskType.CAUSAL_LM, num_virtual_tokens=4)),
        ("prefix_tuning_projection", PrefixTuningConfig(
            task_type=TaskType.CAUSAL_LM, num_virtual_tokens=4, prefix_projection=True, encoder_hidden_size=64)),
    ]


def write_fixtures():
    tok, base = load_base()
    rows = rows_for(tok)
    out_dir = os.path.join(FIXTURES, "peft")
    os.makedirs(out_dir, exist_ok=True)
    for index, (name, config) in enumerate(method_configs()):
        print("==", name)
        torch.manual_seed(100 + index)
        pm = get_peft_model(copy.deepcopy(base), config)
        extra = {}
        if name == "prompt_tuning_text":
            weight = pm.prompt_encoder["default"].embedding.weight.detach()
            ids = text_init_ids(tok, TEXT_LONG, 8)
            assert torch.equal(weight, base.get_input_embeddings().weight[ids]), "TEXT init is not the word embeddings"
            extra["text_init"] = [{"text": TEXT_LONG, "ids": ids},
                                  {"text": TEXT_SHORT, "ids": text_init_ids(tok, TEXT_SHORT, 8)}]
            print("   TEXT init ids", extra["text_init"])
        train(pm, tok)
        target = os.path.join(out_dir, name)
        shutil.rmtree(target, ignore_errors=True)
        pm.save_pretrained(target)
        readme = os.path.join(target, "README.md")
        if os.path.exists(readme):
            os.remove(readme)
        loaded = PeftModel.from_pretrained(copy.deepcopy(base), target)
        ref = reference_logits(loaded, rows)
        ref.update(extra)
        ref["generator"] = "peft %s, transformers %s, torch %s, float32" % (
            peft.__version__, __import__("transformers").__version__, torch.__version__)
        ref["method"] = name
        with open(os.path.join(out_dir, name + ".json"), "w") as f:
            json.dump(ref, f, separators=(",", ":"))
        print("   greedy", repr(tok.decode(ref["greedy"])), "virtual", ref["virtual"])
    write_encoder_fixtures()


def tensor_json(t):
    t = t.detach().to(torch.float32).contiguous()
    return {"shape": list(t.shape), "data": [float(v) for v in t.reshape(-1).tolist()]}


def write_encoder_fixtures():
    """PEFT's encoder modules on a tiny config: weights, output, gradients of sum(out * R)."""
    cases = []
    g = torch.Generator().manual_seed(77)
    specs = [
        ("mlp", lambda: PromptEncoder(PromptEncoderConfig(
            task_type=TaskType.CAUSAL_LM, num_virtual_tokens=5, token_dim=12, num_transformer_submodules=1,
            encoder_reparameterization_type="MLP", encoder_hidden_size=7))),
        ("lstm", lambda: PromptEncoder(PromptEncoderConfig(
            task_type=TaskType.CAUSAL_LM, num_virtual_tokens=5, token_dim=12, num_transformer_submodules=1,
            encoder_reparameterization_type="LSTM", encoder_hidden_size=6, encoder_num_layers=2))),
        ("prefix_projection", lambda: PrefixEncoder(PrefixTuningConfig(
            task_type=TaskType.CAUSAL_LM, num_virtual_tokens=5, token_dim=8, num_layers=2, num_attention_heads=2,
            num_transformer_submodules=1, encoder_hidden_size=6, prefix_projection=True))),
    ]
    for name, build in specs:
        torch.manual_seed(5)
        module = build().double()
        out = module(torch.arange(5)[None])[0]
        R = torch.rand(out.shape, generator=g, dtype=torch.float64) * 2 - 1
        (out * R).sum().backward()
        tensors = {"y": tensor_json(out), "R": tensor_json(R)}
        for key, p in module.named_parameters():
            tensors[key] = tensor_json(p)
            tensors["d" + key] = tensor_json(p.grad)
        cases.append({"name": name, "params": {}, "tensors": tensors})
    path = os.path.join(FIXTURES, "prompt_encoders.json")
    with open(path, "w") as f:
        json.dump({"generator": "scripts/reference/peft_prompt.py (peft %s, torch %s, float64 rounded to float32)"
                   % (peft.__version__, torch.__version__), "cases": cases}, f, separators=(",", ":"))
    print("wrote", path)


def check(directory):
    tok, base = load_base()
    worst_all = 0.0
    names = sorted(n for n in os.listdir(directory) if os.path.isdir(os.path.join(directory, n)))
    if not names:
        sys.exit("no adapters in %s" % directory)
    for name in names:
        with open(os.path.join(directory, name + ".json")) as f:
            theirs = json.load(f)
        pm = PeftModel.from_pretrained(copy.deepcopy(base), os.path.join(directory, name))
        ours = reference_logits(pm, theirs["rows"], columns=theirs["columns"], greedy="greedy" in theirs)
        assert ours["virtual"] == theirs["virtual"], (name, ours["virtual"], theirs["virtual"])
        worst = 0.0
        for part in ("single", "batch"):
            for a, b in zip(ours[part], theirs[part]):
                assert len(a["logits"]) == len(b["logits"]), (name, part, len(a["logits"]), len(b["logits"]))
                for row_a, row_b, scale in zip(a["logits"], b["logits"], a["max_abs"]):
                    worst = max(worst, max(abs(x - y) for x, y in zip(row_a, row_b)) / scale)
        greedy = ""
        if "greedy" in theirs:
            greedy = ", greedy %s" % ("equal" if ours["greedy"] == theirs["greedy"] else
                                      "DIFFERS: peft %s trimtab %s" % (ours["greedy"], theirs["greedy"]))
        print("%-28s PEFT vs Trimtab: max |dlogit| / max|logit| = %.2e%s" % (name, worst, greedy))
        worst_all = max(worst_all, worst)
    print("worst %.2e" % worst_all)
    sys.exit(0 if worst_all < 1e-3 else 1)


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--check":
        check(sys.argv[2])
    else:
        write_fixtures()
