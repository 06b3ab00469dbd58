"""`python -m evaluation`: the classifiers, the real data's reference scores, a model's scores.

    classifier [--dataset SET|all] [--retrain]    train or load the cached classifiers
    reference [--dataset SET|all] [--json]        the real data's own scores (floor and ceiling)
    score MODEL[@VERSION] [--model-dir DIR]       score a published generator's samples

Errors a user can fix print one line on stderr and exit with status 2.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from models.checkpoint import (
    CheckpointError,
    list_checkpoints,
    read_default_version,
    validate_model_name,
    version_stem,
)
from models.latent import MAX_SEED

if TYPE_CHECKING:
    from evaluation.classifier import TrainedClassifier

EXIT_USAGE = 2
CLASSIFIED = ("digits", "mnist-5k")
REFERENCED = (*CLASSIFIED, "stacked-mnist")
STACKED_SEED = 0  # the real stacked samples of the reference: a fixed stream


class UsageError(Exception):
    """A mistake in the command line or the model directory; printed as one line."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m evaluation",
        description="Image quality scores with the project's own digit classifiers.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("classifier", help="Train (or load from the cache) the classifiers.")
    p.add_argument(
        "--dataset", choices=(*CLASSIFIED, "all"), default="all",
        help="Which classifier. Default: all.",
    )  # fmt: skip
    p.add_argument(
        "--retrain", action="store_true", help="Train again even if a cached copy is intact."
    )

    p = sub.add_parser("reference", help="Print the real data's own scores.")
    p.add_argument(
        "--dataset", choices=(*REFERENCED, "all"), default="all",
        help="Which set. Default: all (stacked-mnist classifies 78,000 digits: a minute).",
    )  # fmt: skip
    p.add_argument("--json", action="store_true", help="Print JSON instead of a table.")

    p = sub.add_parser("score", help="Score a published generator's samples.")
    p.add_argument(
        "model", metavar="MODEL[@VERSION]",
        help="Model name, optionally @version; default: the promoted version, else the latest.",
    )  # fmt: skip
    p.add_argument(
        "--model-dir", type=Path, default=Path("model-store"), metavar="DIR",
        help="The model directory training publishes to. Default: model-store.",
    )  # fmt: skip
    p.add_argument(
        "--seed", type=_seed, default=None,
        help=f"Latent seed of the samples, 0..{MAX_SEED}. Default: the run's own seed, so "
        "the scores match those training recorded.",
    )  # fmt: skip
    p.add_argument(
        "--device", type=_device, default="cpu",
        help="Torch device for generating (cpu, cuda, cuda:1, ...). Default: cpu.",
    )  # fmt: skip
    p.add_argument("--json", action="store_true", help="Print JSON instead of a table.")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stderr)
    try:
        command = {"classifier": _classifier, "reference": _reference, "score": _score}
        return command[args.command](args)
    except (UsageError, CheckpointError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE


def _seed(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be an integer, got {text!r}") from None
    if not 0 <= value <= MAX_SEED:
        raise argparse.ArgumentTypeError(f"must be in [0, {MAX_SEED}], got {text}")
    return value


def _device(text: str) -> str:
    import torch

    try:
        device = torch.device(text)
    except RuntimeError:
        raise argparse.ArgumentTypeError(f"not a torch device: {text!r}") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise argparse.ArgumentTypeError(f"{text!r}: CUDA is not available on this machine")
    return text


def _classifier(args: argparse.Namespace) -> int:
    from evaluation.classifier import load_classifier, train_classifier

    rows = [("dataset", "held-out accuracy", "sha256", "cache path")]
    for name in CLASSIFIED if args.dataset == "all" else (args.dataset,):
        clf = train_classifier(name) if args.retrain else load_classifier(name)
        path = str(clf.path) if clf.path is not None else "(not cached)"
        rows.append((name, f"{clf.accuracy:.4f}", clf.sha256, path))
    print(format_table(rows))
    return 0


def _reference(args: argparse.Namespace) -> int:
    from evaluation.classifier import load_classifier
    from evaluation.evaluator import image_evaluator

    report: dict[str, dict[str, Any]] = {}
    for name in REFERENCED if args.dataset == "all" else (args.dataset,):
        if name == "stacked-mnist":
            report[name] = stacked_reference(load_classifier("mnist-5k"))
        else:
            report[name] = dict(image_evaluator(name).reference)
    if args.json:
        print(json.dumps(report, indent=2))
        return 0
    for i, (name, values) in enumerate(report.items()):
        print(("\n" if i else "") + f"{name} (real data)")
        print(format_table(metric_rows(values)))
    return 0


def stacked_reference(classifier: TrainedClassifier) -> dict[str, Any]:
    """The mode count of the protocol's 26,000 real stacked samples (seeded)."""
    import torch

    from evaluation.stacked import PROTOCOL_SAMPLES, StackedModeCounter
    from training.datasets import load_dataset

    gen = torch.Generator().manual_seed(STACKED_SEED)
    real = load_dataset("stacked-mnist").sample(PROTOCOL_SAMPLES, gen)  # (26000, 3, 28, 28)
    return {
        **StackedModeCounter(classifier).score(real),
        "samples": PROTOCOL_SAMPLES,
        "classifier_accuracy": classifier.accuracy,
    }


def _score(args: argparse.Namespace) -> int:
    import torch

    from evaluation.evaluator import scorer_for
    from models.checkpoint import load_generator
    from training.publish import generate, labels_for

    meta_path = resolve_checkpoint(args.model_dir, args.model)
    generator, meta = load_generator(meta_path, args.device)
    scorer = scorer_for(meta.dataset, tuple(meta.output_shape))
    if scorer is None:
        raise UsageError(
            f"{meta.ref} was trained on {meta.dataset!r}, which has no scorer "
            f"(scored: {', '.join(REFERENCED)} and their :train / :test splits)"
        )
    run_seed = meta.hyperparameters.get("seed")
    seed = args.seed if args.seed is not None else run_seed if isinstance(run_seed, int) else 0
    k = meta.arch.num_classes
    images = generate(generator, seed, scorer.samples, meta.z_dim, k)  # (samples, C, H, W)
    metrics = scorer.score(images, labels_for(0, scorer.samples, k, torch.device("cpu")))
    if args.json:
        report = {"model": meta.ref, "dataset": meta.dataset, "seed": seed,
                  "samples": scorer.samples, "metrics": metrics}  # fmt: skip
        print(json.dumps(report, indent=2))
        return 0
    print(f"{meta.ref}: {scorer.samples} samples of seed {seed}, dataset {meta.dataset}")
    print(format_table(metric_rows(metrics)))
    return 0


def resolve_checkpoint(model_dir: Path, ref: str) -> Path:
    """'name' or 'name@version' -> the version's JSON path (default: promoted, else latest)."""
    name, at, version_text = ref.partition("@")
    try:
        validate_model_name(name)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    if at:
        if not version_text.isdigit():
            raise UsageError(f"version in {ref!r} must be a whole number, e.g. {name}@1000")
        return Path(model_dir) / name / f"{version_stem(int(version_text))}.json"
    versions = [int(p.stem) for p in list_checkpoints(model_dir) if p.parent.name == name]
    if not versions:
        raise UsageError(f"no checkpoint of model {name!r} in {str(model_dir)!r}")
    promoted = read_default_version(model_dir, name)
    version = promoted if promoted in versions else max(versions)
    return Path(model_dir) / name / f"{version_stem(version)}.json"


def metric_rows(metrics: dict[str, Any]) -> list[tuple[str, ...]]:
    return [("metric", "value"), *((key, _number(value)) for key, value in metrics.items())]


def format_table(rows: list[tuple[str, ...]]) -> str:
    """Rows of cells -> left-aligned columns, two spaces apart; the first row is the header."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)) for row in rows]
    return "\n".join(line.rstrip() for line in lines)


def _number(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)
