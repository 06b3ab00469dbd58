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


def interpolate(z_a: np.ndarray, z_b: np.ndarray, steps: int, method: str) -> np.ndarray:
    """`steps` points from z_a to z_b (both (z_dim,)), as float32 (steps, z_dim): `lerp` along
    the straight line; `slerp` turns the direction along the great circle (Shoemake) while the
    length moves linearly, so the points keep the norm a Gaussian z typically has. Computed
    in float64; the first and last points are z_a and z_b exactly, so a walk's ends are the
    samples at those two addresses."""
    if steps < 2:
        raise ValueError(f"steps must be >= 2, got {steps}")
    a, b = z_a.astype(np.float64), z_b.astype(np.float64)
    t = np.linspace(0.0, 1.0, steps)[:, None]  # (steps, 1)
    if method == "lerp":
        path = (1.0 - t) * a + t * b
    elif method == "slerp":
        norm_a, norm_b = np.linalg.norm(a), np.linalg.norm(b)
        unit_a, unit_b = a / max(norm_a, 1e-12), b / max(norm_b, 1e-12)
        omega = np.arccos(np.clip(np.dot(unit_a, unit_b), -1.0, 1.0))
        if np.sin(omega) < 1e-6:  # (anti)parallel: the great circle is not defined
            return _exact_ends((1.0 - t) * a + t * b, z_a, z_b)
        # The direction turns at a constant rate; the length moves linearly between the two.
        turn = np.sin((1.0 - t) * omega) * unit_a + np.sin(t * omega) * unit_b
        path = turn / np.sin(omega) * ((1.0 - t) * norm_a + t * norm_b)
    else:
        raise ValueError(f"method must be 'slerp' or 'lerp', got {method!r}")
    return _exact_ends(path, z_a, z_b)


def _exact_ends(path: np.ndarray, z_a: np.ndarray, z_b: np.ndarray) -> np.ndarray:
    out = path.astype(np.float32)  # (steps, z_dim)
    out[0], out[-1] = z_a, z_b
    return out
