"""How much memory a training recipe needs, estimated without allocating anything.

G and D are built on the meta device (shapes, no storage), so even a 16-layer 8192-wide MLP
costs nothing to inspect. Parameters and buffers are counted exactly. Activations come from a
forward pass on meta tensors under autograd's saved-tensor hooks, which see exactly what each
op keeps for backward (a maxout keeps int64 indices, a frozen D keeps less), deduplicated by
storage; forward hooks on every module give the largest single output, the transient that
backward holds beside its gradient.

One training step (training/loop.py) peaks in one of its two phases, not their sum:

    D step   real, noise and G(z) (no grad); D's stored activations on the real and the fake
             batch; R1 / wgan-gp's penalty backpropagates twice through D (create_graph), which
             keeps about two more D graphs (on real data; on the interpolates for wgan-gp)
    G step   noise; G's stored activations and a frozen D's on G(z)

The module imports no job system: the jobs API calls `estimate_memory` inside a request.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

import torch
from torch import nn

from models.config import DCGANConfig, MLPConfig, dcgan_upsamplings
from models.factory import build_pair
from training.config import TrainConfig

log = logging.getLogger(__name__)

MB = 1024**2
FLOAT_BYTES = 4
# What the counted tensors leave out: autograd's bookkeeping, the gradients of the smaller
# activations alive during backward, allocator rounding and fragmentation, and the optimizer's
# foreach temporaries. With 1.5x, the peak RSS growth of real CPU steps came out at 0.6-1.2x
# the whole estimate, for DCGAN and MLP recipes of 30 MB to 3 GB (see the tests).
AUTOGRAD_OVERHEAD = 1.5


@dataclass(frozen=True)
class MemoryEstimate:
    """Bytes one training run holds at its peak, by what holds them."""

    g_params: int
    d_params: int
    weights_bytes: int  # G + D parameters and buffers
    optimizer_bytes: int  # Adam: 2 states per param (SGD with momentum: 1); grads: 1 per param
    ema_bytes: int  # the EMA copy of G's parameters and buffers
    activation_bytes: int  # peak activations of one training step
    data_bytes: int  # the dataset held in memory (0 when unknown)

    @property
    def total_bytes(self) -> int:
        return (
            self.weights_bytes
            + self.optimizer_bytes
            + self.ema_bytes
            + self.activation_bytes
            + self.data_bytes
        )

    @property
    def total_mb(self) -> float:
        return self.total_bytes / MB

    def describe(self) -> str:
        """One line: 'about 1,234 MB (weights 12 MB, optimizer 36 MB, ...)'."""
        parts = [
            ("weights", self.weights_bytes),
            ("optimizer", self.optimizer_bytes),
            ("EMA", self.ema_bytes),
            ("activations", self.activation_bytes),
            ("data", self.data_bytes),
        ]
        inner = ", ".join(f"{name} {_mb(n)}" for name, n in parts)
        return f"about {_mb(self.total_bytes)} ({inner})"


def estimate_memory(
    config: TrainConfig, arch: MLPConfig | DCGANConfig, *, data_bytes: int = 0
) -> MemoryEstimate:
    """The peak memory of training `config` (resolved: see training.presets.resolve_config)
    with networks `arch`, plus `data_bytes` for the dataset. Allocates nothing."""
    with torch.device("meta"):
        g_net, d_net = build_pair(arch)
    g_param_bytes, d_param_bytes = _nbytes(g_net.parameters()), _nbytes(d_net.parameters())
    g_buffer_bytes, d_buffer_bytes = _nbytes(g_net.buffers()), _nbytes(d_net.buffers())
    # optimizer states per parameter: Adam's two moments, SGD's momentum buffer if any
    states = 2 if config.optimizer == "adam" else int(config.momentum > 0)
    try:
        activations = _measured_activations(config, arch, g_net, d_net)
    except Exception as exc:  # an op without a meta kernel: fall back to the formula
        log.debug("meta forward failed (%s); using the rough activation formula", exc)
        activations = _rough_activations(config, arch)
    return MemoryEstimate(
        g_params=_numel(g_net.parameters()),
        d_params=_numel(d_net.parameters()),
        weights_bytes=g_param_bytes + d_param_bytes + g_buffer_bytes + d_buffer_bytes,
        optimizer_bytes=(states + 1) * (g_param_bytes + d_param_bytes),
        # The loop keeps the copy even with ema_decay 0 (it then publishes an exact copy).
        ema_bytes=g_param_bytes + g_buffer_bytes,
        activation_bytes=int(activations * AUTOGRAD_OVERHEAD),
        data_bytes=int(data_bytes),
    )


# ---- activations measured on meta tensors ---------------------------------------------------


class _Tally:
    """Bytes autograd saves (unique storages, weights excluded) and the largest module output."""

    def __init__(self, exclude: set[int]) -> None:
        self.exclude = exclude
        self.saved: dict[int, int] = {}
        self.largest = 0
        self._keep: list[torch.Tensor] = []  # keeps storages alive, so their ids stay unique

    def pack(self, t: torch.Tensor) -> torch.Tensor:
        key = t.untyped_storage()._cdata
        if key not in self.exclude and key not in self.saved:
            self.saved[key] = t.untyped_storage().nbytes()
            self._keep.append(t)
        return t

    def output(self, module: nn.Module, inputs: object, out: object) -> None:
        if isinstance(out, torch.Tensor):
            self.largest = max(self.largest, out.nbytes)

    @property
    def saved_bytes(self) -> int:
        return sum(self.saved.values())


def _measured_activations(
    config: TrainConfig, arch: MLPConfig | DCGANConfig, g_net: nn.Module, d_net: nn.Module
) -> int:
    batch = config.batch_size
    weights = {t.untyped_storage()._cdata for t in _tensors(g_net, d_net)}

    def noise() -> torch.Tensor:
        return torch.empty(batch, arch.z_dim, device="meta")  # (B, z)

    def sample() -> torch.Tensor:
        return torch.empty(batch, *arch.output_shape, device="meta")  # (B, *sample_shape)

    def run(fn: Callable[[], object]) -> _Tally:
        tally = _Tally(weights)
        with (
            _forward_hooks(tally, g_net, d_net),
            torch.autograd.graph.saved_tensors_hooks(tally.pack, lambda t: t),
        ):
            fn()
        return tally

    g_net.train()
    d_net.train()
    gp = config.loss == "wgan-gp" and config.gp_weight > 0
    r1 = config.r1_gamma > 0
    d_net.requires_grad_(True)
    with torch.no_grad():
        g_nograd = run(lambda: g_net(noise()))  # nothing saved; its largest output is transient
    d_real = run(lambda: d_net(sample().requires_grad_(r1)))
    d_fake = run(lambda: d_net(sample()))
    # (1) D step: inputs, D on both batches; a penalty's double backward (create_graph) keeps
    # about two more D graphs: R1's on the real batch, wgan-gp's on x_hat (measured on CPU)
    inputs = (3 if gp else 2) * sample().nbytes + noise().nbytes  # real, fake, x_hat; z
    extra_graphs = 2 * gp + 2 * r1
    d_stored = d_real.saved_bytes + d_fake.saved_bytes + extra_graphs * d_real.saved_bytes
    d_transient = 2 * max(d_real.largest, g_nograd.largest)
    d_step = inputs + d_stored + d_transient
    # (2) G step: G and a frozen D on G(z)
    d_net.requires_grad_(False)
    g_step_tally = run(lambda: d_net(g_net(noise())))
    d_net.requires_grad_(True)
    g_step = noise().nbytes + g_step_tally.saved_bytes + 2 * g_step_tally.largest
    return max(d_step, g_step)


@contextlib.contextmanager
def _forward_hooks(tally: _Tally, *nets: nn.Module) -> Iterator[None]:
    handles = [m.register_forward_hook(tally.output) for net in nets for m in net.modules()]
    try:
        yield
    finally:
        for handle in handles:
            handle.remove()


# ---- the fallback: a rough formula from the architecture config -----------------------------


def _rough_activations(config: TrainConfig, arch: MLPConfig | DCGANConfig) -> int:
    """Floats per sample that G and D keep for backward, from their layer shapes: two tensors
    per G layer (pre- and post-normalization), one per D layer plus maxout's int64 indices;
    the peak step holds D on two batches (two more for R1 and for wgan-gp) or G and D once."""
    if isinstance(arch, MLPConfig):
        g_floats = arch.g_layers * arch.g_hidden * 2 + arch.data_dim
        d_floats = arch.d_layers * arch.d_hidden * (3 if arch.d_maxout > 1 else 2)
    else:
        k = dcgan_upsamplings(arch.image_size)
        sizes = [arch.image_size // 2**i for i in range(k, 0, -1)]  # base .. size/2
        g_floats = sum(arch.g_width * 2 ** (k - 1 - i) * s * s * 2 for i, s in enumerate(sizes))
        g_floats += arch.channels * arch.image_size**2
        d_floats = sum(arch.d_width * 2**i * s * s * 2 for i, s in enumerate(reversed(sizes)))
        half = (arch.image_size // 2) ** 2  # extra layers keep size/2 at the base width
        g_floats += arch.extra_layers * arch.g_width * half * 2
        d_floats += arch.extra_layers * arch.d_width * half * 2
    d_passes = 2 + 2 * (config.loss == "wgan-gp") + 2 * (config.r1_gamma > 0)
    return config.batch_size * FLOAT_BYTES * max(d_passes * d_floats, g_floats + d_floats)


# ---- helpers --------------------------------------------------------------------------------


def _tensors(*nets: nn.Module) -> Iterable[torch.Tensor]:
    for net in nets:
        yield from net.parameters()
        yield from net.buffers()


def _numel(tensors: Iterable[torch.Tensor]) -> int:
    return sum(t.numel() for t in tensors)


def _nbytes(tensors: Iterable[torch.Tensor]) -> int:
    return sum(t.numel() * t.element_size() for t in tensors)


def _mb(n: int) -> str:
    mb = n / MB
    return f"{mb:,.0f} MB" if mb >= 10 else f"{mb:.1f} MB"
