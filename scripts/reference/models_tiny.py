"""Tiny random checkpoints of every decoder architecture, written by transformers itself.

For GPT-2, Qwen2 (q/k/v biases, grouped-query attention; tied and untied output
embeddings) and Llama (untied lm_head) this script builds a seeded random model with
hidden size 32, 2 layers and a 300-token vocabulary, saves it with
`save_pretrained(dir, safe_serialization=True)` into
Tests/TrimtabModelsTests/Fixtures/tiny/<name>/ (config.json, model.safetensors) together
with one tiny byte-level BPE tokenizer trained with `tokenizers` on Hamlet
(tokenizer.json, tokenizer_config.json), and writes
Tests/TrimtabModelsTests/Fixtures/tiny_logits.json with, per model:
- for a single sequence and for a right-padded batch of two (explicit attention_mask),
  the full float32 logits of every real position;
- the 16-token greedy continuation of each of the three sequences (batch size 1, explicit
  attention_mask), plus the smallest top-1/top-2 logit margin met on the way, so a test
  failure can be told apart from a near tie.

Weights are drawn with initializer_range 0.35 (not 0.02) so the logits spread over
several units and greedy choices are far from ties; norm gains and biases are jittered
around 1 and 0 so a dropped one shows. The Qwen2 models use rope_theta 1e6 (as the real
ones), which transformers 5 writes under `rope_parameters`. Rerunning reproduces the
same files byte for byte.

Run: "$(scripts/reference/setup-venv.sh)" scripts/reference/models_tiny.py
"""
import json
import os
import shutil

import torch
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import (GPT2Config, GPT2LMHeadModel, LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast,
                          Qwen2Config, Qwen2ForCausalLM)

CACHE = os.environ.get("TRIMTAB_CACHE", os.path.expanduser("~/.cache/trimtab"))
HAMLET = os.path.join(CACHE, "data", "hamlet.txt")
FIXTURES = os.path.join(os.path.dirname(__file__), "..", "..", "Tests", "TrimtabModelsTests", "Fixtures")
TINY = os.path.join(FIXTURES, "tiny")
OUT = os.path.join(FIXTURES, "tiny_logits.json")

VOCAB = 300
HIDDEN = 32
LAYERS = 2
INIT = 0.35
NEW_TOKENS = 16
EOS = "<|endoftext|>"

TEXTS = [
    "To be, or not",          # the single sequence
    "The play's the thing",   # batch row 0 (the longest)
    "O, woe",                 # batch row 1 (right-padded)
]


def train_tokenizer():
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=VOCAB, special_tokens=[EOS],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tok.train([HAMLET], trainer)
    assert tok.get_vocab_size() == VOCAB, tok.get_vocab_size()
    return PreTrainedTokenizerFast(tokenizer_object=tok, eos_token=EOS, bos_token=EOS, unk_token=EOS)


def build_models(eos_id):
    specs = {
        "gpt2": lambda: GPT2LMHeadModel(GPT2Config(
            vocab_size=VOCAB, n_positions=64, n_embd=HIDDEN, n_layer=LAYERS, n_head=4,
            activation_function="gelu_new", initializer_range=INIT, bos_token_id=eos_id, eos_token_id=eos_id,
            resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0)),
        "qwen2_tied": lambda: Qwen2ForCausalLM(Qwen2Config(
            vocab_size=VOCAB, hidden_size=HIDDEN, intermediate_size=64, num_hidden_layers=LAYERS,
            num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=64,
            initializer_range=INIT, tie_word_embeddings=True, rms_norm_eps=1e-6, rope_theta=1_000_000.0,
            bos_token_id=eos_id, eos_token_id=eos_id)),
        "qwen2_untied": lambda: Qwen2ForCausalLM(Qwen2Config(
            vocab_size=VOCAB, hidden_size=HIDDEN, intermediate_size=64, num_hidden_layers=LAYERS,
            num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=64,
            initializer_range=INIT, tie_word_embeddings=False, rms_norm_eps=1e-6, rope_theta=1_000_000.0,
            bos_token_id=eos_id, eos_token_id=eos_id)),
        "llama": lambda: LlamaForCausalLM(LlamaConfig(
            vocab_size=VOCAB, hidden_size=HIDDEN, intermediate_size=64, num_hidden_layers=LAYERS,
            num_attention_heads=4, num_key_value_heads=4, max_position_embeddings=64,
            initializer_range=INIT, tie_word_embeddings=False, rms_norm_eps=1e-5,
            bos_token_id=eos_id, eos_token_id=eos_id)),
    }
    out = {}
    for seed, (name, make) in enumerate(specs.items()):
        torch.manual_seed(1000 + seed)
        model = make().eval()
        # Norm gains and biases start at 1 and 0; jitter them so a dropped bias or gain shows.
        with torch.no_grad():
            for pname, p in model.named_parameters():
                if p.dim() == 1:
                    p.add_(torch.randn_like(p) * 0.1)
        out[name] = model
    return out


def rounded(t):
    return [round(float(v), 5) for v in t]


def main():
    torch.manual_seed(0)
    tokenizer = train_tokenizer()
    eos_id = tokenizer.convert_tokens_to_ids(EOS)
    ids = [tokenizer(text, add_special_tokens=False)["input_ids"] for text in TEXTS]
    for text, row in zip(TEXTS, ids):
        print(repr(text), row)

    if os.path.isdir(TINY):
        shutil.rmtree(TINY)
    report = {"generator": "transformers %s, torch %s, tokenizers %s, float32"
                           % (__import__("transformers").__version__, torch.__version__,
                              __import__("tokenizers").__version__),
              "texts": TEXTS, "ids": ids, "models": {}}
    for name, model in build_models(eos_id).items():
        directory = os.path.join(TINY, name)
        model.save_pretrained(directory, safe_serialization=True)
        tokenizer.save_pretrained(directory)
        for extra in ("generation_config.json", "chat_template.jinja", "special_tokens_map.json"):
            path = os.path.join(directory, extra)
            if os.path.exists(path):
                os.remove(path)

        entry = {}
        with torch.no_grad():
            single = model(torch.tensor([ids[0]]), attention_mask=torch.ones(1, len(ids[0]), dtype=torch.long)).logits[0]
            entry["single"] = [rounded(row) for row in single]

            rows = ids[1:]
            length = max(map(len, rows))
            batch = torch.full((len(rows), length), eos_id, dtype=torch.long)
            mask = torch.zeros((len(rows), length), dtype=torch.long)
            for r, row in enumerate(rows):
                batch[r, :len(row)] = torch.tensor(row)
                mask[r, :len(row)] = 1
            logits = model(batch, attention_mask=mask).logits
            entry["batch"] = [[rounded(logits[r, t]) for t in range(len(row))] for r, row in enumerate(rows)]

            greedy, margins = [], []
            for row in ids:
                out = model.generate(torch.tensor([row]), attention_mask=torch.ones(1, len(row), dtype=torch.long),
                                     max_new_tokens=NEW_TOKENS, do_sample=False, pad_token_id=eos_id,
                                     eos_token_id=None, output_logits=True, return_dict_in_generate=True)
                greedy.append(out.sequences[0, len(row):].tolist())
                margin = min(float(step[0].topk(2).values[0] - step[0].topk(2).values[1]) for step in out.logits)
                margins.append(margin)
            entry["greedy"] = greedy
            entry["greedy_min_margin"] = min(margins)
            entry["max_abs_logit"] = float(max(single.abs().max(), logits.abs().max()))
        report["models"][name] = entry
        size = sum(os.path.getsize(os.path.join(directory, f)) for f in os.listdir(directory))
        print(name, sorted(os.listdir(directory)), "%d bytes;" % size,
              "max |logit| %.2f, min greedy margin %.4f" % (entry["max_abs_logit"], entry["greedy_min_margin"]))
        assert entry["greedy_min_margin"] > 1e-3, "greedy continuation too close to a tie; change the seed"

    with open(OUT, "w") as f:
        json.dump(report, f)
    print("wrote", OUT, os.path.getsize(OUT), "bytes")


if __name__ == "__main__":
    main()
