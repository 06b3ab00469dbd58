"""Make a loaded generator fast for inference, and find the batch sizes that keep it exact.

Speed: batch norm in eval mode is an affine map per channel, so it is folded into the
(transposed) convolution or linear layer before it; image generators run channels-last.

Exactness: the service promises that a sample's bytes depend only on (model version, seed,
index), never on what else shared its device batch. Matrix kernels may pick a different
blocking, and so a different summation order, for a different number of rows (measured on
this project's CPU: an MLP gives different last bits for 1..15 rows than for 64). So the
device always runs one of a few fixed batch sizes ("buckets", padded with zero rows), and
`calibrate` keeps only the buckets whose every row is bit-identical to the same z run inside
a full `max_batch` batch at another position. Buckets that fail are never used.
"""

from __future__ import annotations

import copy
import logging
import math
import time
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from models.latent import latent_batch

log = logging.getLogger("service.inference")

CALIBRATION_SEED = 0x5EED
_AFFINE = (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)
_NORMS = (nn.BatchNorm1d, nn.BatchNorm2d)


@dataclass(frozen=True)
class Calibration:
    buckets: tuple[int, ...]  # batch sizes the device may run, ascending, max_batch last
    exact: bool  # False: even the full batch depends on row position or on the run
    forward_s: float  # one forward at max_batch, measured after warm-up

    def bucket_for(self, rows: int) -> int:
        for size in self.buckets:
            if size >= rows:
                return size
        return self.buckets[-1]


def fold_batchnorm(seq: nn.Sequential) -> nn.Sequential:
    """A copy of `seq` with every (conv | linear) -> batch norm pair merged into one layer."""
    layers = list(seq)
    out: list[nn.Module] = []
    i = 0
    while i < len(layers):
        layer = layers[i]
        nxt = layers[i + 1] if i + 1 < len(layers) else None
        if isinstance(layer, _AFFINE) and isinstance(nxt, _NORMS) and nxt.track_running_stats:
            out.append(_fold_pair(layer, nxt))
            i += 2
        else:
            out.append(copy.deepcopy(layer))
            i += 1
    return nn.Sequential(*out)


def _fold_pair(layer: nn.Module, norm: nn.Module) -> nn.Module:
    """gamma (W x + b - mean) / sqrt(var + eps) + beta == (s W) x + (s (b - mean) + beta)."""
    fused = copy.deepcopy(layer)
    with torch.no_grad():
        w = layer.weight.double()
        scale = norm.weight.double() / torch.sqrt(norm.running_var.double() + norm.eps)
        bias = layer.bias.double() if layer.bias is not None else torch.zeros_like(scale)
        if isinstance(layer, nn.ConvTranspose2d):
            w = w * scale.view(1, -1, 1, 1)  # weight (in, out / groups, kH, kW)
        elif isinstance(layer, nn.Conv2d):
            w = w * scale.view(-1, 1, 1, 1)  # weight (out, in / groups, kH, kW)
        else:
            w = w * scale.view(-1, 1)  # weight (out, in)
        b = (bias - norm.running_mean.double()) * scale + norm.bias.double()
        fused.weight = nn.Parameter(w.to(layer.weight.dtype), requires_grad=False)
        fused.bias = nn.Parameter(b.to(layer.weight.dtype), requires_grad=False)
    return fused


def optimize_generator(
    generator: nn.Module, *, fold: bool = True, channels_last: bool = True
) -> nn.Module:
    """An inference copy of `generator` (eval mode, no grads), batch norm folded, channels-last."""
    fast = copy.deepcopy(generator).eval()
    if fold and isinstance(getattr(fast, "net", None), nn.Sequential):
        fast.net = fold_batchnorm(fast.net)
    if channels_last and any(isinstance(m, nn.Conv2d | nn.ConvTranspose2d) for m in fast.modules()):
        fast = fast.to(memory_format=torch.channels_last)
    for p in fast.parameters():
        p.requires_grad_(False)
    return fast.eval()


def bucket_ladder(max_batch: int) -> list[int]:
    """1, 2, 4, ... below max_batch, then max_batch."""
    ladder = [2**k for k in range(max(1, math.ceil(math.log2(max_batch)))) if 2**k < max_batch]
    return [*ladder, max_batch]


def calibrate(module: nn.Module, z_dim: int, max_batch: int, device: torch.device) -> Calibration:
    """Warm up, time the full batch, and keep the buckets that reproduce it bit for bit."""
    z = torch.from_numpy(latent_batch(CALIBRATION_SEED, 0, max_batch, z_dim)).to(device)

    def run(x: torch.Tensor) -> torch.Tensor:
        with torch.inference_mode():
            y = module(x)
        if y.device.type == "cuda":
            torch.cuda.synchronize(y.device)
        return y

    reference = run(z)  # (max_batch, ...) the canonical result; also the warm-up
    start = time.perf_counter()
    again = run(z)
    forward_s = time.perf_counter() - start
    shift = max_batch // 2 + 1
    rolled = run(torch.roll(z, shift, 0))
    exact = torch.equal(again, reference) and torch.equal(rolled, torch.roll(reference, shift, 0))
    if not exact:
        log.warning("batch results depend on row position or vary run to run on %s", device)
        return Calibration((max_batch,), False, forward_s)
    kept = []
    for size in bucket_ladder(max_batch)[:-1]:
        if _bucket_is_exact(run, z, reference, size):
            kept.append(size)
    return Calibration((*kept, max_batch), True, forward_s)


def _bucket_is_exact(run, z: torch.Tensor, reference: torch.Tensor, size: int) -> bool:
    """Rows of z, at other positions and beside zero padding, must give the reference bits."""
    max_batch = z.shape[0]
    trials = max(2, math.ceil(32 / size))
    rng = np.random.default_rng(size)
    for trial in range(trials):
        rows = size if trial % 2 == 0 else max(1, (size + 1) // 2)  # full, then half-padded
        first = int(rng.integers(0, max_batch - rows + 1))
        batch = torch.zeros(size, *z.shape[1:], dtype=z.dtype, device=z.device)  # (size, z_dim)
        batch[:rows] = z[first : first + rows]
        if not torch.equal(run(batch)[:rows], reference[first : first + rows]):
            return False
    return True
