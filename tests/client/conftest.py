"""Fixtures for the client tests, reused from the service and jobs tests: the sample service as
a real `python -m service` process over checkpoints from the real training loop
(tests/service), and the jobs stack of a real redis-server, Celery worker and uvicorn
(tests/service/jobs). Their modules are loaded by path, so that no other test folder goes on
sys.path (each folder has its own conftest)."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:  # `pytest` (not `python -m pytest`) from a checkout
    sys.path.insert(0, str(ROOT))


def _load(name: str, path: Path) -> ModuleType:
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


# tests/service/conftest.py imports the harness by this name.
harness = _load("sample_service_harness", ROOT / "tests/service/sample_service_harness.py")
_service = _load("client_service_fixtures", ROOT / "tests/service/conftest.py")
_jobs = _load("client_jobs_fixtures", ROOT / "tests/service/jobs/conftest.py")

trained_store = _service.trained_store  # digits@15, digits@30 (8 x 8 DCGAN), ring-8@30 (2-D)
make_service = _service.make_service
stack = _jobs.stack
Stack = _jobs.Stack
JOBS_API_KEY = _jobs.API_KEY
wait_for = _jobs.wait_for


def run_cli(*args: str, env: dict[str, str] | None = None, timeout: float = 300):
    """`python -m gan_client ARGS` in a child process, as a user would run it."""
    child_env = {k: v for k, v in os.environ.items() if not k.startswith("GAN_")}
    child_env |= {"PYTHONPATH": str(ROOT), **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "gan_client", *args],
        cwd=ROOT,
        env=child_env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
