#!/usr/bin/env python3
"""PyTorch + PEFT side of `trimtab bench --job lora` (see torch_train_step.py)."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import torch_train_step  # noqa: E402

if __name__ == "__main__":
    torch_train_step.main("lora")
