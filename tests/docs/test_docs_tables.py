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


def test_the_settings_table_lists_every_setting_with_its_default() -> None:
    import re

    from service.settings import Settings

    text = (ROOT / "docs" / "configuration.md").read_text(encoding="utf-8")
    rows = dict(re.findall(r"^\| `(GAN_[A-Z0-9_]+)` \| ([^|]*) \|", text, re.M))
    fields = Settings.model_fields
    assert set(rows) == {f"GAN_{name.upper()}" for name in fields}
    for name, info in fields.items():
        shown = re.findall(r"`([^`]*)`", rows[f"GAN_{name.upper()}"])
        default = info.default
        if info.default_factory is not None or default is None or default == "":
            continue  # computed or empty: described in words
        if isinstance(default, bool):
            assert shown and shown[0] == str(default).lower(), name
        elif isinstance(default, int | float):
            assert shown and float(shown[0]) == default, (name, rows[f"GAN_{name.upper()}"])
        else:
            assert shown and shown[0] == str(default), (name, rows[f"GAN_{name.upper()}"])
