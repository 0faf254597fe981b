#!/usr/bin/env python3
"""PyTorch side of `trimtab bench --job decode-batch8` (see torch_decode.py)."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import torch_decode  # noqa: E402

if __name__ == "__main__":
    sys.argv += ["--batch", "8"]
    torch_decode.main()
