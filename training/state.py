"""Resume state: everything needed to continue a run exactly where it stopped.

<model_dir>/<name>/run/resume.pt holds G, D and EMA state dicts, both optimizers, every RNG
state the loop draws from, the step and the logged history. It is written atomically and read
with torch.load(weights_only=True): tensors and plain containers only, never pickled code.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import torch

from models.atomic import atomic_write_bytes
from training.errors import TrainingError

RUN_DIR = "run"
RESUME_FILE = "resume.pt"
STATE_FORMAT = "gan-resume/1"
_REQUIRED = ("format", "config", "step", "g", "d", "ema", "opt_g", "opt_d", "rng", "history")


def run_dir(model_dir: Path, name: str) -> Path:
    return Path(model_dir) / name / RUN_DIR


def resume_path(model_dir: Path, name: str) -> Path:
    return run_dir(model_dir, name) / RESUME_FILE


def save_state(path: Path, state: dict[str, Any]) -> None:
    buf = io.BytesIO()
    torch.save({"format": STATE_FORMAT, **state}, buf)
    atomic_write_bytes(Path(path), buf.getvalue())


def load_state(path: Path) -> dict[str, Any] | None:
    """The saved state, None when there is none; TrainingError when it cannot be used."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise TrainingError(f"{path}: cannot read the resume state ({exc.strerror})") from None
    try:
        state = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    except Exception as exc:  # truncated zip, bad pickle opcode, a forbidden global...
        raise TrainingError(
            f"{path}: the resume state is truncated or corrupt ({type(exc).__name__}); "
            "delete the run folder to start over, or train under another name"
        ) from None
    if not isinstance(state, dict) or state.get("format") != STATE_FORMAT:
        raise TrainingError(f"{path}: not a resume state of format {STATE_FORMAT!r}")
    missing = [key for key in _REQUIRED if key not in state]
    if missing:
        raise TrainingError(f"{path}: the resume state lacks {', '.join(missing)}")
    return state


def capture_rng(generators: dict[str, torch.Generator]) -> dict[str, torch.Tensor]:
    """RNG states of the given generators plus torch's global CPU (and CUDA) state."""
    states = {f"gen_{key}": g.get_state() for key, g in generators.items()}
    states["torch_cpu"] = torch.get_rng_state()
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        states["torch_cuda"] = torch.cuda.get_rng_state()
    return states


def restore_rng(states: dict[str, torch.Tensor], generators: dict[str, torch.Generator]) -> None:
    for key, g in generators.items():
        g.set_state(states[f"gen_{key}"])
    torch.set_rng_state(states["torch_cpu"])
    if "torch_cuda" in states and torch.cuda.is_available():
        torch.cuda.set_rng_state(states["torch_cuda"])
