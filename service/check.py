"""`--check` for the API and the worker: validate the settings and the model directory, print
what was found, and exit without starting anything (no Redis, no GPU work, no port).

Exit status: 0 when the process would start and serve, 1 when something it needs is wrong
(each problem printed on its own line), 2 when a GAN_* setting is invalid.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from pydantic import ValidationError

from service.settings import Settings


def load_settings(prog: str) -> Settings | None:
    """The settings, or None after printing each invalid variable by name."""
    try:
        return Settings()
    except ValidationError as exc:
        for error in exc.errors():
            field = ".".join(str(p) for p in error["loc"])
            where = f"GAN_{field.upper()}: " if field else ""  # "" when settings disagree
            print(f"{prog}: {where}{error['msg']}", file=sys.stderr)
        return None


def _folder_problem(path: Path, what: str, *, writable: bool) -> str | None:
    if not path.exists():
        parent = next((p for p in path.parents if p.exists()), None)
        if parent is None or not os.access(parent, os.W_OK):
            return f"{what} {path} does not exist and cannot be created"
        return None  # created on first use
    if not path.is_dir():
        return f"{what} {path} is not a folder"
    if not os.access(path, os.R_OK | os.X_OK):
        return f"{what} {path} cannot be read"
    if writable and not os.access(path, os.W_OK):
        return f"{what} {path} is not writable"
    return None


def _device_problem(settings: Settings) -> str | None:
    if settings.device != "cuda":
        return None
    import torch

    return None if torch.cuda.is_available() else "GAN_DEVICE=cuda, but no CUDA device is visible"


def check_models(model_dir: Path) -> tuple[list[str], list[str]]:
    """Verify every checkpoint as the service would before serving it: (report, refusals)."""
    from models.checkpoint import CheckpointError, list_checkpoints, load_generator

    report, refused = [], []
    for meta_path in list_checkpoints(model_dir):
        ref = f"{meta_path.parent.name}@{int(meta_path.stem)}"
        try:
            _generator, meta = load_generator(meta_path, "cpu")
            if meta.ref != ref:
                raise CheckpointError(f"{meta_path}: metadata names {meta.ref}")
            report.append(f"  {ref}: ok ({meta.arch.family}, sha256 {meta.weights_sha256[:12]})")
        except Exception as exc:  # noqa: BLE001 - every refusal is reported, none stops the check
            refused.append(f"{ref} would be refused: {exc}")
    return report, refused


def missing_api_keys(settings: Settings) -> str | None:
    """Why the API must not start unprotected, or None."""
    if settings.require_api_keys and not settings.api_keys:
        return (
            "GAN_REQUIRE_API_KEYS is set, but neither GAN_API_KEYS nor GAN_API_KEYS_FILE gives "
            "a key"
        )
    return None


def run_check(prog: str, *, worker: bool) -> int:
    settings = load_settings(prog)
    if settings is None:
        return 2
    problems = []
    if worker and not settings.redis_url:
        problems.append("GAN_REDIS_URL is empty: a worker needs the broker's URL")
    for path, what, writable in (
        (settings.model_dir, "GAN_MODEL_DIR", worker),
        (settings.data_root, "GAN_DATA_ROOT", False),
    ):
        problem = _folder_problem(Path(path), what, writable=writable)
        if problem:
            problems.append(problem)
    for problem in (_device_problem(settings), None if worker else missing_api_keys(settings)):
        if problem:
            problems.append(problem)
    role = "worker" if worker else ("API" if settings.redis_url else "embedded default")
    print(f"{prog}: checking the {role}'s settings and {settings.model_dir}")
    if not worker and Path(settings.model_dir).is_dir():
        report, refused = check_models(Path(settings.model_dir))
        print(f"{len(report)} checkpoint(s) verified, {len(refused)} refused")
        for line in report:
            print(line)
        problems += refused
    for problem in problems:
        print(f"{prog}: {problem}", file=sys.stderr)
    print(f"{prog}: {'ok' if not problems else f'{len(problems)} problem(s)'}")
    return 1 if problems else 0
