"""Generator output to data users can keep: uint8 pixels for images, floats for vectors."""

from __future__ import annotations

import numpy as np
import torch


def to_uint8_images(x: torch.Tensor) -> np.ndarray:
    """(B, C, H, W) in [-1, 1] -> (B, H, W, C) uint8, rounded to nearest."""
    x = ((x.detach().float().clamp(-1, 1) + 1) * 127.5).round_().to(torch.uint8)
    return x.permute(0, 2, 3, 1).contiguous().cpu().numpy()


def to_vectors(x: torch.Tensor) -> np.ndarray:
    """(B, D) -> float32 array (B, D)."""
    return x.detach().float().cpu().numpy()
