"""Image quality of the mnist-5k and digits presets, and Stacked MNIST's mode count.

Each trial trains a dataset's preset (training/presets.py) on the `:train` split with its own
seed (one torch thread by default, two trials at a time), and scores the published EMA
generator with the evaluation package (its classifier trained on the same split, the scores
taken against the held-out split):

- mnist-5k, digits: Fréchet distance in the classifier's features beside the real train-vs-
  held-out floor, class KL to uniform, mean confidence beside the real images', and the Parzen
  log-likelihood beside this split's real-data ceiling and Goodfellow et al. (2014)'s 225 ± 2.
- stacked-mnist: modes covered of 1,000 and KL to uniform over 26,000 samples, beside real
  stacked data and PacGAN (Lin et al., 2018) Table 3.

    python benchmarks/quality_images.py                       # 3 trials each, all three sets
    python benchmarks/quality_images.py --datasets mnist-5k:train --jobs 1 --threads 2
    python benchmarks/quality_images.py --grid docs/mnist-5k-samples.png   # + README picture
    python benchmarks/quality_images.py --datasets stacked-mnist --device cuda --jobs 3

Targets (2 CPU cores, <= 30 minutes per run): mnist-5k FD <= 3 x floor, class KL <= 0.02,
confidence >= 0.95, Parzen >= 170 nats; digits class KL <= 0.02, confidence within 0.05 of the
real digits'; stacked-mnist all 1,000 modes and KL <= 0.06 in <= 20,000 generator steps.
"""

from __future__ import annotations

import argparse
import json
import math
import multiprocessing
import statistics
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

DATASETS = ("mnist-5k:train", "digits:train", "stacked-mnist")
PAPER_PARZEN = "225 ± 2"  # Goodfellow et al. 2014, Table 1 (MNIST, 60,000 training images)
PACGAN_STACKED = (  # PacGAN Table 3 (VEEGAN's Stacked MNIST setup): modes, KL
    ("DCGAN", "99.0", "3.40"),
    ("PacDCGAN2", "1000.0 ± 0.0", "0.06 ± 0.003"),
)
WALL_LIMIT_S = 30 * 60


def run_trial(
    dataset: str, seed: int, steps: int | None, overrides: dict, grid: str, threads: int,
    device: str,
) -> dict:  # fmt: skip
    import torch

    torch.set_num_threads(threads)
    from models.checkpoint import list_checkpoints, load_generator
    from training.config import TrainConfig
    from training.loop import train
    from training.plots import save_sample_picture

    fields: dict = {"dataset": dataset, "seed": seed, "device": device, **overrides}
    if steps is not None:
        fields.update(steps=steps)
    fields.setdefault("checkpoint_every", 10_000_000)  # publish once, at the end
    config = TrainConfig(**fields)
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as model_dir:
        result = train(config, Path(model_dir))
        wall = time.perf_counter() - start
        if grid:
            (meta_path,) = list_checkpoints(Path(model_dir))[-1:]
            generator, meta = load_generator(meta_path)
            from training.publish import generate

            samples = generate(generator.eval(), seed, 64, meta.z_dim)
            save_sample_picture(samples, "image", Path(grid))
    return {"dataset": dataset, "seed": seed, "steps": result.steps_done, "wall_s": wall,
            **result.final_metrics}  # fmt: skip


def on_target(row: dict) -> bool:
    if row["dataset"].startswith("mnist-5k"):
        return (
            row["fd"] <= 3 * row["fd_real"]
            and row["class_kl"] <= 0.02
            and row["confidence"] >= 0.95
            and row["parzen_nats"] >= 170
            and row["wall_s"] <= WALL_LIMIT_S
        )
    if row["dataset"].startswith("digits"):
        return (
            row["class_kl"] <= 0.02
            and abs(row["confidence"] - row["confidence_real"]) <= 0.05
            and row["wall_s"] <= WALL_LIMIT_S
        )
    return (
        row["modes_covered"] == row["num_modes"]
        and row["kl_to_uniform"] <= 0.06
        and row["steps"] <= 20_000
    )


def _mean_se(values: list[float]) -> str:
    mean = statistics.fmean(values)
    se = statistics.stdev(values) / math.sqrt(len(values)) if len(values) > 1 else 0.0
    return f"{mean:.3g} ± {se:.2g}"


def image_table(rows: list[dict]) -> str:
    lines = [
        "| dataset | trials | FD (mean ± s.e.) | FD real floor | FD / floor (worst) | class KL "
        "(worst) | confidence (worst) | real confidence | Parzen nats (mean ± s.e.) "
        "| Parzen real ceiling | Parzen, paper | on target | steps | wall / trial |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for dataset in DATASETS[:2]:
        mine = [r for r in rows if r["dataset"] == dataset]
        if not mine:
            continue
        first = mine[0]
        lines.append(
            f"| {dataset} | {len(mine)} | {_mean_se([r['fd'] for r in mine])} "
            f"| {first['fd_real']:.3g} | {max(r['fd'] / r['fd_real'] for r in mine):.2f} "
            f"| {max(r['class_kl'] for r in mine):.4f} "
            f"| {min(r['confidence'] for r in mine):.3f} | {first['confidence_real']:.3f} "
            f"| {_mean_se([r['parzen_nats'] for r in mine])} "
            f"| {first['parzen_real_nats']:.0f} ± {first['parzen_real_se']:.0f} "
            f"| {PAPER_PARZEN if dataset.startswith('mnist') else '–'} "
            f"| {sum(map(on_target, mine))}/{len(mine)} "
            f"| {', '.join(str(s) for s in sorted({r['steps'] for r in mine}))} "
            f"| {statistics.fmean(r['wall_s'] for r in mine) / 60:.1f} min |"
        )
    return "\n".join(lines)


def stacked_table(rows: list[dict], real: dict | None) -> str:
    mine = [r for r in rows if r["dataset"] == "stacked-mnist"]
    if not mine:
        return ""
    lines = [
        "| Stacked MNIST | trials | modes covered (mean ± s.e., worst) | KL (mean ± s.e., worst) "
        "| KL from the channels' digits, from their dependence (means) "
        "| confidence: all channels, the weakest channel (means) "
        "| on target | steps | wall / trial |",
        "|---|---|---|---|---|---|---|---|---|",
        f"| this project | {len(mine)} | {_mean_se([r['modes_covered'] for r in mine])}, "
        f"{min(r['modes_covered'] for r in mine)} | {_mean_se([r['kl_to_uniform'] for r in mine])}"
        f", {max(r['kl_to_uniform'] for r in mine):.3f} "
        f"| {statistics.fmean(r['kl_channels'] for r in mine):.3f}, "
        f"{statistics.fmean(r['kl_dependence'] for r in mine):.3f} "
        f"| {statistics.fmean(r['confidence'] for r in mine):.3f}, "
        f"{statistics.fmean(r['confidence_weakest_channel'] for r in mine):.3f} "
        f"| {sum(map(on_target, mine))}/{len(mine)} "
        f"| {', '.join(str(s) for s in sorted({r['steps'] for r in mine}))} "
        f"| {statistics.fmean(r['wall_s'] for r in mine) / 60:.1f} min |",
    ]
    if real is not None:
        lines.append(
            f"| real stacked data | – | {real['modes_covered']} | {real['kl_to_uniform']:.3f} "
            f"| {real['kl_channels']:.3f}, {real['kl_dependence']:.3f} "
            f"| {real['confidence']:.3f}, {real['confidence_weakest_channel']:.3f} | – | – | – |"
        )
    lines += [f"| {name} (PacGAN Table 3) | – | {m} | {kl} | – | – | – | – | – |" for name, m, kl in
              PACGAN_STACKED]  # fmt: skip
    return "\n".join(lines)


def real_stacked() -> dict:
    import torch

    from evaluation.classifier import load_classifier
    from evaluation.stacked import PROTOCOL_SAMPLES, StackedModeCounter
    from training.datasets import load_dataset

    data = load_dataset("stacked-mnist").sample(PROTOCOL_SAMPLES, torch.Generator().manual_seed(0))
    return StackedModeCounter(load_classifier("mnist-5k")).score(data)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=3, help="Trials (seeds) per dataset.")
    parser.add_argument("--steps", type=int, default=None, help="Override the preset's steps.")
    parser.add_argument("--jobs", type=int, default=2, help="Trials run in parallel.")
    parser.add_argument("--threads", type=int, default=1, help="Torch threads per trial.")
    parser.add_argument("--datasets", nargs="+", default=list(DATASETS), choices=DATASETS)
    parser.add_argument("--first-seed", type=int, default=0)
    parser.add_argument(
        "--device", default="cpu", choices=["cpu", "cuda"],
        help="Where the trials train (on CUDA several trials share the GPU: --jobs 3).",
    )  # fmt: skip
    parser.add_argument("--grid", default="", help="Write the first mnist-5k trial's 8x8 grid.")
    parser.add_argument("--json", default="", help="Also write every trial's row here.")
    parser.add_argument(
        "--set", nargs="*", default=[], metavar="FIELD=VALUE",
        help="TrainConfig fields over the preset, e.g. r1_gamma=1 (arch_config takes JSON).",
    )  # fmt: skip
    args = parser.parse_args()
    overrides = {k: json.loads(v) for k, v in (item.split("=", 1) for item in args.set)}
    if overrides:
        print(f"preset with {overrides}")
    from evaluation.classifier import load_classifier

    for name in {d.partition(":")[0].replace("stacked-mnist", "mnist-5k") for d in args.datasets}:
        clf = load_classifier(name)  # train once here, not in every worker
        print(f"{name} classifier: held-out accuracy {clf.accuracy:.4f}, sha256 {clf.sha256[:16]}")
    work = [
        (d, seed, args.steps, overrides,
         args.grid if d.startswith("mnist") and seed == args.first_seed else "", args.threads,
         args.device)
        for d in args.datasets
        for seed in range(args.first_seed, args.first_seed + args.trials)
    ]  # fmt: skip
    rows = []
    # CUDA cannot be used in a forked child: each trial starts a fresh interpreter there
    context = multiprocessing.get_context("spawn" if args.device == "cuda" else None)
    with ProcessPoolExecutor(max_workers=args.jobs, mp_context=context) as pool:
        for row in pool.map(run_trial, *zip(*work, strict=True)):
            rows.append(row)
            shown = {k: round(v, 4) for k, v in row.items() if isinstance(v, float)}
            print(f"{row['dataset']} seed {row['seed']}: {shown}", flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=2) + "\n", encoding="utf-8")
    print()
    print(image_table(rows))
    if "stacked-mnist" in args.datasets:
        print()
        print(stacked_table(rows, real_stacked()))


if __name__ == "__main__":
    main()
