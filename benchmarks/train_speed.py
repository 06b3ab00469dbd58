"""Generator steps per second of the training loop for DCGAN 64x64 (z 100, width 64, batch 64),
and its ratio to the bare cost of the same work measured in the same run.

Bare: the same networks, losses, Adam steps, data and noise sampling in a plain Python loop,
with no EMA, diagnostics, logging, NaN checks or callbacks. Loop: training.loop.train with its
defaults (EMA, a report every log_every steps); the timed window excludes start-up and the
final checkpoint (a checkpoint's cost is printed separately). Target: the loop adds <= 10 %.

    python benchmarks/train_speed.py [--steps 30] [--warmup 5] [--device auto] [--threads 2]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from training.config import TrainConfig  # noqa: E402
from training.datasets import load_dataset  # noqa: E402
from training.loop import pick_device, train  # noqa: E402
from training.losses import d_loss, g_loss  # noqa: E402
from training.presets import resolve_config  # noqa: E402

ARCH = {"z_dim": 100, "g_width": 64, "d_width": 64}


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def bare_steps_per_s(config: TrainConfig, steps: int, warmup: int, log_every: int) -> float:
    dataset = load_dataset(config.dataset, image_size=64)
    resolved, arch = resolve_config(config, dataset.sample_shape)
    device = pick_device(resolved.device)
    from models.factory import build_pair

    torch.manual_seed(0)
    g, d = (m.to(device) for m in build_pair(arch))
    opt_g = torch.optim.Adam(g.parameters(), lr=resolved.lr_g, betas=(0.5, 0.999))
    opt_d = torch.optim.Adam(d.parameters(), lr=resolved.lr_d, betas=(0.5, 0.999))
    data_gen = torch.Generator().manual_seed(0)
    noise_gen = torch.Generator(device).manual_seed(1)
    autocast = device.type == "cuda" and resolved.bf16
    b = resolved.batch_size
    start = 0.0
    for i in range(warmup + steps):
        if i == warmup:
            _sync(device)
            start = time.perf_counter()
        real = dataset.sample(b, data_gen).to(device, non_blocking=True)
        z = torch.randn(b, arch.z_dim, generator=noise_gen, device=device)
        with torch.autocast("cuda", dtype=torch.bfloat16, enabled=autocast):
            with torch.no_grad():
                fake = g(z)
            loss_d = d_loss("non-saturating", d(real), d(fake))
        opt_d.zero_grad(set_to_none=True)
        loss_d.backward()
        opt_d.step()
        d.requires_grad_(False)
        z = torch.randn(b, arch.z_dim, generator=noise_gen, device=device)
        with torch.autocast("cuda", dtype=torch.bfloat16, enabled=autocast):
            loss_g = g_loss("non-saturating", d(g(z)))
        opt_g.zero_grad(set_to_none=True)
        loss_g.backward()
        opt_g.step()
        d.requires_grad_(True)
        if (i + 1) % log_every == 0:
            float(loss_d), float(loss_g)  # noqa: B018 - a logger reads the losses now and then
    _sync(device)
    return steps / (time.perf_counter() - start)


def loop_steps_per_s(config: TrainConfig, steps: int, warmup: int) -> tuple[float, float]:
    """(steps/s over the timed window, seconds spent in the final step + checkpoint)."""
    stamps: list[float] = []
    device = pick_device(config.device)

    def should_stop() -> bool:  # asked before each step: a clock at each step boundary
        _sync(device)
        stamps.append(time.perf_counter())
        return False

    total = warmup + steps + 1
    with tempfile.TemporaryDirectory() as model_dir:
        run_config = config.model_copy(update={"steps": total, "checkpoint_every": 10**7})
        train(run_config, Path(model_dir), should_stop=should_stop)
        end = time.perf_counter()
    window = stamps[warmup + steps] - stamps[warmup]
    return steps / window, end - stamps[-1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=30, help="Timed steps per measurement.")
    parser.add_argument("--warmup", type=int, default=5, help="Untimed steps first.")
    parser.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads.")
    parser.add_argument("--bf16", action="store_true", help="bf16 autocast (CUDA only).")
    parser.add_argument("--rounds", type=int, default=2, help="Alternating bare/loop rounds.")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as tmp:
        images = np.random.default_rng(0).integers(0, 256, (512, 64, 64, 3), dtype=np.uint8)
        np.save(Path(tmp) / "images.npy", images)
        config = TrainConfig(
            dataset=f"npz:{Path(tmp) / 'images.npy'}", name="speed", batch_size=64,
            arch_config=ARCH, device=args.device, bf16=args.bf16,
        )  # fmt: skip
        bare, loop, publish = [], [], []
        for _ in range(args.rounds):
            bare.append(bare_steps_per_s(config, args.steps, args.warmup, config.log_every))
            rate, pub_s = loop_steps_per_s(config, args.steps, args.warmup)
            loop.append(rate)
            publish.append(pub_s)
    device = pick_device(args.device)
    name = (
        torch.cuda.get_device_name(0) if device.type == "cuda" else f"CPU, {args.threads} threads"
    )
    b, lp = max(bare), max(loop)  # best of the rounds: least disturbed by other processes
    print(f"device: {name}; DCGAN 64x64, z 100, width 64, batch 64; bf16={args.bf16}")
    print(f"bare G/D steps:   {b:8.2f} steps/s  (rounds: {', '.join(f'{x:.2f}' for x in bare)})")
    print(f"training loop:    {lp:8.2f} steps/s  (rounds: {', '.join(f'{x:.2f}' for x in loop)})")
    print(f"loop overhead:    {100 * (b / lp - 1):+8.1f} %   (target <= 10 %)")
    print(
        f"final step + checkpoint (EMA batch-norm recalibration, grid, files): {min(publish):.2f} s"
    )


if __name__ == "__main__":
    main()
