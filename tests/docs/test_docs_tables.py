"""The tables in docs/ that copy code match the code (scripts/docs_tables.py renders them)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_generated_tables_are_current() -> None:
    done = subprocess.run(
        [sys.executable, "scripts/docs_tables.py", "--check"],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
