"""benchmarks/job_faults.py in a tiny configuration: two short jobs, one fault of each kind."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "job_faults.py"

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def test_jobs_survive_a_worker_kill_and_a_redis_kill(tmp_path: Path) -> None:
    command = [sys.executable, str(SCRIPT), "--jobs", "2", "--steps", "200",
               "--checkpoint-every", "50", "--log-every", "25", "--worker-kills", "1",
               "--redis-kills", "1", "--lease", "4", "--reaper-interval", "1",
               "--redis-down", "6", "--pause", "1", "--settle", "5", "--poll", "0.2",
               "--timeout", "400", "--out", str(tmp_path)]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, timeout=560)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]
    assert done.stdout.rstrip().endswith("PASS")
    summary = json.loads((tmp_path / "job_faults.json").read_text())
    assert sorted(f["kind"] for f in summary["faults"]) == ["redis SIGKILL", "worker SIGKILL"]
    assert [job["state"] for job in summary["jobs"]] == ["succeeded", "succeeded"]
