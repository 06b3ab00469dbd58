"""service.jobs.worker.memory_cap: an allocation past the cap raises instead of the OOM killer
ending the worker. Real allocations run in a subprocess, so this process's limits stay as they
are."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from service.jobs.worker import memory_cap as mc
from service.jobs.worker.memory_cap import is_out_of_memory, memory_cap

ROOT = Path(__file__).resolve().parents[3]
MB = 1024**2
linux_only = pytest.mark.skipif(
    not Path("/proc/self/status").exists() or not hasattr(mc.resource, "RLIMIT_DATA"),
    reason="needs RLIMIT_DATA and /proc (Linux)",
)


def _soft_limit() -> int:
    return mc.resource.getrlimit(mc.resource.RLIMIT_DATA)[0]


@pytest.mark.parametrize(
    ("exc", "expected"),
    [
        (MemoryError(), True),
        (RuntimeError("[enforce fail at alloc_cpu.cpp:127] DefaultCPUAllocator: can't allocate "
                      "memory: you tried to allocate 4294967296 bytes."), True),
        (torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB"), True),
        (RuntimeError("CUDA error: out of memory"), True),
        (RuntimeError("mat1 and mat2 shapes cannot be multiplied (4x3 and 2x2)"), False),
        (ValueError("out of memory"), False),
        (KeyboardInterrupt(), False),
    ],
)  # fmt: skip
def test_is_out_of_memory(exc: BaseException, expected: bool) -> None:
    assert is_out_of_memory(exc) is expected


@linux_only
@pytest.mark.parametrize("limit", [None, 0])
def test_no_limit_means_no_cap(limit: int | None) -> None:
    before = _soft_limit()
    with memory_cap(limit):
        assert _soft_limit() == before
    assert _soft_limit() == before


@linux_only
def test_the_cap_is_set_above_current_use_nested_and_restored() -> None:
    before = _soft_limit()
    data = mc._data_bytes()
    assert data is not None and data > 0
    with memory_cap(64 * 1024 * MB):  # generous: this is the test runner's own process
        outer = _soft_limit()
        assert data + 64 * 1024 * MB <= outer < data + 65 * 1024 * MB
        with memory_cap(128 * 1024 * MB):
            assert _soft_limit() == outer  # an inner cap never loosens an outer one
        assert _soft_limit() == outer
    assert _soft_limit() == before
    with pytest.raises(ValueError, match="limit_bytes"), memory_cap(-1):
        pass


def test_a_missing_proc_makes_it_a_no_op_that_says_so_once(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(mc, "_data_bytes", lambda: None)
    monkeypatch.setattr(mc, "_noted_unavailable", False)
    before = _soft_limit() if mc.resource is not None else None
    with caplog.at_level(logging.DEBUG, logger=mc.__name__):
        for _ in range(2):
            with memory_cap(100 * MB):
                pass
    notes = [r for r in caplog.records if "no-op" in r.getMessage()]
    assert len(notes) == 1
    if before is not None:
        assert _soft_limit() == before


_SCRIPT = """
import json, resource, sys
from service.jobs.worker.memory_cap import is_out_of_memory, memory_cap
light = "fastapi" not in sys.modules and "torch" not in sys.modules
import torch

before = resource.getrlimit(resource.RLIMIT_DATA)
errors = []
with memory_cap(200 * 1024**2):
    small = torch.empty(50 * 1024**2, dtype=torch.uint8).fill_(1)  # fits under the cap
    try:
        torch.empty(4 * 1024**3, dtype=torch.uint8).fill_(1)
    except BaseException as exc:
        errors.append(exc)
    try:
        bytearray(1024**3)
    except BaseException as exc:
        errors.append(exc)
del small
restored = resource.getrlimit(resource.RLIMIT_DATA) == before
big = torch.empty(1024**3, dtype=torch.uint8).fill_(1)  # no cap any more
print(json.dumps({
    "errors": [f"{type(e).__name__}: {e}"[:200] for e in errors],
    "recognised": [is_out_of_memory(e) for e in errors],
    "restored": restored,
    "light": light,
    "big_sum": int(big[:1000].sum()),
}))
"""


@linux_only
def test_an_allocation_past_the_cap_raises_and_the_process_lives_on() -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, "-c", _SCRIPT],
        capture_output=True, text=True, cwd=ROOT, env=env, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout.strip().splitlines()[-1])
    print(result["errors"])
    assert len(result["errors"]) == 2  # torch's 4 GB and Python's 1 GB both failed
    assert result["errors"][0].startswith("RuntimeError")
    assert "can't allocate memory" in result["errors"][0]
    assert result["errors"][1].startswith("MemoryError")
    assert result["recognised"] == [True, True]
    assert result["restored"] is True
    assert result["light"] is True  # the worker-side module imports neither FastAPI nor torch
    assert result["big_sum"] == 1000
