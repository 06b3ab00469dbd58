"""Categorical latent codes read from z itself (InfoGAN, Chen et al., 2016, without new inputs).

Code i is the argmax of its own `sizes[i]` components of z: the argmax of k independent
N(0, 1) draws is uniform over k categories, so every z still comes from N(0, I) and the
service samples a coded generator exactly as any other (seeds, batching and truncation alike).
G sees each code as a one-hot vector beside z; D has a head that recovers the codes from G's
samples, and both are trained to make that recovery easy (the mutual-information term).
A Gaussian z folds its mass into disconnected classes through thin borders, where G draws
images halfway between classes; a discrete code lets G put the classes apart.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def code_blocks(z: torch.Tensor, sizes: tuple[int, ...]) -> list[torch.Tensor]:
    """The components of z that hold each code: [(B, sizes[0]), (B, sizes[1]), ...]."""
    blocks, start = [], 0
    for size in sizes:
        blocks.append(z[:, start : start + size])
        start += size
    return blocks


def code_indices(z: torch.Tensor, sizes: tuple[int, ...]) -> torch.Tensor:
    """Each sample's category under each code: (B, len(sizes)) int64."""
    return torch.stack([block.argmax(dim=1) for block in code_blocks(z, sizes)], dim=1)


def code_one_hots(z: torch.Tensor, sizes: tuple[int, ...]) -> torch.Tensor:
    """The codes as concatenated one-hot vectors, (B, sum(sizes)), in z's dtype. Exactly one
    category per code even where a block's components tie (the zero rows that pad a batch)."""
    return torch.cat(
        [
            F.one_hot(block.argmax(dim=1), block.shape[1]).to(z.dtype)
            for block in code_blocks(z, sizes)
        ],
        dim=1,
    )


def code_loss(logits: torch.Tensor, indices: torch.Tensor, sizes: tuple[int, ...]) -> torch.Tensor:
    """Cross-entropy of the recovered codes, summed over codes and averaged over samples:
    logits (B, sum(sizes)), indices (B, len(sizes))."""
    total, start = logits.new_zeros((), dtype=torch.float32), 0
    for i, size in enumerate(sizes):
        total = total + F.cross_entropy(logits[:, start : start + size].float(), indices[:, i])
        start += size
    return total
