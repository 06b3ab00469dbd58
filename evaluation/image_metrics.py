"""Image quality metrics on arrays: pure functions, no networks.

- Fréchet distance between Gaussians fitted to two feature sets (Heusel et al., 2017), here in
  the project classifier's penultimate features rather than Inception's.
- The class histogram's KL divergence to uniform, and the mean max-softmax confidence.
- Parzen-window log-likelihood (Goodfellow et al., 2014, Table 1; Breuleux et al., 2011): fit an
  isotropic Gaussian kernel of width sigma on the generated images, choose sigma on one half of
  the held-out images, report the mean log-likelihood of the other half with its standard error.
  Pixels in [0, 1], as in the paper.
"""

from __future__ import annotations

import math

import numpy as np
import scipy.linalg
import torch

# Goodfellow et al.'s MNIST search range, logspace(-1, 0, 10), sampled finer.
PARZEN_SIGMAS = tuple(float(s) for s in np.logspace(-1.5, 0.0, 31))


def frechet_distance(a: np.ndarray, b: np.ndarray) -> float:
    """features a (N, F), b (M, F) -> ||mu_a - mu_b||^2 + Tr(S_a + S_b - 2 (S_a S_b)^(1/2))."""
    mu_a, mu_b = a.mean(axis=0), b.mean(axis=0)
    cov_a, cov_b = np.cov(a, rowvar=False), np.cov(b, rowvar=False)  # (F, F)
    # Tr((S_a S_b)^(1/2)) = sum of sqrt(eigenvalues of S_a^(1/2) S_b S_a^(1/2)), a symmetric
    # PSD product: exact for the singular covariances of ReLU features (some are always 0).
    root_a = _psd_sqrt(cov_a)
    eig = scipy.linalg.eigvalsh(root_a @ cov_b @ root_a)
    trace_covmean = float(np.sqrt(np.clip(eig, 0.0, None)).sum())
    diff = mu_a - mu_b
    return float(diff @ diff + np.trace(cov_a) + np.trace(cov_b) - 2.0 * trace_covmean)


def _psd_sqrt(m: np.ndarray) -> np.ndarray:
    w, v = scipy.linalg.eigh(m)
    return (v * np.sqrt(np.clip(w, 0.0, None))) @ v.T


def class_kl_to_uniform(probs: np.ndarray) -> float:
    """KL(histogram of argmax classes || uniform) over the classifier's K classes."""
    k = probs.shape[1]
    counts = np.bincount(probs.argmax(axis=1), minlength=k)
    p = counts / counts.sum()
    nz = p > 0
    return float(max(0.0, (p[nz] * np.log(p[nz] * k)).sum()))


def mean_confidence(probs: np.ndarray) -> float:
    """Mean over samples of the classifier's largest class probability."""
    return float(probs.max(axis=1).mean())


def parzen_sq_distances(centres: torch.Tensor, points: torch.Tensor) -> torch.Tensor:
    """centres (N, D), points (M, D) in [0, 1] -> squared distances (M, N), float64.

    The product runs in float32 (its rounding, ~1e-5, is far below 2 sigma^2 >= 2e-3)."""
    c, p = centres.float(), points.float()
    sq = (p * p).sum(1)[:, None] + (c * c).sum(1)[None, :] - 2.0 * p @ c.T
    return sq.clamp_(min=0.0).double()


def parzen_log_likelihoods(sq: torch.Tensor, sigma: float, dim: int) -> torch.Tensor:
    """Per-point log p(x) under the mixture of N(centre, sigma^2 I): (M, N) distances -> (M,)."""
    n = sq.shape[1]
    log_norm = math.log(n) + 0.5 * dim * math.log(2.0 * math.pi * sigma * sigma)
    return torch.logsumexp(-sq / (2.0 * sigma * sigma), dim=1) - log_norm


def parzen_estimate(
    centres: torch.Tensor, validation: torch.Tensor, test: torch.Tensor
) -> dict[str, float]:
    """Images flattened to (N, D) in [0, 1]: sigma chosen on `validation`, scored on `test`.

    Returns the mean log-likelihood of the test images in nats, its standard error and sigma."""
    dim = centres.shape[1]
    sq_val = parzen_sq_distances(centres, validation)
    scores = [float(parzen_log_likelihoods(sq_val, s, dim).mean()) for s in PARZEN_SIGMAS]
    sigma = PARZEN_SIGMAS[int(np.argmax(scores))]
    ll = parzen_log_likelihoods(parzen_sq_distances(centres, test), sigma, dim)
    se = float(ll.std(unbiased=True)) / math.sqrt(ll.shape[0])
    return {"nats": float(ll.mean()), "se": se, "sigma": sigma}
