#!/usr/bin/env python3
"""Reference fixtures for TrimtabIO's GGUF reader, made with the `gguf` package.

Writes into Tests/TrimtabIOTests/Fixtures/:
  gguf_quants.json        a few random blocks of every dequantisable ggml type (raw bytes,
                          base64) and their dequantised values from gguf.quants.dequantize
                          (as f32 bit patterns, so the comparison is exact). Types that
                          gguf.quants can quantise are made from random normal data; the
                          k-quants from random bytes whose f16 scales are set to sane values.
  (tiny GGUF)             a small GGUF v3 file (a few KB) with every metadata value type
                          (nested arrays too) and F32/F16/BF16/Q8_0/Q4_K/Q6_K tensors plus
                          one IQ4_NL tensor (no kernel: must fail with a typed error).
  tiny_gguf.json          that file's bytes (base64, key "file": a binary model-format
                          file is never committed as such) and what gguf.GGUFReader
                          reads back from it.
  smollm2_reference.json  metadata and the first/last 16 dequantised values of a few
                          tensors of $TRIMTAB_CACHE/models/smollm2/SmolLM2-135M-Instruct.Q4_1.gguf
                          (skipped with a message if the model is not there).

Run: $(scripts/reference/setup-venv.sh) scripts/reference/gguf_quants.py
"""
import base64
import json
import os
import struct
import sys
from importlib.metadata import version
from pathlib import Path

import numpy as np
import gguf
from gguf import GGMLQuantizationType as T
from gguf.quants import quantize, dequantize

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "Tests" / "TrimtabIOTests" / "Fixtures"
CACHE = Path(os.environ.get("TRIMTAB_CACHE", Path.home() / ".cache" / "trimtab"))
GENERATOR = f"scripts/reference/gguf_quants.py (gguf {version('gguf')}, numpy {np.__version__})"

rng = np.random.default_rng(1234)


def bits(values: np.ndarray) -> list[int]:
    return [int(v) for v in np.asarray(values, dtype=np.float32).reshape(-1).view(np.uint32)]


def f16_bytes(value: float) -> bytes:
    return np.array([value], dtype=np.float16).tobytes()


# Byte offsets of the f16 scale fields in each k-quant block (ggml's block_q*_K structs).
K_SCALE_FIELDS = {
    T.Q2_K: [80, 82],   # scales[16], qs[64], d, dmin
    T.Q3_K: [108],      # hmask[32], qs[64], scales[12], d
    T.Q4_K: [0, 2],     # d, dmin, scales[12], qs[128]
    T.Q5_K: [0, 2],     # d, dmin, scales[12], qh[32], qs[128]
    T.Q6_K: [208],      # ql[128], qh[64], scales[16], d
}
LEGACY_SCALE_FIELDS = {T.Q4_0: [0], T.Q4_1: [0, 2], T.Q5_0: [0], T.Q5_1: [0, 2], T.Q8_0: [0]}


def random_blocks(qtype: T, n_blocks: int, scales: list[float] | None = None) -> bytes:
    """Random block bytes with every f16 scale field replaced by a sane value."""
    block_size, type_size = gguf.GGML_QUANT_SIZES[qtype]
    raw = bytearray(rng.integers(0, 256, size=n_blocks * type_size, dtype=np.uint8).tobytes())
    fields = K_SCALE_FIELDS.get(qtype) or LEGACY_SCALE_FIELDS[qtype]
    for b in range(n_blocks):
        for i, offset in enumerate(fields):
            value = scales[(b + i) % len(scales)] if scales else float(rng.uniform(0.001, 0.05) * rng.choice([-1, 1]))
            raw[b * type_size + offset: b * type_size + offset + 2] = f16_bytes(value)
    return bytes(raw)


def quant_case(name: str, qtype: T, raw: bytes) -> dict:
    values = dequantize(np.frombuffer(raw, dtype=np.uint8).copy(), qtype)
    return {
        "name": name,
        "type": qtype.name,
        "typeCode": int(qtype),
        "count": int(values.size),
        "bytes": base64.b64encode(raw).decode(),
        "bits": bits(values),
    }


def make_quant_fixture() -> None:
    cases = []
    # Plain float types.
    data = rng.standard_normal(64).astype(np.float32)
    cases.append(quant_case("F32", T.F32, data.tobytes()))
    cases.append(quant_case("F16", T.F16, data.astype(np.float16).tobytes()))
    cases.append(quant_case("BF16", T.BF16, quantize(data.reshape(2, 32), T.BF16).tobytes()))
    # Legacy types: quantised from data, and random bytes (every nibble/bit pattern).
    for qtype in (T.Q4_0, T.Q4_1, T.Q5_0, T.Q5_1, T.Q8_0):
        data = (rng.standard_normal((4, 32)) * rng.uniform(0.1, 3)).astype(np.float32)
        cases.append(quant_case(f"{qtype.name} quantised", qtype, quantize(data, qtype).tobytes()))
        cases.append(quant_case(f"{qtype.name} random", qtype, random_blocks(qtype, 3)))
    # k-quants: random bytes with sane scales; one extra case with a subnormal f16 scale,
    # a negative one and a zero one.
    for qtype in (T.Q2_K, T.Q3_K, T.Q4_K, T.Q5_K, T.Q6_K):
        cases.append(quant_case(f"{qtype.name} random", qtype, random_blocks(qtype, 2)))
        cases.append(quant_case(f"{qtype.name} edge scales", qtype,
                                random_blocks(qtype, 2, scales=[3.0e-6, -0.02, 0.0, 0.75])))
    out = {"generator": GENERATOR, "cases": cases}
    path = FIXTURES / "gguf_quants.json"
    path.write_text(json.dumps(out, separators=(",", ":")) + "\n")
    print(f"wrote {path} ({path.stat().st_size} bytes, {len(cases)} cases)")


def make_tiny_gguf() -> None:
    import tempfile
    path = Path(tempfile.mkdtemp()) / "tiny.gguf"
    w = gguf.GGUFWriter(str(path), arch="tinyllama")
    w.add_name("tiny test model")
    w.add_block_count(2)
    w.add_embedding_length(64)
    w.add_head_count(4)
    w.add_head_count_kv(2)
    w.add_uint8("test.u8", 200)
    w.add_int8("test.i8", -7)
    w.add_uint16("test.u16", 60000)
    w.add_int16("test.i16", -30000)
    w.add_uint32("test.u32", 4000000000)
    w.add_int32("test.i32", -2000000000)
    w.add_float32("test.f32", 1.5)
    w.add_uint64("test.u64", 2**63 + 5)
    w.add_int64("test.i64", -(2**40))
    w.add_float64("test.f64", 0.1)
    w.add_bool("test.bool", True)
    w.add_string("test.string", "héllo wörld")
    w.add_array("test.ints", [1, -2, 3])
    w.add_array("test.strings", ["a", "bc", ""])
    w.add_array("test.floats", [0.5, 0.25])
    w.add_key_value("test.nested", [[1, 2], [3]], gguf.GGUFValueType.ARRAY)

    f32 = rng.standard_normal((4, 8)).astype(np.float32)
    w.add_tensor("tensor.f32", f32)
    w.add_tensor("tensor.f16", rng.standard_normal((2, 16)).astype(np.float16))
    w.add_tensor("tensor.bf16", quantize(rng.standard_normal((2, 32)).astype(np.float32), T.BF16),
                 raw_dtype=T.BF16)
    w.add_tensor("tensor.q8_0", quantize(rng.standard_normal((2, 64)).astype(np.float32), T.Q8_0),
                 raw_dtype=T.Q8_0)
    w.add_tensor("tensor.q4_k", np.frombuffer(random_blocks(T.Q4_K, 1), dtype=np.uint8).reshape(1, -1).copy(),
                 raw_dtype=T.Q4_K)
    w.add_tensor("tensor.q6_k", np.frombuffer(random_blocks(T.Q6_K, 1), dtype=np.uint8).reshape(1, -1).copy(),
                 raw_dtype=T.Q6_K)
    w.add_tensor("tensor.iq4_nl", rng.integers(0, 256, size=(1, 18), dtype=np.uint8), raw_dtype=T.IQ4_NL)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()

    reader = gguf.GGUFReader(str(path))
    tensors = {}
    for t in reader.tensors:
        entry = {"type": t.tensor_type.name, "dims": [int(d) for d in t.shape], "offset": int(t.data_offset)}
        if t.tensor_type != T.IQ4_NL:
            entry["bits"] = bits(dequantize(t.data, t.tensor_type))
        tensors[t.name] = entry
    out = {
        "generator": GENERATOR,
        "version": int(reader.fields["GGUF.version"].contents()),
        "alignment": int(reader.alignment),
        "dataOffset": int(reader.data_offset),
        "metadata": {k: f.contents() for k, f in reader.fields.items() if not k.startswith("GGUF.")},
        "tensors": tensors,
        "file": base64.b64encode(path.read_bytes()).decode("ascii"),
    }
    (FIXTURES / "tiny_gguf.json").write_text(json.dumps(out, indent=1) + "\n")
    print(f"wrote tiny_gguf.json (a {path.stat().st_size}-byte GGUF inside)")


def make_smollm2_reference() -> None:
    model = CACHE / "models" / "smollm2" / "SmolLM2-135M-Instruct.Q4_1.gguf"
    if not model.exists():
        print(f"skipping smollm2_reference.json: {model} is missing (run scripts/fetch-assets.sh)", file=sys.stderr)
        return
    reader = gguf.GGUFReader(str(model))
    wanted = ["token_embd.weight", "blk.0.ffn_down.weight", "blk.0.attn_q.weight",
              "blk.0.attn_norm.weight", "output_norm.weight"]
    tensors = {}
    for t in reader.tensors:
        if t.name not in wanted:
            continue
        values = dequantize(t.data, t.tensor_type).reshape(-1).astype(np.float32)
        tensors[t.name] = {
            "type": t.tensor_type.name,
            "shape": [int(d) for d in reversed(t.shape)],  # row-major, outermost first
            "first": [float(v) for v in values[:16]],
            "last": [float(v) for v in values[-16:]],
            "sum": float(values.astype(np.float64).sum()),
        }
    keys = ["general.architecture", "llama.block_count", "llama.embedding_length",
            "llama.attention.head_count", "llama.attention.head_count_kv", "llama.vocab_size",
            "llama.rope.freq_base", "tokenizer.ggml.model"]
    out = {
        "generator": GENERATOR,
        "file": "models/smollm2/SmolLM2-135M-Instruct.Q4_1.gguf",
        "tensorCount": len(reader.tensors),
        "metadata": {k: reader.fields[k].contents() for k in keys},
        "tokenCount": len(reader.fields["tokenizer.ggml.tokens"].contents()),
        "firstTokens": reader.fields["tokenizer.ggml.tokens"].contents()[:5],
        "tensors": tensors,
    }
    (FIXTURES / "smollm2_reference.json").write_text(json.dumps(out, indent=1) + "\n")
    print("wrote smollm2_reference.json")


if __name__ == "__main__":
    FIXTURES.mkdir(parents=True, exist_ok=True)
    make_quant_fixture()
    make_tiny_gguf()
    make_smollm2_reference()
