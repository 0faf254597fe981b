"""Reference sentence embeddings and hidden states of all-MiniLM-L6-v2 (a BERT encoder).

sentence-transformers loads the directory (modules.json: Transformer -> mean Pooling ->
Normalize) and embeds a handful of varied sentences in float32: short and long ones
(the long one is cut to max_seq_length = 256 tokens, [CLS] and [SEP] included), accents,
digits, punctuation, CJK and an emoji. For each sentence we store the token ids the model
saw and the normalised 384-dim embedding. For one sentence we also store transformers'
raw BertModel last_hidden_state (every token, every dimension).

Writes Tests/TrimtabModelsTests/Fixtures/minilm_embeddings.json.
Run: "$(scripts/reference/setup-venv.sh)" scripts/reference/models_minilm.py
"""
import json
import os

import sentence_transformers
import torch
import transformers
from sentence_transformers import SentenceTransformer
from transformers import AutoModel, AutoTokenizer

CACHE = os.environ.get("TRIMTAB_CACHE", os.path.expanduser("~/.cache/trimtab"))
DIR = os.path.join(CACHE, "models", "all-minilm-l6-v2")
OUT = os.path.join(os.path.dirname(__file__), "..", "..", "Tests", "TrimtabModelsTests", "Fixtures",
                   "minilm_embeddings.json")

LONG = " ".join(
    "Sentence %d of a long document: a trim tab is a small surface attached to the trailing edge of a "
    "larger control surface on a boat or aircraft, used to control the trim of the controls." % i
    for i in range(1, 13))

SENTENCES = [
    "The quick brown fox jumps over the lazy dog.",
    "Hi",
    "A man is playing a guitar on the street.",
    "Crème brûlée and jalapeño piñatas at the café in São Paulo — ¿qué tal?",
    "In 2023, 1,234 people paid $56.78 for 9 tickets on 12/31 (a 15% discount).",
    "Parameter-efficient fine-tuning trains a few weights of a frozen model.",
    "北京是中国的首都 😀 and THIS is UPPER case!!",
    LONG,
]
HIDDEN_INDEX = 0  # sentence whose token-level hidden states are stored

torch.manual_seed(0)
st = SentenceTransformer(DIR, device="cpu")
st.eval()
max_len = st.max_seq_length
features = st.tokenize(SENTENCES)
with torch.no_grad():
    embeddings = st.encode(SENTENCES, batch_size=32, convert_to_tensor=True, normalize_embeddings=False)

cases = []
for i, text in enumerate(SENTENCES):
    n = int(features["attention_mask"][i].sum())
    ids = features["input_ids"][i, :n].tolist()
    cases.append({
        "text": text,
        "ids": ids,
        "embedding": [round(float(v), 7) for v in embeddings[i]],
    })
    print(repr(text[:50]), n, "tokens, |e| =", float(embeddings[i].norm()))

# Raw last hidden state of one sentence from transformers' BertModel.
tok = AutoTokenizer.from_pretrained(DIR)
bert = AutoModel.from_pretrained(DIR, dtype=torch.float32, attn_implementation="eager")
bert.eval()
enc = tok(SENTENCES[HIDDEN_INDEX], return_tensors="pt")
assert enc["input_ids"][0].tolist() == cases[HIDDEN_INDEX]["ids"]
with torch.no_grad():
    hidden = bert(**enc).last_hidden_state[0]

os.makedirs(os.path.dirname(OUT), exist_ok=True)
with open(OUT, "w") as f:
    json.dump({
        "generator": "sentence-transformers %s, transformers %s, torch %s, float32" % (
            sentence_transformers.__version__, transformers.__version__, torch.__version__),
        "model": "all-minilm-l6-v2",
        "max_seq_length": max_len,
        "cases": cases,
        "hidden": {
            "case": HIDDEN_INDEX,
            "shape": list(hidden.shape),
            "data": [round(float(v), 6) for v in hidden.flatten()],
        },
    }, f)
print("wrote", OUT, os.path.getsize(OUT), "bytes")
