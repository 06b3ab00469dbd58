"""Make a loaded generator fast for inference, and find the batch sizes that keep it exact.

Speed: batch norm in eval mode is an affine map per channel, so it is folded into the
(transposed) convolution or linear layer before it; a DCGAN generator's first layer runs as
the matrix product it is and its image layer as a sub-pixel convolution (dcgan_fast_layers);
image generators run channels-last.

Image generators run in bfloat16 where the CPU computes it natively (avx512_bf16 or AMX:
about 1.8x the float32 forward on this project's CPU), or wherever GAN_INFERENCE_DTYPE asks
for it. The output is rounded to 8-bit pixels, and bfloat16 moves them little against
float32: on 256 samples of the mnist-5k preset (9 layers) 12 % of the pixels differ, by 0.2
levels on average and by at most 3 for 99 % of them; on the digits preset, by at most 2.
GAN_INFERENCE_DTYPE=float32 serves the float32 bytes. Vector generators stay float32, since
their points are returned as exact float32 values.

A conditional generator runs as `LabelColumns`: its rows are z with the class index appended
as a last float column (models.conditioning.label_column_input), so a label travels with its
z through the batcher, its padding and its calibration.

Exactness: the service promises that a sample's bytes depend only on (model version, seed,
index, label), never on what else shared its device batch. Matrix kernels may pick a different
blocking, and so a different summation order, for a different number of rows (measured on
this project's CPU: an MLP gives different last bits for 1..15 rows than for 64). So the
device always runs one of a few fixed batch sizes ("buckets", padded with zero rows), and
`calibrate` keeps only the buckets whose every row is bit-identical to the same z run inside
a reference batch of 64 rows, at another position. Buckets that fail are never used.
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

from models.conditioning import label_column_input
from models.dcgan import DCGANGenerator
from models.latent import latent_batch
from models.precision import cpu_has_native_bf16

log = logging.getLogger("service.inference")

CALIBRATION_SEED = 0x5EED
REFERENCE_BATCH = 64  # the batch every bucket must agree with, bit for bit
_VALUES_TO_COMPARE = 512
_AFFINE = (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)
_NORMS = (nn.BatchNorm1d, nn.BatchNorm2d)


@dataclass(frozen=True)
class Calibration:
    buckets: tuple[int, ...]  # padded batch sizes the device may run, ascending
    exact: bool  # False: even the reference batch depends on row position or on the run
    forward_s: float  # one forward of the largest bucket used, measured after warm-up
    dtype: str = "float32"  # what the module computes in: "float32" or "bfloat16"

    @property
    def max_rows(self) -> int:
        return self.buckets[-1]

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


class PointProjection(nn.Module):
    """A transposed convolution (stride 1, no padding) applied to a 1x1 input, as the matrix
    product it is: (B, Cin, 1, 1) -> (B, Cout, k, k). The DCGAN generator's first layer."""

    def __init__(self, layer: nn.ConvTranspose2d) -> None:
        super().__init__()
        cin, cout, kh, kw = layer.weight.shape
        self.shape = (cout, kh, kw)
        # weight (Cin, Cout, kh, kw) -> (Cout * kh * kw, Cin), rows in the output's order
        self.weight = nn.Parameter(layer.weight.detach().reshape(cin, -1).t().contiguous())
        bias = layer.bias.detach() if layer.bias is not None else torch.zeros(cout)
        self.bias = nn.Parameter(bias.repeat_interleave(kh * kw))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = nn.functional.linear(x.flatten(1), self.weight, self.bias)  # (B, Cout * kh * kw)
        return y.view(x.shape[0], *self.shape).contiguous(memory_format=torch.channels_last)


class SubPixelConvTranspose(nn.Module):
    """A transposed convolution with kernel 4, stride 2, padding 1 as one ordinary 2x2
    convolution over the input padded by 1, computing the four output phases (even / odd row
    and column) as 4 x Cout channels, then interleaved. The same sums; for an output of few
    channels (an image layer), oneDNN's direct convolution runs it about 4x faster than its
    transposed convolution on this project's CPU."""

    # Output row 2i + a takes input rows (i - 1, i) for a = 0 and (i, i + 1) for a = 1, with
    # kernel rows (3, 1) and (2, 0): a 2x2 window at padded row i + a.
    _TAPS = ((3, 1), (2, 0))

    def __init__(self, layer: nn.ConvTranspose2d) -> None:
        super().__init__()
        w = layer.weight.detach()  # (Cin, Cout, 4, 4)
        self.cout = w.shape[1]
        blocks = []
        for a in (0, 1):
            for b in (0, 1):
                rows = w[:, :, list(self._TAPS[a]), :][:, :, :, list(self._TAPS[b])]
                blocks.append(rows.permute(1, 0, 2, 3))  # (Cout, Cin, 2, 2)
        self.weight = nn.Parameter(torch.cat(blocks).contiguous())  # (4 Cout, Cin, 2, 2)
        bias = layer.bias.detach() if layer.bias is not None else None
        self.bias = nn.Parameter(bias.repeat(4)) if bias is not None else None

    @staticmethod
    def fits(layer: nn.Module) -> bool:
        return (
            isinstance(layer, nn.ConvTranspose2d)
            and layer.kernel_size == (4, 4)
            and layer.stride == (2, 2)
            and layer.padding == (1, 1)
            and layer.output_padding == (0, 0)
            and layer.dilation == (1, 1)
            and layer.groups == 1
            and layer.out_channels <= SUBPIXEL_MAX_CHANNELS
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, _, h, w = x.shape
        phases = nn.functional.conv2d(nn.functional.pad(x, (1, 1, 1, 1)), self.weight, self.bias)
        p = phases.view(b, 2, 2, self.cout, h + 1, w + 1)  # (B, a, b, Cout, h + 1, w + 1)
        rows = [
            torch.stack([p[:, a, 0, :, a : a + h, 0:w], p[:, a, 1, :, a : a + h, 1 : w + 1]], -1)
            for a in (0, 1)
        ]  # each (B, Cout, h, w, 2): the two column phases side by side
        out = torch.stack([r.reshape(b, self.cout, h, 2 * w) for r in rows], 3)
        return out.reshape(b, self.cout, 2 * h, 2 * w)  # (B, Cout, 2h, 2w)


SUBPIXEL_MAX_CHANNELS = 4


def dcgan_fast_layers(seq: nn.Sequential) -> nn.Sequential:
    """A DCGAN generator's layers (its input is z as a 1x1 image) with the first transposed
    convolution as a PointProjection and every one that SubPixelConvTranspose.fits as one."""
    layers = list(seq)
    first = layers[0] if layers else None
    if (
        isinstance(first, nn.ConvTranspose2d)
        and first.stride == (1, 1)
        and first.padding == (0, 0)
        and first.groups == 1
        and first.dilation == (1, 1)
    ):
        layers[0] = PointProjection(first)
    return nn.Sequential(
        *(SubPixelConvTranspose(m) if SubPixelConvTranspose.fits(m) else m for m in layers)
    )


def optimize_generator(
    generator: nn.Module, *, fold: bool = True, channels_last: bool = True, rewrite: bool = True
) -> nn.Module:
    """An inference copy of `generator` (eval mode, no grads), batch norm folded, a DCGAN's
    layers rewritten (dcgan_fast_layers), channels-last."""
    fast = copy.deepcopy(generator).eval()
    if fold and isinstance(getattr(fast, "net", None), nn.Sequential):
        fast.net = fold_batchnorm(fast.net)
    if rewrite and isinstance(fast, DCGANGenerator):
        fast.net = dcgan_fast_layers(fast.net)
    if channels_last and any(isinstance(m, nn.Conv2d | nn.ConvTranspose2d) for m in fast.modules()):
        fast = fast.to(memory_format=torch.channels_last)
    for p in fast.parameters():
        p.requires_grad_(False)
    return fast.eval()


class LabelColumns(nn.Module):
    """A conditional generator called on rows (B, z_dim + 1) whose last column is the class
    index: the device module of a conditional model. z is cast to `dtype` after the label is
    read (a class index above 256 is not exact in bfloat16)."""

    def __init__(self, generator: nn.Module, z_dim: int, dtype: torch.dtype) -> None:
        super().__init__()
        self.generator = generator
        self.z_dim = z_dim
        self.dtype = dtype

    def forward(self, rows: torch.Tensor) -> torch.Tensor:
        z, labels = label_column_input(self.z_dim, rows)  # (B, z_dim), (B,) int64
        return self.generator(z.to(self.dtype), labels)


class CastInput(nn.Module):
    """A generator whose weights are in `dtype`, called on float32 z."""

    def __init__(self, generator: nn.Module, dtype: torch.dtype) -> None:
        super().__init__()
        self.generator = generator
        self.dtype = dtype

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.generator(z.to(self.dtype))


def inference_dtype(choice: str, device: torch.device, kind: str) -> torch.dtype:
    """The dtype a generator runs in: GAN_INFERENCE_DTYPE's `choice` ('auto', 'float32',
    'bfloat16') for an image generator on `device`; always float32 for vectors."""
    if kind != "image" or choice == "float32":
        return torch.float32
    if choice == "bfloat16":
        return torch.bfloat16
    native = device.type == "cpu" and cpu_has_native_bf16()
    return torch.bfloat16 if native else torch.float32


def serving_module(
    generator: nn.Module, z_dim: int, num_classes: int, dtype: torch.dtype = torch.float32
) -> nn.Module:
    """What the device runs: the optimized generator in `dtype`, taking float32 rows, wrapped
    in LabelColumns when it is conditional (its input rows are then z_dim + 1 wide)."""
    fast = optimize_generator(generator).to(dtype)
    if num_classes:
        return LabelColumns(fast, z_dim, dtype).eval()
    if dtype == torch.float32 or isinstance(fast, DCGANGenerator):
        return fast  # a DCGAN generator casts its z itself, after reading its latent codes
    return CastInput(fast, dtype).eval()


def input_rows(z: np.ndarray, labels: np.ndarray | None) -> np.ndarray:
    """The device rows: z (n, z_dim) as it is, or with the labels (n,) appended as a last
    float column, (n, z_dim + 1). Class indices (< 1000) are exact in float32."""
    if labels is None:
        return z
    return np.concatenate([z, labels.astype(np.float32)[:, None]], axis=1)


def bucket_ladder(max_batch: int) -> list[int]:
    """1, 2, 4, then four sizes per doubling (8, 10, 12, 14, 16, 20, 24, 28, 32, 40, ...) up to
    max_batch, plus max_batch and REFERENCE_BATCH. A CPU forward costs about the same per row
    at any batch size, so padding a batch up to the next bucket costs what the zero rows do:
    at most a quarter here, against up to half with powers of two only."""
    top = max(max_batch, REFERENCE_BATCH)
    sizes = {1, 2, 4, max_batch, REFERENCE_BATCH}
    power = 8
    while power <= top:
        sizes.update(power + k * power // 4 for k in range(4))
        power *= 2
    return sorted(size for size in sizes if size <= top)


def calibrate(
    module: nn.Module, z_dim: int, max_batch: int, device: torch.device, *, num_classes: int = 0
) -> Calibration:
    """Warm up, then keep the bucket sizes that reproduce the reference batch bit for bit.
    A conditional module (`num_classes` > 0) is calibrated on its own rows: z beside the
    labels 0, 1, ... in turn; its zero padding rows are class 0.

    The reference is a batch of REFERENCE_BATCH rows whatever GAN_MAX_BATCH_SIZE is, so
    replicas with different batch settings still agree. Buckets above max_batch are kept only
    when nothing smaller up to max_batch is exact (rows per batch never exceed max_batch; a
    bucket may be larger than its rows: the rest is zero padding).
    """
    z = latent_batch(CALIBRATION_SEED, 0, REFERENCE_BATCH, z_dim)  # (REFERENCE_BATCH, z_dim)
    labels = np.arange(REFERENCE_BATCH) % num_classes if num_classes else None
    z = torch.from_numpy(input_rows(z, labels)).to(device)  # (REFERENCE_BATCH, width)

    def run(x: torch.Tensor) -> torch.Tensor:
        with torch.inference_mode():
            y = module(x)
        if y.device.type == "cuda":
            torch.cuda.synchronize(y.device)
        return y

    reference = run(z)  # (REFERENCE_BATCH, ...) the canonical result; also the warm-up
    shift = REFERENCE_BATCH // 2 + 1
    exact = torch.equal(run(z), reference) and torch.equal(
        run(torch.roll(z, shift, 0)), torch.roll(reference, shift, 0)
    )
    if not exact:
        log.warning("batch results depend on row position or vary run to run on %s", device)
        kept = [REFERENCE_BATCH]
    else:
        kept = [b for b in bucket_ladder(max_batch) if _bucket_is_exact(run, z, reference, b)]
    # Rows per batch stop at max_batch; one bucket at or above it is all that is needed.
    cap = next((b for b in kept if b >= max_batch), kept[-1])
    buckets = tuple(b for b in kept if b <= cap)
    batch = torch.zeros(buckets[-1], z.shape[1], device=device)  # (bucket, width)
    start = time.perf_counter()
    run(batch)
    dtype = str(reference.dtype).removeprefix("torch.")
    return Calibration(buckets, exact, time.perf_counter() - start, dtype)


def _bucket_is_exact(run, z: torch.Tensor, reference: torch.Tensor, size: int) -> bool:
    """Reference rows, at other positions and beside zero padding, must give the same bits."""
    if size == z.shape[0]:
        return True  # the reference itself, already checked for position and repeat
    # Enough trials to compare >= 512 output values: a different summation order shows up in
    # some of them, even for a 2-D output; two trials suffice for images.
    values_per_row = reference[0].numel()
    trials = max(2, math.ceil(_VALUES_TO_COMPARE / (size * values_per_row)))
    rng = np.random.default_rng(size)
    for trial in range(trials):
        rows = size if trial % 2 == 0 else max(1, (size + 1) // 2)  # full, then half-padded
        pick = torch.from_numpy(rng.integers(0, z.shape[0], rows)).to(z.device)  # (rows,)
        batch = torch.zeros(size, *z.shape[1:], dtype=z.dtype, device=z.device)  # (size, width)
        batch[:rows] = z[pick]
        if not torch.equal(run(batch)[:rows], reference[pick]):
            return False
    return True
