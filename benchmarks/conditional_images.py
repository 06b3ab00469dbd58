"""Class-conditional generation on mnist-5k: does the model draw the digit it is asked for?

Trains the mnist-5k preset on `mnist-5k:train` twice with the same seed, unconditional and
conditional (or scores two published checkpoints given with --checkpoints), then prints:

- the conditional model's accuracy (the shipped classifier reads the digit that was asked
  for; target >= 97 %) and both models' overall scores (FD, class KL, confidence, Parzen);
- per class: FD to the held-out digits of that class and mean confidence, for both models
  (the unconditional model's samples grouped by the digit the classifier reads), beside the
  real training digits of that class.

    python benchmarks/conditional_images.py                       # trains both (2 x 30 min)
    python benchmarks/conditional_images.py --steps 4000          # shorter
    python benchmarks/conditional_images.py --checkpoints A.json B.json   # score only
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

DATASET = "mnist-5k:train"
TARGET_ACCURACY = 0.97


def train_one(conditional: bool, seed: int, steps: int | None, threads: int, out: str) -> dict:
    import torch

    torch.set_num_threads(threads)
    from models.checkpoint import list_checkpoints
    from training.config import TrainConfig
    from training.loop import train

    fields = {"dataset": DATASET, "seed": seed, "device": "cpu", "conditional": conditional,
              "name": "conditional" if conditional else "unconditional",
              "checkpoint_every": 10_000_000}  # fmt: skip
    if steps is not None:
        fields["steps"] = steps
    start = time.perf_counter()
    train(TrainConfig(**fields), Path(out))
    wall = time.perf_counter() - start
    meta_path = [p for p in list_checkpoints(Path(out)) if p.parent.name == fields["name"]][-1]
    return {"checkpoint": str(meta_path), "wall_s": wall}


def score(meta_path: Path) -> dict:
    import torch

    from evaluation.evaluator import scorer_for
    from evaluation.per_class import per_class_evaluator
    from models.checkpoint import load_generator
    from training.publish import generate, labels_for

    generator, meta = load_generator(meta_path)
    seed = meta.hyperparameters.get("seed", 0)
    k = meta.arch.num_classes
    scorer = scorer_for(meta.dataset, tuple(meta.output_shape))
    images = generate(generator, seed, scorer.samples, meta.z_dim, k)
    labels = labels_for(0, scorer.samples, k, torch.device("cpu"))
    return {
        "ref": meta.ref,
        "conditional": bool(k),
        "steps": meta.step,
        "overall": scorer.score(images, labels),
        **per_class_evaluator("mnist-5k").score(images, labels),
    }


def _f(value: float | None, fmt: str) -> str:
    return "–" if value is None else format(value, fmt)


def tables(plain: dict, cond: dict) -> str:
    o_p, o_c = plain["overall"], cond["overall"]
    acc = cond["conditional_accuracy"]
    lines = [
        f"conditional accuracy: {acc:.4f} (target >= {TARGET_ACCURACY}: "
        f"{'met' if acc >= TARGET_ACCURACY else 'NOT met'})",
        "",
        "| model | steps | FD (floor) | class KL | confidence (real) | Parzen nats (ceiling) "
        "| conditional accuracy |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, row, o in (("unconditional", plain, o_p), ("conditional", cond, o_c)):
        lines.append(
            f"| {name} | {row['steps']} | {o['fd']:.1f} ({o['fd_real']:.1f}) "
            f"| {o['class_kl']:.4f} | {o['confidence']:.3f} ({o['confidence_real']:.3f}) "
            f"| {o['parzen_nats']:.0f} ± {o['parzen_se']:.0f} ({o['parzen_real_nats']:.0f}) "
            f"| {_f(row.get('conditional_accuracy'), '.4f')} |"
        )
    lines += [
        "",
        "| digit | FD unconditional | FD conditional | FD real (train vs held-out) "
        "| confidence unconditional | confidence conditional | confidence real "
        "| conditional accuracy | unconditional share |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    total = sum(r["count"] for r in plain["per_class"].values())
    for c in range(10):
        p, q = plain["per_class"][c], cond["per_class"][c]
        lines.append(
            f"| {c} | {_f(p['fd'], '.1f')} | {_f(q['fd'], '.1f')} | {p['fd_real']:.1f} "
            f"| {_f(p['confidence'], '.3f')} | {_f(q['confidence'], '.3f')} "
            f"| {p['confidence_real']:.3f} | {_f(q['accuracy'], '.3f')} "
            f"| {p['count'] / total:.3f} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=None, help="Override the preset's steps.")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1, help="Torch threads per model.")
    parser.add_argument(
        "--checkpoints", nargs=2, type=Path, metavar=("UNCONDITIONAL", "CONDITIONAL"),
        help="Score these published checkpoint JSON files instead of training.",
    )  # fmt: skip
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as out:
        if args.checkpoints:
            paths = list(args.checkpoints)
        else:
            with ProcessPoolExecutor(max_workers=2) as pool:
                same = (args.seed, args.steps, args.threads, out)
                runs = list(pool.map(train_one, (False, True), *([v, v] for v in same)))
            for name, run in zip(("unconditional", "conditional"), runs, strict=True):
                print(f"{name}: trained in {run['wall_s'] / 60:.1f} min")
            paths = [Path(r["checkpoint"]) for r in runs]
        plain, cond = score(paths[0]), score(paths[1])
    if plain["conditional"] or not cond["conditional"]:
        sys.exit("give the unconditional checkpoint first, then the conditional one")
    print(tables(plain, cond))


if __name__ == "__main__":
    main()
