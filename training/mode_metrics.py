"""Mode coverage on the Gaussian mixtures, by the VEEGAN / PacGAN protocol.

Draw PROTOCOL_SAMPLES generated points. A point is high quality when it lies within 3 std of its
nearest mode centre; a mode is covered when it is the nearest centre of at least one
high-quality point. The KL divergence compares the distribution of high-quality points over
modes with the uniform one: 0 means a perfectly balanced cover.
"""

from __future__ import annotations

import math

import numpy as np

from training.datasets import Mixture

PROTOCOL_SAMPLES = 2500
HQ_STDS = 3.0


def mode_metrics(samples: np.ndarray, mixture: Mixture) -> dict:
    """samples (N, D) in data coordinates -> modes_covered, num_modes, high_quality_pct, KL.

    With no high-quality sample at all, KL is reported as log(K): the KL of a point mass on one
    mode, the worst value a non-empty cover can have, so the number stays finite and ordered.
    """
    x = np.asarray(samples, dtype=np.float64)  # (N, D)
    if x.ndim == 1:
        x = x[:, None]  # (N, 1)
    centers = np.asarray(mixture.centers, dtype=np.float64)  # (K, D)
    k = centers.shape[0]
    if x.shape[0] == 0:
        return _result(0, k, 0.0, math.log(k))
    nearest, dist = nearest_mode(x, centers)  # (N,), (N,)
    hq = dist <= HQ_STDS * mixture.std  # (N,)
    counts = np.bincount(nearest[hq], minlength=k)  # (K,)
    covered = int((counts > 0).sum())
    hq_pct = 100.0 * float(hq.mean())
    if counts.sum() == 0:
        return _result(covered, k, hq_pct, math.log(k))
    p = counts / counts.sum()  # (K,)
    nz = p > 0
    kl = float((p[nz] * np.log(p[nz] * k)).sum())
    return _result(covered, k, hq_pct, max(kl, 0.0))


def nearest_mode(x: np.ndarray, centers: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """points (N, D), centers (K, D) -> index of the nearest centre (N,), distance to it (N,)."""
    sq = ((x[:, None, :] - centers[None, :, :]) ** 2).sum(axis=-1)  # (N, K)
    nearest = sq.argmin(axis=1)  # (N,)
    return nearest, np.sqrt(sq[np.arange(x.shape[0]), nearest])


def _result(covered: int, k: int, hq_pct: float, kl: float) -> dict:
    return {
        "modes_covered": covered,
        "num_modes": k,
        "high_quality_pct": hq_pct,
        "kl_to_uniform": kl,
    }
