#!/usr/bin/env python3
"""Reference fixtures for TrimtabIO's safetensors reader and writer.

Writes into Tests/TrimtabIOTests/Fixtures/:
  tiny.safetensors         a small file written by the `safetensors` package (torch
                           backend) with F32, F16, BF16, F64, I64, I32, U8 and BOOL
                           tensors and a __metadata__ map.
  tiny_safetensors.json    the tensors' dtypes, shapes and values as read back by
                           safetensors (floats exact: every value is an f32 widened to f64).
  minilm_reference.json    first/last 16 values of a few tensors of
                           $TRIMTAB_CACHE/models/all-minilm-l6-v2/model.safetensors
                           (skipped with a message if the model is not there).

Check mode: `io_safetensors.py --check FILE` opens a file written by Trimtab's
SafetensorsWriter with the reference implementation and compares it with the sample the
writer test writes when TRIMTAB_IO_WRITE_SAMPLE=FILE is set:
  TRIMTAB_IO_WRITE_SAMPLE=/tmp/sample.safetensors swift test --filter SafetensorsWriterTests
  $(scripts/reference/setup-venv.sh) scripts/reference/io_safetensors.py --check /tmp/sample.safetensors

Run: $(scripts/reference/setup-venv.sh) scripts/reference/io_safetensors.py
"""
import json
import os
import sys
from importlib.metadata import version
from pathlib import Path

import numpy as np
import torch
from safetensors import safe_open
from safetensors.torch import save_file

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "Tests" / "TrimtabIOTests" / "Fixtures"
CACHE = Path(os.environ.get("TRIMTAB_CACHE", Path.home() / ".cache" / "trimtab"))
GENERATOR = f"scripts/reference/io_safetensors.py (safetensors {version('safetensors')}, torch {torch.__version__})"


def values(t: torch.Tensor) -> list:
    t = t.reshape(-1)
    if t.dtype in (torch.int64, torch.int32, torch.uint8, torch.bool):
        return [int(v) for v in t.tolist()]
    return [float(v) for v in t.to(torch.float32).tolist()]


def make_tiny() -> None:
    g = torch.Generator().manual_seed(7)
    tensors = {
        "weight.f32": torch.randn(3, 4, generator=g),
        "weight.f16": torch.randn(5, generator=g).to(torch.float16),
        "weight.bf16": torch.randn(2, 3, generator=g).to(torch.bfloat16),
        "weight.f64": torch.tensor([0.1, -2.5], dtype=torch.float64),
        "ids.i64": torch.tensor([0, 1, -3, 70000], dtype=torch.int64),
        "ids.i32": torch.tensor([[5, -6], [7, 8]], dtype=torch.int32),
        "mask.u8": torch.tensor([0, 128, 255], dtype=torch.uint8),
        "mask.bool": torch.tensor([True, False], dtype=torch.bool),
        "scalar.f32": torch.tensor(2.5),
        "empty.f32": torch.zeros(0, 3),
    }
    path = FIXTURES / "tiny.safetensors"
    save_file(tensors, str(path), metadata={"format": "pt", "note": "tiny \"fixture\""})
    out = {"generator": GENERATOR, "metadata": {}, "tensors": {}}
    with safe_open(str(path), framework="pt") as f:
        out["metadata"] = f.metadata()
        for name in f.keys():
            t = f.get_tensor(name)
            dtype = str(t.dtype).replace("torch.", "")
            out["tensors"][name] = {"dtype": dtype, "shape": list(t.shape), "values": values(t)}
    (FIXTURES / "tiny_safetensors.json").write_text(json.dumps(out, indent=1) + "\n")
    print(f"wrote {path} ({path.stat().st_size} bytes) and tiny_safetensors.json")


def make_minilm_reference() -> None:
    model = CACHE / "models" / "all-minilm-l6-v2" / "model.safetensors"
    if not model.exists():
        print(f"skipping minilm_reference.json: {model} is missing (run scripts/fetch-assets.sh)", file=sys.stderr)
        return
    wanted = ["embeddings.word_embeddings.weight", "encoder.layer.0.attention.self.query.weight",
              "encoder.layer.5.output.LayerNorm.bias", "embeddings.position_ids"]
    out = {"generator": GENERATOR, "file": "models/all-minilm-l6-v2/model.safetensors", "tensors": {}}
    with safe_open(str(model), framework="pt") as f:
        out["tensorCount"] = len(list(f.keys()))
        out["parameterCount"] = sum(int(np.prod(f.get_slice(k).get_shape())) for k in f.keys())
        out["metadata"] = f.metadata()
        for name in wanted:
            t = f.get_tensor(name)
            flat = values(t)
            out["tensors"][name] = {"dtype": str(t.dtype).replace("torch.", ""), "shape": list(t.shape),
                                    "first": flat[:16], "last": flat[-16:]}
    (FIXTURES / "minilm_reference.json").write_text(json.dumps(out, indent=1) + "\n")
    print("wrote minilm_reference.json")


def check(path: str) -> None:
    """Compares the writer test's sample (see SafetensorsWriterTests) with what it should hold."""
    expected = {
        "a": (torch.float32, [3, 4], [i / 4 for i in range(12)]),
        "b": (torch.bfloat16, [3], [-1.5, 0.25, 3.0]),
        "c": (torch.float16, [2], [1.0, -2.0]),
        "z.scalar": (torch.float32, [], [7.0]),
    }
    with safe_open(path, framework="pt") as f:
        assert f.metadata() == {"format": "pt", "quote": "say \"hi\"\n"}, f.metadata()
        assert sorted(f.keys()) == sorted(expected), list(f.keys())
        for name, (dtype, shape, vals) in expected.items():
            t = f.get_tensor(name)
            assert t.dtype == dtype and list(t.shape) == shape, (name, t.dtype, t.shape)
            assert values(t) == vals, (name, values(t))
    with open(path, "rb") as fh:
        n = int.from_bytes(fh.read(8), "little")
        header = fh.read(n)
    assert n % 8 == 0 and header.endswith(b"}" + b" " * (len(header) - len(header.rstrip(b" ")))), header
    print(f"{path}: OK: read by safetensors {version('safetensors')}, header {n} bytes: {header.decode().rstrip()}")


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--check":
        check(sys.argv[2])
        sys.exit(0)
    FIXTURES.mkdir(parents=True, exist_ok=True)
    make_tiny()
    make_minilm_reference()
