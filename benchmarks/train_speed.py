"""Generator steps per second of the training loop for DCGAN 64x64 (z 100, width 64, batch 64
unless --batch-size), and its ratio to the bare cost of the same work measured in the same run.

Bare: the same networks, losses, Adam steps, data and noise sampling in a plain Python loop
as pytorch/examples writes it (float32, NCHW), with no EMA, diagnostics, logging, NaN checks
or callbacks. Loop: training.loop.train with its defaults (channels-last, EMA, a report every
log_every steps, bf16 autocast where the device computes it natively; --bf16 / --no-bf16 force
it on or off). The two are interleaved step by step in one
process (see `measure`), so both see the same machine load; the timed window excludes
start-up and the final checkpoint (whose cost is printed separately) and covers a logged step
when --steps >= log_every (50). Target: the loop at >= 1.2x the bare loop's steps per second.

    python benchmarks/train_speed.py [--steps 60] [--warmup 3] [--device auto] [--threads 2]
        [--batch-size 64] [--bf16 | --no-bf16]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from models.config import DCGANConfig  # noqa: E402
from training.config import TrainConfig  # noqa: E402
from training.datasets import load_dataset  # noqa: E402
from training.loop import pick_device, train, uses_bf16  # noqa: E402
from training.losses import d_loss, g_loss  # noqa: E402
from training.presets import resolve_config  # noqa: E402

ARCH = {"z_dim": 100, "g_width": 64, "d_width": 64}
ARCH_CONFIG = DCGANConfig(image_size=64, channels=3, **ARCH)


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


class BareSteps:
    """The same networks, losses, Adam steps, data and noise as the loop, nothing else."""

    def __init__(self, config: TrainConfig) -> None:
        from models.factory import build_pair

        self.dataset = load_dataset(config.dataset)
        resolved, arch = resolve_config(config, self.dataset.sample_shape)
        self.device = pick_device(resolved.device)
        torch.manual_seed(0)
        self.g, self.d = (m.to(self.device) for m in build_pair(arch))
        betas = (resolved.beta1, resolved.beta2)
        self.opt_g = torch.optim.Adam(self.g.parameters(), lr=resolved.lr_g, betas=betas)
        self.opt_d = torch.optim.Adam(self.d.parameters(), lr=resolved.lr_d, betas=betas)
        self.data_gen = torch.Generator().manual_seed(0)
        self.noise_gen = torch.Generator(self.device).manual_seed(1)
        self.batch, self.z_dim = resolved.batch_size, arch.z_dim

    def step(self) -> None:
        b, dev = self.batch, self.device
        real = self.dataset.sample(b, self.data_gen).to(dev, non_blocking=True)
        z = torch.randn(b, self.z_dim, generator=self.noise_gen, device=dev)
        with torch.no_grad():
            fake = self.g(z)
        loss_d = d_loss("non-saturating", self.d(real), self.d(fake))
        self.opt_d.zero_grad(set_to_none=True)
        loss_d.backward()
        self.opt_d.step()
        self.d.requires_grad_(False)
        z = torch.randn(b, self.z_dim, generator=self.noise_gen, device=dev)
        loss_g = g_loss("non-saturating", self.d(self.g(z)))
        self.opt_g.zero_grad(set_to_none=True)
        loss_g.backward()
        self.opt_g.step()
        self.d.requires_grad_(True)


def measure(config: TrainConfig, steps: int, warmup: int) -> tuple[list[float], list[float], float]:
    """Loop steps and bare steps interleaved one for one, so both see the same machine load.

    should_stop is called before every loop step: there a bare step runs and is timed, and
    the loop step is the time from the callback's return to its next call."""
    bare = BareSteps(config)
    device = bare.device
    loop_times: list[float] = []
    bare_times: list[float] = []
    last_return: list[float] = []

    def should_stop() -> bool:
        _sync(device)
        now = time.perf_counter()
        if last_return:
            loop_times.append(now - last_return[-1])
        bare.step()
        _sync(device)
        after = time.perf_counter()
        bare_times.append(after - now)
        last_return.append(after)
        return False

    total = warmup + steps + 1  # the last step also publishes: timed separately
    with tempfile.TemporaryDirectory() as model_dir:
        run_config = config.model_copy(update={"steps": total, "checkpoint_every": 10**7})
        train(run_config, Path(model_dir), should_stop=should_stop)
        publish_s = time.perf_counter() - last_return[-1]
    return loop_times[warmup:], bare_times[warmup : warmup + steps], publish_s


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=60, help="Timed steps per measurement.")
    parser.add_argument("--warmup", type=int, default=3, help="Untimed steps first.")
    parser.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads.")
    parser.add_argument("--batch-size", type=int, default=64, help="Samples per minibatch.")
    parser.add_argument(
        "--bf16", action=argparse.BooleanOptionalAction, default=None,
        help="The loop with (or without) bf16 autocast; default: the loop's own default, bf16 "
        "where the device computes it natively (CUDA, a CPU with avx512_bf16 or AMX). The bare "
        "loop stays float32, as pytorch/examples writes it.",
    )  # fmt: skip
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as tmp:
        images = np.random.default_rng(0).integers(0, 256, (512, 64, 64, 3), dtype=np.uint8)
        np.save(Path(tmp) / "images.npy", images)
        config = TrainConfig(
            dataset=f"npz:{Path(tmp) / 'images.npy'}", name="speed", batch_size=args.batch_size,
            arch_config=ARCH, device=args.device, bf16=args.bf16,
        )  # fmt: skip
        loop, bare, publish_s = measure(config, args.steps, args.warmup)
    device = pick_device(args.device)
    name = (
        torch.cuda.get_device_name(0) if device.type == "cuda" else f"CPU, {args.threads} threads"
    )
    loop_rate, bare_rate = len(loop) / sum(loop), len(bare) / sum(bare)
    precision = "bf16 autocast" if uses_bf16(args.bf16, ARCH_CONFIG, device) else "float32"
    print(
        f"device: {name}; DCGAN 64x64, z 100, width 64, batch {args.batch_size}; "
        f"the loop in {precision}"
    )
    print(f"timed: {len(loop)} loop steps interleaved with {len(bare)} bare steps")
    print(f"bare G/D steps:  {bare_rate:8.3f} steps/s  (median {1 / statistics.median(bare):.3f})")
    print(f"training loop:   {loop_rate:8.3f} steps/s  (median {1 / statistics.median(loop):.3f})")
    by_median = statistics.median(bare) / statistics.median(loop)
    print(f"loop / bare:     {loop_rate / bare_rate:8.2f} x  (medians {by_median:.2f} x; "
          "target >= 1.2 x)")  # fmt: skip
    print(f"last step + checkpoint (batch-norm recalibration, grid PNG, files): {publish_s:.2f} s")
    print(step_spread(loop, args.warmup, config.log_every))


def step_spread(loop: list[float], warmup: int, log_every: int) -> str:
    """Where the loop's mean and median part: its report steps against the others. loop[i] is
    step warmup + i + 1 (see `measure`)."""
    report = [t for i, t in enumerate(loop) if (warmup + i + 1) % log_every == 0]
    other = sorted(t for i, t in enumerate(loop) if (warmup + i + 1) % log_every != 0)
    ms = 1000
    text = (
        f"loop steps: {len(other)} plain, mean {statistics.fmean(other) * ms:.1f} ms, "
        f"p90 {other[int(0.9 * (len(other) - 1))] * ms:.1f} ms, max {other[-1] * ms:.1f} ms"
    )
    if report:
        text += f"; {len(report)} report steps, mean {statistics.fmean(report) * ms:.1f} ms"
    return text


if __name__ == "__main__":
    main()
