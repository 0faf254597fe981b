"""Reference logits and greedy continuations of SmolLM2-135M-Instruct (from the GGUF).

transformers dequantises the GGUF (Q4_1/Q8_0) to f32 exactly as ggml does and runs
LlamaForCausalLM in float32. For each prompt we store the token ids, a fixed set of
vocabulary columns of the logits at every position (the full 49152-wide rows would make
the fixture megabytes), each position's max |logit| (the tolerance scale), and the
32-token greedy continuation.

Writes Tests/TrimtabModelsTests/Fixtures/smollm2_logits.json.
Run: "$(scripts/reference/setup-venv.sh)" scripts/reference/models_smollm2.py
"""
import json
import os

import torch
from tokenizers import pre_tokenizers
from transformers import AutoModelForCausalLM, AutoTokenizer

CACHE = os.environ.get("TRIMTAB_CACHE", os.path.expanduser("~/.cache/trimtab"))
DIR = os.path.join(CACHE, "models", "smollm2")
GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
OUT = os.path.join(os.path.dirname(__file__), "..", "..", "Tests", "TrimtabModelsTests", "Fixtures",
                   "smollm2_logits.json")

torch.manual_seed(0)
tok = AutoTokenizer.from_pretrained(DIR, gguf_file=GGUF)
# The GGUF says pre = "smollm": every digit is its own pre-token (transformers drops it).
backend = tok.backend_tokenizer
backend.pre_tokenizer = pre_tokenizers.Sequence(
    [pre_tokenizers.Digits(individual_digits=True), backend.pre_tokenizer])
model = AutoModelForCausalLM.from_pretrained(DIR, gguf_file=GGUF, torch_dtype=torch.float32)
model.eval()

prompts = [
    "The capital of France is",
    "def fibonacci(n):\n    ",
    "In 1984, 12 of the 365 days were",
    "<|im_start|>user\nWhat is a trim tab?<|im_end|>\n<|im_start|>assistant\n",
]
g = torch.Generator().manual_seed(1234)
columns = sorted(set(torch.randint(0, model.config.vocab_size, (200,), generator=g).tolist()))

cases = []
with torch.no_grad():
    for text in prompts:
        ids = tok(text, add_special_tokens=False)["input_ids"]
        logits = model(torch.tensor([ids])).logits[0]
        top = sorted(set(torch.topk(logits, 8, dim=-1).indices.flatten().tolist()))
        cols = sorted(set(columns) | set(top))
        # An explicit mask: SmolLM2's pad id is <|im_end|> (2), and without one generate()
        # would mask every <|im_end|> of a chat prompt as padding.
        out = model.generate(torch.tensor([ids]), attention_mask=torch.ones(1, len(ids), dtype=torch.long),
                             max_new_tokens=32, do_sample=False, pad_token_id=tok.eos_token_id, eos_token_id=None)
        cases.append({
            "text": text,
            "ids": ids,
            "columns": cols,
            "logits": [[round(float(v), 5) for v in row[cols]] for row in logits],
            "max_abs": [float(row.abs().max()) for row in logits],
            "greedy": out[0, len(ids):].tolist(),
        })
        print(repr(text), len(ids), "tokens; greedy:", repr(tok.decode(out[0, len(ids):])))

os.makedirs(os.path.dirname(OUT), exist_ok=True)
with open(OUT, "w") as f:
    json.dump({"generator": "transformers %s, torch %s, float32" % (__import__("transformers").__version__,
                                                                    torch.__version__),
               "model": GGUF, "cases": cases}, f)
print("wrote", OUT)
