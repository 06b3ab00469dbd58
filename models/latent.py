"""Seeded noise: sample i of (seed) always gets the same z, however it is batched.

z for index j is a pure function of (seed, j): every component is drawn from a counter-based
hash (SplitMix64 of seed and a counter) and made normal by the Box-Muller transform. No
generator state is carried between samples, so sample j of a request for n=256 equals the
only sample of a request for n=1 at offset j, on any machine.
"""

from __future__ import annotations

import numpy as np

MAX_SEED = 2**63 - 1

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_MIX1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX2 = np.uint64(0x94D049BB133111EB)


def _splitmix64(x: np.ndarray) -> np.ndarray:
    x = x + _GOLDEN
    x = (x ^ (x >> np.uint64(30))) * _MIX1
    x = (x ^ (x >> np.uint64(27))) * _MIX2
    return x ^ (x >> np.uint64(31))


def _unit_interval(bits: np.ndarray) -> np.ndarray:
    """Top 53 bits as a float64 in (0, 1]."""
    return ((bits >> np.uint64(11)).astype(np.float64) + 1.0) / 2.0**53


def latent_batch(seed: int, start: int, count: int, z_dim: int) -> np.ndarray:
    """z for samples start .. start+count-1 of `seed`, as float32 of shape (count, z_dim)."""
    if not 0 <= seed <= MAX_SEED:
        raise ValueError(f"seed must be in [0, 2**63), got {seed}")
    if start < 0 or count < 0:
        raise ValueError(f"start and count must be >= 0, got {start}, {count}")
    key = _splitmix64(np.array([seed], dtype=np.uint64))
    pairs = (z_dim + 1) // 2
    index = np.arange(start, start + count, dtype=np.uint64)[:, None]  # (count, 1)
    lane = np.arange(pairs, dtype=np.uint64)[None, :]  # (1, pairs)
    counter = (index * np.uint64(pairs) + lane) * np.uint64(2)  # (count, pairs), even
    with np.errstate(over="ignore"):
        u1 = _unit_interval(_splitmix64(key ^ _splitmix64(counter)))
        u2 = _unit_interval(_splitmix64(key ^ _splitmix64(counter + np.uint64(1))))
    radius = np.sqrt(-2.0 * np.log(u1))
    angle = 2.0 * np.pi * u2
    z = np.concatenate([radius * np.cos(angle), radius * np.sin(angle)], axis=1)  # (count, 2*pairs)
    return z[:, :z_dim].astype(np.float32)


def truncate(z: np.ndarray, psi: float) -> np.ndarray:
    """The truncation trick: pull z toward the mean (0) by psi in [0, 1]."""
    return (z * np.float32(psi)).astype(np.float32)
