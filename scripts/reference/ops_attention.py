#!/usr/bin/env python3
"""Reference numbers for the `rope` and `attention` ops (PyTorch).

Writes Tests/TrimtabTensorTests/Fixtures/ops_attention.json, read by RoPEOpTests and
AttentionOpTests. Each case holds the inputs, a random output gradient `dout`, the
forward output `out` and the gradients of every input (`d<name>`).

- RoPE angles come from transformers' `LlamaRotaryEmbedding` (f32, as HF computes them);
  rotate-half applies HF's `apply_rotary_pos_emb` (partial rotary: the first `rotaryDim`
  dims, as GPT-NeoX / Phi / StableLM do), interleaved applies Meta's `view_as_complex`
  rotation of adjacent pairs. The rotation itself runs in f64.
- Attention is the explicit `softmax(Q Kᵀ · scale + mask) V` in f64 with
  `repeat_interleave` for grouped-query heads, prefix rows concatenated before the keys,
  and rows with no visible key set to zero.

Inputs are f32 values; references are computed in f64 and stored rounded to f32.

Run: $(scripts/reference/setup-venv.sh) scripts/reference/ops_attention.py
"""
import json
import math
import os

import torch
from transformers import LlamaConfig
from transformers.models.llama.modeling_llama import LlamaRotaryEmbedding, apply_rotary_pos_emb

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "..", "..", "Tests", "TrimtabTensorTests", "Fixtures", "ops_attention.json")

gen = torch.Generator().manual_seed(1234)


def randn(*shape):
    """f32 normal samples, returned as f64 (the exact values stored in the fixture)."""
    return torch.randn(*shape, generator=gen, dtype=torch.float32).double()


def entry(t):
    t = t.detach().to(torch.float32)
    # 9 significant digits round-trip an f32 exactly and keep the file small.
    return {"shape": list(t.shape), "data": [float("%.9g" % v) for v in t.reshape(-1).tolist()]}


def hf_cos_sin(rotary_dim, base, positions):
    """cos/sin [N, rotary_dim] (HF layout: the half-table repeated) for a list of positions, f32."""
    config = LlamaConfig(hidden_size=rotary_dim, num_attention_heads=1, head_dim=rotary_dim,
                         rope_parameters={"rope_type": "default", "rope_theta": base})
    rotary = LlamaRotaryEmbedding(config)
    pos = torch.tensor(positions, dtype=torch.long)[None, :]
    cos, sin = rotary(torch.zeros(1, dtype=torch.float32), pos)
    return cos[0], sin[0]


def rope_reference(x, positions, rotary_dim, base, layout):
    """x [B, T, H, D] f64, positions [B, T]."""
    B, T, H, D = x.shape
    flat = [p for row in positions for p in row]
    cos, sin = hf_cos_sin(rotary_dim, base, flat)  # [B*T, rotary_dim] f32
    cos = cos.double().reshape(B, T, rotary_dim)
    sin = sin.double().reshape(B, T, rotary_dim)
    rot, rest = x[..., :rotary_dim], x[..., rotary_dim:]
    if layout == "rotateHalf":
        y, _ = apply_rotary_pos_emb(rot, rot, cos, sin, unsqueeze_dim=2)
    else:
        half = rotary_dim // 2
        angles_cos, angles_sin = cos[:, :, None, :half], sin[:, :, None, :half]
        freqs_cis = torch.complex(angles_cos, angles_sin)  # polar(1, θ) from HF's f32 angles
        xc = torch.view_as_complex(rot.reshape(B, T, H, half, 2).contiguous())
        y = torch.view_as_real(xc * freqs_cis).reshape(B, T, H, rotary_dim)
    return torch.cat([y, rest], dim=-1)


def rope_case(name, B, T, H, D, rotary_dim, base, layout, positions):
    x = randn(B, T, H, D).requires_grad_()
    dout = randn(B, T, H, D)
    out = rope_reference(x, positions, rotary_dim, base, layout)
    out.backward(dout)
    return {
        "name": name,
        "params": {"op": "rope", "layout": layout, "rotaryDim": rotary_dim, "base": base,
                   "positions": [p for row in positions for p in row]},
        "tensors": {"x": entry(x), "dout": entry(dout), "out": entry(out), "dx": entry(x.grad)},
    }


def table_case(name, head_dim, rotary_dim, base, positions):
    cos, sin = hf_cos_sin(rotary_dim, base, positions)
    half = rotary_dim // 2
    return {
        "name": name,
        "params": {"op": "ropeTable", "headDim": head_dim, "rotaryDim": rotary_dim, "base": base,
                   "positions": positions},
        "tensors": {"cos": entry(cos[:, :half]), "sin": entry(sin[:, :half])},
    }


def attention_reference(q, k, v, causal, key_mask, pk, pv, prefix_mask, scale):
    B, T, Hq, D = q.shape
    S, Hkv = k.shape[1], k.shape[2]
    r = Hq // Hkv
    allowed = torch.ones(B, T, S, dtype=torch.bool)
    if key_mask is not None:
        allowed &= torch.tensor(key_mask, dtype=torch.bool).reshape(B, 1, S)
    if causal:
        t = torch.arange(T).reshape(T, 1)
        j = torch.arange(S).reshape(1, S)
        allowed &= (j <= t + (S - T))[None]
    if pk is not None:
        P = pk.shape[1]
        pk = pk.expand(B, -1, -1, -1)
        pv = pv.expand(B, -1, -1, -1)
        k = torch.cat([pk, k], dim=1)
        v = torch.cat([pv, v], dim=1)
        pallowed = torch.ones(B, T, P, dtype=torch.bool)
        if prefix_mask is not None:
            pallowed &= torch.tensor(prefix_mask, dtype=torch.bool).reshape(B, 1, P)
        allowed = torch.cat([pallowed, allowed], dim=2)
    kk = k.repeat_interleave(r, dim=2)
    vv = v.repeat_interleave(r, dim=2)
    scores = torch.einsum("bthd,bshd->bhts", q, kk) * scale
    allowed = allowed[:, None]  # [B, 1, T, P+S]
    any_allowed = allowed.any(dim=-1, keepdim=True)
    scores = scores.masked_fill(~allowed, float("-inf"))
    scores = torch.where(any_allowed, scores, torch.zeros_like(scores))  # no NaN for empty rows
    probs = torch.softmax(scores, dim=-1)
    probs = torch.where(any_allowed, probs, torch.zeros_like(probs))
    return torch.einsum("bhts,bshd->bthd", probs, vv)


def attention_case(name, B, T, S, Hq, Hkv, D, causal=True, key_mask=None, P=0, Bp=1, prefix_mask=None,
                   scale=None):
    q = randn(B, T, Hq, D).requires_grad_()
    k = randn(B, S, Hkv, D).requires_grad_()
    v = randn(B, S, Hkv, D).requires_grad_()
    pk = randn(Bp, P, Hkv, D).requires_grad_() if P > 0 else None
    pv = randn(Bp, P, Hkv, D).requires_grad_() if P > 0 else None
    dout = randn(B, T, Hq, D)
    used_scale = scale if scale is not None else 1 / math.sqrt(D)
    out = attention_reference(q, k, v, causal, key_mask, pk, pv, prefix_mask, used_scale)
    out.backward(dout)
    tensors = {"query": entry(q), "key": entry(k), "value": entry(v), "dout": entry(dout), "out": entry(out),
               "dquery": entry(q.grad), "dkey": entry(k.grad), "dvalue": entry(v.grad)}
    if pk is not None:
        tensors.update({"prefixKey": entry(pk), "prefixValue": entry(pv),
                        "dprefixKey": entry(pk.grad), "dprefixValue": entry(pv.grad)})
    params = {"op": "attention", "causal": causal}
    if key_mask is not None:
        params["keyMask"] = key_mask
    if prefix_mask is not None:
        params["prefixMask"] = prefix_mask
    if scale is not None:
        params["scale"] = scale
    return {"name": name, "params": params, "tensors": tensors}


def main():
    cases = [
        table_case("table_llama", 64, 64, 10000.0, [0, 1, 2, 17, 127, 1000, 4095]),
        table_case("table_partial", 32, 16, 500000.0, [0, 3, 255, 2048]),
        rope_case("rope_half", 2, 3, 2, 8, 8, 10000.0, "rotateHalf", [[0, 1, 2], [5, 9, 40]]),
        rope_case("rope_interleaved", 2, 3, 2, 8, 8, 10000.0, "interleaved", [[0, 1, 2], [3, 0, 63]]),
        rope_case("rope_half_partial", 1, 4, 3, 12, 6, 100.0, "rotateHalf", [[4, 5, 6, 7]]),
        rope_case("rope_interleaved_partial", 2, 2, 1, 10, 4, 10000.0, "interleaved", [[2, 3], [11, 12]]),
        attention_case("causal_gqa2", B=2, T=4, S=4, Hq=4, Hkv=2, D=8),
        attention_case("causal_mha_one_head", B=1, T=5, S=5, Hq=1, Hkv=1, D=6),
        attention_case("noncausal_padding", B=2, T=3, S=5, Hq=2, Hkv=2, D=8, causal=False,
                       key_mask=[1, 1, 1, 0, 0, 1, 1, 1, 1, 1]),
        attention_case("causal_cache_offset_left_padding", B=2, T=2, S=5, Hq=3, Hkv=1, D=4,
                       key_mask=[1, 1, 1, 1, 1, 0, 0, 1, 1, 1]),
        attention_case("decode_step_gqa3", B=2, T=1, S=6, Hq=6, Hkv=2, D=8, key_mask=[1] * 6 + [0, 1, 1, 1, 1, 1]),
        attention_case("fully_masked_row", B=2, T=2, S=3, Hq=2, Hkv=1, D=4, causal=False,
                       key_mask=[1, 0, 1, 0, 0, 0]),
        attention_case("causal_left_pad_masked_query", B=1, T=4, S=4, Hq=2, Hkv=2, D=4, key_mask=[0, 0, 1, 1]),
        attention_case("prefix_broadcast", B=2, T=3, S=3, Hq=4, Hkv=2, D=8, P=3, Bp=1,
                       key_mask=[1, 1, 1, 0, 1, 1]),
        attention_case("prefix_per_row_lengths", B=2, T=3, S=3, Hq=3, Hkv=3, D=4, P=4, Bp=2,
                       prefix_mask=[1, 1, 1, 1, 1, 1, 0, 0]),
        attention_case("prefix_broadcast_masked_scale", B=3, T=2, S=4, Hq=2, Hkv=1, D=4, causal=True, P=2, Bp=1,
                       prefix_mask=[1, 1, 1, 0, 0, 0], key_mask=[1] * 4 + [0, 1, 1, 1] + [0, 0, 1, 1], scale=0.7),
    ]
    with open(OUT, "w") as f:
        json.dump({"generator": "scripts/reference/ops_attention.py (torch %s)" % torch.__version__,
                   "cases": cases}, f, separators=(",", ":"))
    print("wrote", os.path.normpath(OUT), os.path.getsize(OUT), "bytes,", len(cases), "cases")


if __name__ == "__main__":
    main()
