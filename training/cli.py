"""`python -m training`: train a GAN from the command line.

Options mirror training.config.TrainConfig (the help text is the field's description and its
range). A --config file (YAML or JSON) gives any of those fields; flags given on the command
line override it; what neither gives is filled by the dataset's preset (training.presets).
Errors a user can fix print one line and exit with status 2.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from training.config import TrainConfig
from training.errors import GanError

EXIT_USAGE = 2

# flag -> TrainConfig field, for every option that maps one to one
_FIELDS = (
    "dataset", "name", "arch", "loss", "steps", "batch_size", "d_steps", "optimizer", "lr_g",
    "lr_d", "lr_decay_from", "beta1", "beta2", "momentum", "ema_decay", "r1_gamma", "code_weight",
    "gp_weight", "image_size", "channels", "checkpoint_every", "log_every", "seed", "device",
)  # fmt: skip
_SWITCHES = ("conditional", "bf16")  # --x / --no-x


def _help(field: str) -> str:
    info = TrainConfig.model_fields[field]
    bounds = []
    for m in info.metadata:
        for attr, sign in (("ge", ">="), ("gt", ">"), ("le", "<="), ("lt", "<")):
            if getattr(m, attr, None) is not None:
                bounds.append(f"{sign} {getattr(m, attr)}")
    shown = None if info.is_required() else info.default
    default = "" if shown is None else f" Default: {shown} (or the dataset preset's)."
    limits = f" Range: {', '.join(bounds)}." if bounds else ""
    return f"{info.description}{limits}{default}".replace("%", "%%")


def _choices(field: str) -> list[Any] | None:
    annotation = TrainConfig.model_fields[field].annotation
    args = getattr(annotation, "__args__", ())
    values = [a for arg in args for a in getattr(arg, "__args__", (arg,))]
    literal = [v for v in values if isinstance(v, str | int) and not isinstance(v, type)]
    return literal or None


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m training",
        description="Train a GAN and publish checkpoints (EMA generator) to a model directory.",
    )
    types = {"int": int, "float": float, "str": str}
    for field in _FIELDS:
        info = TrainConfig.model_fields[field]
        default = None if info.is_required() else info.default
        kind = type(default).__name__ if default is not None else "str"
        if field in ("image_size", "channels"):
            kind = "int"
        flag = "--" + field.replace("_", "-")
        choices = _choices(field) if field not in ("image_size", "name", "dataset") else None
        parser.add_argument(
            flag,
            type=types.get(kind, str),
            choices=choices,
            default=None,
            metavar=None if choices else kind.upper(),
            help=_help(field),
        )
    for field in _SWITCHES:
        parser.add_argument(
            "--" + field.replace("_", "-"),
            action=argparse.BooleanOptionalAction,
            default=None,
            help=_help(field),
        )
    parser.add_argument(
        "--arch-config",
        type=json.loads,
        default=None,
        metavar="JSON",
        help='Architecture overrides as JSON, e.g. \'{"g_width": 32, "pack": 2}\'.',
    )
    parser.add_argument(
        "--config",
        type=Path,
        default=None,
        metavar="FILE",
        help="YAML or JSON file of TrainConfig fields; command-line flags override it.",
    )
    parser.add_argument(
        "--model-dir",
        type=Path,
        default=Path("model-store"),
        help="Where checkpoints are published (the service reads it). Default: model-store.",
    )
    parser.add_argument(
        "--data-root",
        type=Path,
        default=None,
        help="Relative folder:/npz: paths are read from here. Default: the current folder.",
    )
    parser.add_argument(
        "--dry-run",
        action="store_true",
        help="Resolve the config, load the data, build the networks, run one step; write "
        "nothing; print the resolved config.",
    )
    parser.add_argument(
        "--resume",
        action="store_true",
        help="Continue a stopped or killed run from its last saved state (error if none).",
    )
    parser.add_argument("--no-progress", action="store_true", help="No progress bar.")
    return parser


def config_from_args(args: argparse.Namespace) -> TrainConfig:
    """File values, then flags; only what either gives counts as set by the user."""
    values: dict[str, Any] = _read_config_file(args.config) if args.config else {}
    for field in (*_FIELDS, *_SWITCHES, "arch_config"):
        given = getattr(args, field)
        if given is not None:
            values[field] = given
    if "dataset" not in values:
        raise GanError("--dataset is required (or a 'dataset' entry in the --config file)")
    return TrainConfig.model_validate(values)


def _read_config_file(path: Path) -> dict[str, Any]:
    import yaml

    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise GanError(f"--config {str(path)!r}: cannot read it ({exc.strerror})") from None
    try:
        data = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    except (json.JSONDecodeError, yaml.YAMLError) as exc:
        message = str(exc).splitlines()[0]
        raise GanError(f"--config {str(path)!r}: not valid YAML/JSON ({message})") from None
    if not isinstance(data, dict):
        raise GanError(f"--config {str(path)!r}: expected a mapping of TrainConfig fields")
    return data


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        config = config_from_args(args)
        if args.dry_run:
            return _dry_run(config, args.data_root)
        return _train(config, args)
    except ValidationError as exc:
        print(f"error: {_one_line(exc)}", file=sys.stderr)
    except GanError as exc:
        print(f"error: {exc}", file=sys.stderr)
    return EXIT_USAGE


def _one_line(exc: ValidationError) -> str:
    first = exc.errors()[0]
    where = ".".join(str(p) for p in first["loc"]) or "config"
    more = f" (and {exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
    return f"{where}: {first['msg']} (got {first.get('input')!r}){more}"


def _dry_run(config: TrainConfig, data_root: Path | None) -> int:
    from training.loop import dry_run

    resolved, losses = dry_run(config, data_root=data_root)
    print(json.dumps(resolved.model_dump(mode="json"), indent=2, sort_keys=True))
    print(
        f"dry run: one step done, losses d={losses['d']:.4f} g={losses['g']:.4f}; nothing written"
    )
    return 0


def _train(config: TrainConfig, args: argparse.Namespace) -> int:
    from training.loop import train
    from training.presets import resolve_config
    from training.progress import ProgressReport
    from training.state import resume_path

    resolved = resolve_config(config, data_root=args.data_root)[0]
    name = resolved.name
    assert name is not None
    if args.resume and not resume_path(args.model_dir, name).exists():
        raise GanError(
            f"--resume: no saved state for model {name!r} in {str(args.model_dir)!r} "
            "(run without --resume to start it)"
        )
    stop = {"asked": False}

    def on_interrupt(signum: int, frame: object) -> None:
        if stop["asked"]:
            raise KeyboardInterrupt
        stop["asked"] = True  # the loop saves its state at the next step and returns

    previous = signal.signal(signal.SIGINT, on_interrupt)
    bar = _progress_bar(resolved.steps, disabled=args.no_progress)

    def progress(report: ProgressReport) -> None:
        bar.total = report.total_steps
        bar.n = report.step
        bar.set_postfix(
            d=f"{report.losses['d']:.3f}",
            g=f"{report.losses['g']:.3f}",
            Dx=f"{report.d_real:.2f}",
            DGz=f"{report.d_fake:.2f}",
            refresh=False,
        )
        bar.refresh()

    def should_stop() -> bool:
        if bar.n < bar.total:
            bar.update(1)
        return stop["asked"]

    try:
        result = train(
            config,
            args.model_dir,
            progress=progress,
            should_stop=should_stop,
            resume=args.resume,
            data_root=args.data_root,
        )
    finally:
        bar.close()
        signal.signal(signal.SIGINT, previous)
    run = Path(args.model_dir) / result.name
    if result.stopped:
        print(f"stopped at step {result.steps_done}; continue with --resume")
    if result.published:
        version = int(result.published[-1].rpartition("@")[2])
        print(f"checkpoint: {run / f'{version:08d}.json'}")
        print(f"samples: {run / 'run' / 'samples.png'}")
    if result.final_metrics:
        print("metrics: " + json.dumps(result.final_metrics, sort_keys=True))
    return 0


def _progress_bar(steps: int, *, disabled: bool):  # noqa: ANN202 - a tqdm bar
    from tqdm import tqdm

    return tqdm(total=steps, unit="step", disable=disabled, dynamic_ncols=True)
