"""The tables in docs/ that copy code, rendered from the code.

    python scripts/docs_tables.py          # rewrite every table between its markers
    python scripts/docs_tables.py --check  # exit 1 if one is stale (tests/docs does this)

A table lives between `<!-- table:NAME -->` and `<!-- /table:NAME -->` in its document.
"""

from __future__ import annotations

import argparse
import re
import sys
import typing
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


def _cell(text: object) -> str:
    return " ".join(str(text).split()).replace("|", "\\|")


def _default(info: Any) -> str:
    if info.is_required():
        return "required"
    if info.default_factory is not None:
        plain = info.default_factory in (dict, list)
        return f"`{info.default_factory()!r}`" if plain else "computed"
    return "none" if info.default is None else f"`{info.default}`"


def _bounds(info: Any) -> str:
    choices = _literal_values(info.annotation)
    if choices:
        return ", ".join(f"`{c}`" for c in choices)
    signs = (("ge", "≥"), ("gt", ">"), ("le", "≤"), ("lt", "<"))
    found = [f"{sign} {getattr(m, attr)}" for m in info.metadata for attr, sign in signs
             if getattr(m, attr, None) is not None]  # fmt: skip
    return ", ".join(found)


def _literal_values(annotation: Any) -> list[Any]:
    if typing.get_origin(annotation) is typing.Literal:
        return list(typing.get_args(annotation))
    return [v for arg in typing.get_args(annotation) for v in _literal_values(arg)]


def cli_table() -> str:
    """Every option of `python -m training`, with the help text the parser prints."""
    from training.cli import build_parser

    rows = ["| option | meaning |", "|---|---|"]
    for action in build_parser()._actions:
        if not action.option_strings or action.dest == "help":
            continue
        flag = action.option_strings[0]
        if type(action).__name__ == "BooleanOptionalAction":
            shown = f"`{flag}` / `--no-{flag[2:]}`"
        elif action.nargs == 0:
            shown = f"`{flag}`"
        elif action.choices:
            shown = f"`{flag} {{{','.join(map(str, action.choices))}}}`"
        else:
            shown = f"`{flag} {action.metavar or action.dest.upper()}`"
        rows.append(f"| {shown} | {_cell(action.help or '')} |")
    return "\n".join(rows)


def train_config_table() -> str:
    """Every field of a recipe (TrainConfig), and the job-only fields of POST /train-jobs."""
    from service.jobs.api.schemas import JobRequest
    from training.config import TrainConfig

    rows = ["| field | default | range | meaning |", "|---|---|---|---|"]
    fields = dict(TrainConfig.model_fields)
    job_only = {k: v for k, v in JobRequest.model_fields.items() if k not in fields}
    for name, info in [*fields.items(), *job_only.items()]:
        label = f"`{name}`" + (" (jobs only)" if name in job_only else "")
        rows.append(
            f"| {label} | {_default(info)} | {_bounds(info)} | {_cell(info.description or '')} |"
        )
    return "\n".join(rows)


TABLES: dict[str, tuple[str, Callable[[], str]]] = {
    "cli": ("docs/training.md", cli_table),
    "train-config": ("docs/configuration.md", train_config_table),
}


def render(text: str, name: str, table: str) -> str:
    pattern = re.compile(rf"(<!-- table:{name} -->\n)(?:.*?\n)?(<!-- /table:{name} -->)", re.S)
    if not pattern.search(text):
        raise SystemExit(f"no <!-- table:{name} --> markers")
    return pattern.sub(lambda m: m.group(1) + table + "\n" + m.group(2), text)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="Fail if a table is stale.")
    args = parser.parse_args()
    stale = []
    for name, (doc, make) in TABLES.items():
        path = ROOT / doc
        text = path.read_text(encoding="utf-8")
        new = render(text, name, make())
        if new != text:
            stale.append(f"{doc}: table {name}")
            if not args.check:
                path.write_text(new, encoding="utf-8")
    if stale and args.check:
        print("stale (run python scripts/docs_tables.py):\n  " + "\n  ".join(stale))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
