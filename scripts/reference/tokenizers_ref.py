#!/usr/bin/env python3
"""Reference token ids for TrimtabText, written with Hugging Face `tokenizers` / `transformers`.

Generates, in Tests/TrimtabTextTests/Fixtures/:
  corpus.json                 the test corpus (prose from hamlet.txt and rotten tomatoes,
                              code, numbers, emoji, CJK, accents, odd whitespace, special
                              tokens inside text)
  tiny_<name>.json            tiny tokenizers trained here on hamlet.txt (tokenizer.json format):
                              gpt2 (byte-level BPE, GPT-2 regex, added tokens with lstrip/rstrip/
                              single_word), roberta (same vocab, add_prefix_space, RobertaProcessing),
                              llama3 (Split with the Llama 3 regex, ignore_merges), qwen2 (Qwen2
                              regex + NFC), spm_bpe (Llama 2 style: Prepend/Replace normalizer,
                              byte fallback), spm_bpe_metaspace (Metaspace prepend_scheme=first),
                              unigram (Metaspace + NFKC + byte fallback, a normalized added token)
  ids_<name>.json             for every tokenizer (the tiny ones, minilm = all-minilm-l6-v2's
                              WordPiece tokenizer.json, smollm2 and spm_gguf = GGUF tokenizers):
                              ids with and without special tokens and HF's decode of them
  smollm2_gguf.json           SmolLM2's GGUF tokenizer metadata in compact form (tokens, merges as
                              base64 little-endian uint16 id pairs, token types other than 1, ids,
                              chat template) so the Swift test needs no GGUF reader
  spm_gguf.json               GGUF "llama" tokenizer metadata (tokens, scores, types) for the
                              SentencePiece path, built from tiny_spm_bpe
  chat.json                   chat templates rendered by transformers' apply_chat_template

SmolLM2 reference: transformers' GGUF loader drops llama.cpp's `smollm` digit split, so the
reference puts Digits(individual_digits=True) in front of its pre-tokenizer (the model's own
behaviour). The spm_gguf reference is transformers' GGUF loader on a tiny GGUF written here,
with its Metaspace(prepend_scheme=first) replaced by llama.cpp's rule (Prepend "▁" to every
text fragment, Replace " " by "▁").

Run (after scripts/fetch-assets.sh):
  $(scripts/reference/setup-venv.sh) scripts/reference/tokenizers_ref.py
"""
import base64
import bz2
import csv
import json
import os
import struct
import sys
import tempfile

import gguf
import numpy as np
from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers
from transformers import AutoTokenizer, PreTrainedTokenizerFast

CACHE = os.environ.get("TRIMTAB_CACHE", os.path.expanduser("~/.cache/trimtab"))
HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "..", "..", "Tests", "TrimtabTextTests", "Fixtures")
GENERATOR = "scripts/reference/tokenizers_ref.py"
SMOLLM_DIR = os.path.join(CACHE, "models", "smollm2")
SMOLLM_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
MINILM = os.path.join(CACHE, "models", "all-minilm-l6-v2", "tokenizer.json")
HAMLET = os.path.join(CACHE, "data", "hamlet.txt")
ROTTEN = os.path.join(CACHE, "data", "rotten_tomatoes_corpus_full.csv.bz2")

GPT2_PATTERN = r"""'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"""
LLAMA3_PATTERN = r"""(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"""
QWEN2_PATTERN = r"""(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"""
LLAMA3_TEMPLATE = (
    "{% set loop_messages = messages %}{% for message in loop_messages %}"
    "{% set content = '<|start_header_id|>' + message['role'] + '<|end_header_id|>\n\n'+ message['content'] | trim + '<|eot_id|>' %}"
    "{% if loop.index0 == 0 %}{% set content = bos_token + content %}{% endif %}{{ content }}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|start_header_id|>assistant<|end_header_id|>\n\n' }}{% endif %}"
)


def require(path):
    if not os.path.exists(path):
        sys.exit(f"{path} is missing: run scripts/fetch-assets.sh")
    return path


def write(name, obj):
    path = os.path.join(OUT, name)
    with open(path, "w", encoding="utf-8") as f:
        json.dump(obj, f, ensure_ascii=False, separators=(",", ":"))
    print(f"wrote {path} ({os.path.getsize(path) // 1024} KB)")


def hamlet_lines():
    with open(require(HAMLET), encoding="utf-8") as f:
        return [l.rstrip("\n") for l in f]


def build_corpus():
    lines = [l for l in hamlet_lines() if l.strip()]
    corpus = lines[5::97][:40]
    corpus.append("\n".join(hamlet_lines()[200:230]))
    with bz2.open(require(ROTTEN), "rt", encoding="utf-8") as f:
        rows = [r["text"] for r in csv.DictReader(f)]
    corpus += [r[:400] for r in rows[3::611][:24]]
    corpus += [
        "", " ", "  ", "\n", "a", "Hello world", " Hello world", "Hello  world", "hello\tworld\t",
        "line one\r\nline two\r\n", "trailing spaces   ", "   leading spaces", "\n\n\nthree newlines\n\n",
        "mixed \t \n whitespace \u00a0 nbsp \u3000 ideographic", "ends with newline\n", " \n ",
        "def fib(n):\n    if n < 2:\n        return n\n    return fib(n - 1) + fib(n - 2)\n",
        "for (int i = 0; i < 10; ++i) { sum += a[i] * b[i]; }",
        'let x: [String: Int] = ["a": 1, "b": 22]\nprint(x["a"] ?? 0)',
        '{"key": [1, 2.5, -3e10], "nested": {"ok": true, "s": "tab\\there"}}',
        "https://example.com/path?q=1&r=two#frag",
        "1234567890", "3.14159265358979", "The year 2024 had 366 days, 8784 hours.", "0000123 000",
        "1,000,000.00 $1.5M 10% 2^10=1024", "9" * 57, "12 345 6789 0", "x1y22z333w4444",
        "Roman Ⅻ and superscript ² and fraction ½ and Arabic-Indic ٣٤٥",
        "I ❤️ Swift 🦀🚀 and 👨‍👩‍👧‍👦 families 🇫🇷🇯🇵", "emoji at end 😀", "😀😃😄😁",
        "我爱自然语言处理。今天天气很好！", "日本語のテキストとカタカナ", "한국어 문장입니다", "中文English混合123",
        "Café naïve résumé Zürich façade coöperate", "ÅNGSTRÖM Øre Æsir ß straße", "e\u0301 vs \u00e9 (combining acute)",
        "Привет, мир! Как дела?", "مرحبا بالعالم", "नमस्ते दुनिया", "Ελληνικά κείμενα", "ﬁnancial ﬂow",
        "I'm sure you're right, they've said he'll go and she'd stay; it's fine.",
        "I'M SURE YOU'RE RIGHT, THEY'VE SAID HE'LL GO; IT'S DON'T", "'tis 'twas o'clock rock'n'roll",
        "Ellipsis... dashes -- and — em, quotes “curly” ‘single’ «guillemets»",
        "!!!???...,,,;;;::: ((([[[{{{}}}]]])))", "a" * 300, "supercalifragilistic" * 6,
        "control\u0000chars\u0007here\u200bzero\u200dwidth", "bad\ufffdchar", "soft\u00adhyphen",
        "<|im_start|>user\nHello there!<|im_end|>\n<|im_start|>assistant\n",
        "text<|endoftext|>more text<|endoftext|>", "<|endoftext|>", "a<|im_end|>b",
        "[CLS] hello [SEP] world [MASK] [UNK] [PAD]", "[cls] lower [sep]",
        "<s> sentence </s> <unk> <pad>", "<s>start", "x</s>",
        "<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|>",
        "word <mask> word", "word<mask>word", "<mask> at start", "  <mask>  spaced  ",
        "see [[note]]   here", "[[note]]\tand more", "Horatio! Horatio!x xHoratio! Horatio!",
        "<0x41> is not a byte token in text", "\u2581 meta space char \u2581\u2581",
        "fish and \ufb01sh \ufb01shing FISH sel\ufb01sh",
    ]
    return corpus


# ----------------------------------------------------------------------------- tiny tokenizers

def train_bpe(pre_tokenizer, special, vocab_size, lines, alphabet=None, **model_args):
    tok = Tokenizer(models.BPE(**model_args))
    tok.pre_tokenizer = pre_tokenizer
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=special, show_progress=False,
                                  initial_alphabet=alphabet or [])
    tok.train_from_iterator(lines, trainer)
    return tok


def tiny_tokenizers(lines):
    out = {}
    byte_alphabet = pre_tokenizers.ByteLevel.alphabet()

    gpt2 = train_bpe(pre_tokenizers.ByteLevel(add_prefix_space=False), ["<|endoftext|>"], 900, lines, byte_alphabet)
    gpt2.decoder = decoders.ByteLevel()
    gpt2.post_processor = processors.ByteLevel(trim_offsets=True)
    gpt2.add_special_tokens([AddedToken("<mask>", lstrip=True, rstrip=False, special=True, normalized=False)])
    gpt2.add_tokens([AddedToken("[[note]]", rstrip=True, normalized=False, special=False),
                     AddedToken("Horatio!", single_word=True, normalized=False, special=False)])
    out["gpt2"] = gpt2

    roberta = Tokenizer.from_str(gpt2.to_str())
    roberta.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=True)
    roberta.add_special_tokens(["<s>", "</s>"])
    roberta.post_processor = processors.RobertaProcessing(("</s>", roberta.token_to_id("</s>")),
                                                          ("<s>", roberta.token_to_id("<s>")), add_prefix_space=True)
    out["roberta"] = roberta

    llama3_special = ["<|begin_of_text|>", "<|end_of_text|>", "<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>"]
    split3 = pre_tokenizers.Sequence([pre_tokenizers.Split(Regex(LLAMA3_PATTERN), behavior="isolated", invert=False),
                                      pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)])
    llama3 = train_bpe(split3, llama3_special, 900, lines, byte_alphabet, ignore_merges=True)
    llama3.decoder = decoders.ByteLevel()
    llama3.post_processor = processors.TemplateProcessing(
        single="<|begin_of_text|> $A", pair="<|begin_of_text|> $A <|begin_of_text|> $B:1",
        special_tokens=[("<|begin_of_text|>", llama3.token_to_id("<|begin_of_text|>"))])
    out["llama3"] = llama3

    splitq = pre_tokenizers.Sequence([pre_tokenizers.Split(Regex(QWEN2_PATTERN), behavior="isolated", invert=False),
                                      pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)])
    qwen2 = train_bpe(splitq, ["<|endoftext|>", "<|im_start|>", "<|im_end|>"], 700, lines, byte_alphabet)
    qwen2.normalizer = normalizers.NFC()
    qwen2.decoder = decoders.ByteLevel()
    out["qwen2"] = qwen2

    # SentencePiece-style BPE: trained on Metaspace words, then given Llama 2's pipeline and
    # the 256 byte tokens <0x00>..<0xFF> right after <unk> <s> </s>.
    spm = train_bpe(pre_tokenizers.Metaspace(replacement="\u2581", prepend_scheme="always", split=True),
                    ["<unk>", "<s>", "</s>"], 700, lines, unk_token="<unk>")
    j = json.loads(spm.to_str())
    vocab = j["model"]["vocab"]
    ordered = sorted(vocab.items(), key=lambda kv: kv[1])
    new_vocab = {}
    for t, _ in ordered[:3]:
        new_vocab[t] = len(new_vocab)
    for b in range(256):
        new_vocab["<0x%02X>" % b] = len(new_vocab)
    for t, _ in ordered[3:]:
        if t not in new_vocab:
            new_vocab[t] = len(new_vocab)
    j["model"]["vocab"] = new_vocab
    j["model"]["byte_fallback"] = True
    j["model"]["fuse_unk"] = True
    for a in j["added_tokens"]:
        a["id"] = new_vocab[a["content"]]
    j["normalizer"] = {"type": "Sequence", "normalizers": [{"type": "Prepend", "prepend": "\u2581"},
                                                          {"type": "Replace", "pattern": {"String": " "}, "content": "\u2581"}]}
    j["pre_tokenizer"] = None
    j["decoder"] = {"type": "Sequence", "decoders": [
        {"type": "Replace", "pattern": {"String": "\u2581"}, "content": " "},
        {"type": "ByteFallback"}, {"type": "Fuse"}, {"type": "Strip", "content": " ", "start": 1, "stop": 0}]}
    spm_bpe = Tokenizer.from_str(json.dumps(j))
    spm_bpe.post_processor = processors.TemplateProcessing(single="<s> $A", pair="<s> $A <s> $B:1",
                                                           special_tokens=[("<s>", 1)])
    out["spm_bpe"] = spm_bpe

    meta = Tokenizer.from_str(spm_bpe.to_str())
    meta.normalizer = None
    meta.pre_tokenizer = pre_tokenizers.Metaspace(replacement="\u2581", prepend_scheme="first", split=False)
    out["spm_bpe_metaspace"] = meta

    uni = Tokenizer(models.Unigram())
    uni.normalizer = normalizers.NFKC()
    uni.pre_tokenizer = pre_tokenizers.Metaspace(replacement="\u2581", prepend_scheme="always", split=True)
    uni.decoder = decoders.Metaspace(replacement="\u2581", prepend_scheme="always", split=True)
    uni.train_from_iterator(lines, trainers.UnigramTrainer(vocab_size=700, special_tokens=["<pad>", "</s>", "<unk>"],
                                                           unk_token="<unk>", show_progress=False))
    j = json.loads(uni.to_str())
    j["model"]["byte_fallback"] = True
    j["model"]["vocab"] += [["<0x%02X>" % b, -20.0] for b in range(256)]
    unigram = Tokenizer.from_str(json.dumps(j))
    unigram.post_processor = processors.TemplateProcessing(single="$A </s>", pair="$A </s> $B:1 </s>:1",
                                                           special_tokens=[("</s>", 1)])
    # Matched in the NFKC-normalized text: "ﬁsh" in the input matches too.
    unigram.add_tokens([AddedToken("\ufb01sh", normalized=True, special=False)])
    out["unigram"] = unigram
    return out


# ----------------------------------------------------------------------------- GGUF tokenizers

def gguf_fields(path):
    r = gguf.GGUFReader(path)
    return {k: f.contents() for k, f in r.fields.items() if k.startswith("tokenizer.")}


def smollm2():
    path = require(os.path.join(SMOLLM_DIR, SMOLLM_FILE))
    meta = gguf_fields(path)
    tokens = meta["tokenizer.ggml.tokens"]
    index = {t: i for i, t in enumerate(tokens)}
    pairs = []
    for m in meta["tokenizer.ggml.merges"]:
        a, b = m.split(" ")
        assert a in index and b in index and a + b in index, m
        pairs += [index[a], index[b]]
    assert max(pairs) < 65536
    types = meta["tokenizer.ggml.token_type"]
    compact = {
        "generator": GENERATOR,
        "source": SMOLLM_FILE,
        "model": meta["tokenizer.ggml.model"],
        "pre": meta["tokenizer.ggml.pre"],
        "tokens": tokens,
        "tokenTypesOtherThanNormal": {str(i): t for i, t in enumerate(types) if t != 1},
        "mergesUInt16LE": base64.b64encode(struct.pack("<%dH" % len(pairs), *pairs)).decode(),
        "bosTokenId": meta["tokenizer.ggml.bos_token_id"],
        "eosTokenId": meta["tokenizer.ggml.eos_token_id"],
        "unknownTokenId": meta.get("tokenizer.ggml.unknown_token_id"),
        "paddingTokenId": meta.get("tokenizer.ggml.padding_token_id"),
        "addBosToken": meta.get("tokenizer.ggml.add_bos_token", False),
        "addEosToken": meta.get("tokenizer.ggml.add_eos_token", False),
        "chatTemplate": meta["tokenizer.chat_template"],
    }
    hf = AutoTokenizer.from_pretrained(SMOLLM_DIR, gguf_file=SMOLLM_FILE)
    backend = hf.backend_tokenizer
    backend.pre_tokenizer = pre_tokenizers.Sequence([pre_tokenizers.Digits(individual_digits=True), backend.pre_tokenizer])
    return compact, hf, backend


def spm_gguf(spm_bpe):
    """GGUF "llama" metadata from tiny_spm_bpe, and transformers' tokenizer for it."""
    j = json.loads(spm_bpe.to_str())
    vocab = sorted(j["model"]["vocab"].items(), key=lambda kv: kv[1])
    tokens = [t for t, _ in vocab]
    types = [2, 3, 3] + [6] * 256 + [1] * (len(tokens) - 259)
    scores = [0.0] * 259 + [-float(i) for i in range(259, len(tokens))]
    tmp = tempfile.mkdtemp()
    path = os.path.join(tmp, "spm.gguf")
    w = gguf.GGUFWriter(path, arch="llama")
    w.add_block_count(1); w.add_context_length(64); w.add_embedding_length(8)
    w.add_feed_forward_length(8); w.add_head_count(1)
    w.add_tokenizer_model("llama"); w.add_tokenizer_pre("default")
    w.add_token_list(tokens); w.add_token_scores(scores); w.add_token_types(types)
    w.add_bos_token_id(1); w.add_eos_token_id(2); w.add_unk_token_id(0)
    w.add_add_bos_token(True); w.add_add_eos_token(False)
    w.add_tensor("token_embd.weight", np.zeros((len(tokens), 8), dtype=np.float32))
    w.write_header_to_file(); w.write_kv_data_to_file(); w.write_tensors_to_file(); w.close()
    hf = AutoTokenizer.from_pretrained(tmp, gguf_file="spm.gguf")
    backend = hf.backend_tokenizer
    # llama.cpp puts "▁" in front of every text fragment (at the start and after each special
    # token), even when it already starts with a space: the legacy Llama 2 normalizer.
    backend.normalizer = normalizers.Sequence([normalizers.Prepend("\u2581"), normalizers.Replace(" ", "\u2581")])
    backend.pre_tokenizer = None
    compact = {"generator": GENERATOR, "model": "llama", "pre": "default", "tokens": tokens, "scores": scores,
               "tokenTypes": types, "bosTokenId": 1, "eosTokenId": 2, "unknownTokenId": 0,
               "addBosToken": True, "addEosToken": False}
    return compact, backend


# ----------------------------------------------------------------------------- reference ids

def reference_ids(name, tok, corpus):
    tok.no_truncation()
    tok.no_padding()
    cases = []
    for text in corpus:
        with_special = tok.encode(text, add_special_tokens=True).ids
        plain = tok.encode(text, add_special_tokens=False).ids
        cases.append({"ids": with_special, "idsNoSpecial": plain,
                      "decoded": tok.decode(with_special, skip_special_tokens=False),
                      "decodedSkipSpecial": tok.decode(with_special, skip_special_tokens=True)})
    write(f"ids_{name}.json", {"generator": GENERATOR, "tokenizer": name, "cases": cases})


def chat_cases(smol_hf, llama3):
    conversations = [
        [{"role": "user", "content": "Hello!"}],
        [{"role": "system", "content": "You are terse."}, {"role": "user", "content": "What is 2+2?"}],
        [{"role": "user", "content": "Name a prime."}, {"role": "assistant", "content": "7"},
         {"role": "user", "content": "Another one,\nplease. 🙂"}],
        [{"role": "system", "content": "Answer in French."}, {"role": "user", "content": "  Good morning  "},
         {"role": "assistant", "content": "Bonjour !"}],
    ]
    llama3_hf = PreTrainedTokenizerFast(tokenizer_object=llama3, bos_token="<|begin_of_text|>",
                                        eos_token="<|eot_id|>")
    llama3_hf.chat_template = LLAMA3_TEMPLATE
    cases = []
    for name, hf in (("smollm2", smol_hf), ("llama3", llama3_hf)):
        for messages in conversations:
            for gen in (False, True):
                text = hf.apply_chat_template(messages, tokenize=False, add_generation_prompt=gen)
                cases.append({"template": name, "messages": messages, "addGenerationPrompt": gen, "rendered": text})
    write("chat.json", {"generator": GENERATOR,
                        "templates": {"smollm2": smol_hf.chat_template, "llama3": LLAMA3_TEMPLATE},
                        "cases": cases})


def main():
    os.makedirs(OUT, exist_ok=True)
    corpus = build_corpus()
    write("corpus.json", {"generator": GENERATOR, "texts": corpus})
    train_lines = [l for l in hamlet_lines() if l.strip()]
    tiny = tiny_tokenizers(train_lines)
    for name, tok in tiny.items():
        path = os.path.join(OUT, f"tiny_{name}.json")
        tok.save(path)
        print(f"wrote {path} ({os.path.getsize(path) // 1024} KB)")
        reference_ids(name, Tokenizer.from_file(path), corpus)
    reference_ids("minilm", Tokenizer.from_file(require(MINILM)), corpus)
    compact, smol_hf, smol_backend = smollm2()
    write("smollm2_gguf.json", compact)
    reference_ids("smollm2", smol_backend, corpus)
    compact, spm_backend = spm_gguf(tiny["spm_bpe"])
    write("spm_gguf.json", compact)
    reference_ids("spm_gguf", spm_backend, corpus)
    chat_cases(smol_hf, tiny["llama3"])


if __name__ == "__main__":
    main()
