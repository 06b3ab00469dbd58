"""Print pyproject.toml's dependencies as a requirements file, for a cached Docker layer.

    python pyproject_requirements.py pyproject.toml --extras monitoring --exclude torch

The image installs the dependencies before it copies the source, so editing code does not
reinstall them; PyTorch is excluded because the Dockerfile picks its CPU or CUDA build.
"""

from __future__ import annotations

import argparse
import re
import sys
import tomllib
from pathlib import Path

_NAME = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)")


def requirement_name(spec: str) -> str:
    """The normalised distribution name of a requirement line ("Torch==2" -> "torch")."""
    match = _NAME.match(spec)
    if match is None:
        raise ValueError(f"not a requirement: {spec!r}")
    return re.sub(r"[-_.]+", "-", match.group(1)).lower()


def requirements(pyproject: Path, extras: list[str], exclude: list[str]) -> list[str]:
    """Dependencies plus the named optional groups, without the excluded names."""
    project = tomllib.loads(pyproject.read_text())["project"]
    optional = project.get("optional-dependencies", {})
    unknown = [e for e in extras if e not in optional]
    if unknown:
        raise SystemExit(f"unknown extras {unknown}; pyproject.toml has {sorted(optional)}")
    specs = list(project.get("dependencies", []))
    for extra in extras:
        specs.extend(optional[extra])
    skip = {requirement_name(e) for e in exclude}
    return [s for s in specs if requirement_name(s) not in skip]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("pyproject", type=Path)
    parser.add_argument("--extras", default="", help="Comma- or space-separated extras.")
    parser.add_argument("--exclude", action="append", default=[], help="Names to leave out.")
    args = parser.parse_args(argv)
    extras = [e for e in re.split(r"[,\s]+", args.extras) if e]
    sys.stdout.write("".join(f"{s}\n" for s in requirements(args.pyproject, extras, args.exclude)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
