"""`python -m gan_client`: samples, dataset uploads, training jobs and models from a shell.

Exit status: 0 done; 1 an error (the server's message, never a traceback) or a job that failed
or was cancelled; 2 a usage error; 130 interrupted.
"""

from __future__ import annotations

import argparse
import json
import sys
import zipfile
from io import BytesIO
from pathlib import Path
from typing import Any

from tqdm import tqdm

from gan_client.calls import Label
from gan_client.client import GanClient
from gan_client.errors import AuthError, BadRequest, Busy, GanError
from gan_client.events import FINAL_STATES

DESCRIPTION = "Samples, dataset uploads, training jobs and models of a GAN service."

# The answer format for each output suffix; .png is one PNG for n = 1, else a grid.
SUFFIX_FORMATS = {".zip": "zip", ".npy": "npy", ".json": "json", ".jpg": "jpeg",
                  ".jpeg": "jpeg", ".webp": "webp"}  # fmt: skip


def _label(text: str) -> Label:
    """'7' is class index 7; anything else is a class name."""
    return int(text) if text.isdecimal() else text


def _setting(text: str) -> tuple[str, Any]:
    """FIELD=VALUE with VALUE read as JSON when it parses (5, 0.1, true, {"g_width": 16}),
    else as a string; a dotted FIELD (arch_config.g_width) sets a nested field."""
    field, sep, raw = text.partition("=")
    if not sep or not field:
        raise argparse.ArgumentTypeError(f"expected FIELD=VALUE, got {text!r}")
    try:
        value = json.loads(raw)
    except json.JSONDecodeError:
        value = raw
    return field, value


def _recipe(args: argparse.Namespace) -> dict[str, Any]:
    recipe: dict[str, Any] = {}
    for field, value in args.set:
        *parents, leaf = field.split(".")
        node = recipe
        for part in parents:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise ValueError(f"--set {field}: {part} is set to a value, not to fields")
        node[leaf] = value
    for key in ("steps", "name"):
        if getattr(args, key) is not None:
            recipe[key] = getattr(args, key)
    if args.conditional:
        recipe["conditional"] = True
    if args.no_promote:
        recipe["auto_promote"] = False
    return recipe


def cmd_sample(gan: GanClient, args: argparse.Namespace) -> int:
    out = Path(args.output)
    to_folder = args.output.endswith(("/", "\\")) or out.is_dir()
    if to_folder:
        fmt = "zip"
    elif out.suffix.lower() == ".png":
        fmt = "png" if args.n == 1 else "grid"
    elif out.suffix.lower() in SUFFIX_FORMATS:
        fmt = SUFFIX_FORMATS[out.suffix.lower()]
    else:
        raise ValueError(
            f"-o {args.output}: cannot tell the format from the suffix; use .png (one sample, "
            "or a grid), .zip, .npy, .json, .jpg, .webp, or a folder ending in /"
        )
    answer = gan.sample_raw(
        args.model, args.n, args.seed, offset=args.offset, truncation=args.truncation,
        label=args.label, format=fmt,
    )  # fmt: skip
    if to_folder:
        out.mkdir(parents=True, exist_ok=True)
        with zipfile.ZipFile(BytesIO(answer.content)) as archive:
            archive.extractall(out)  # names are seed-<seed>-<index>.png
    else:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_bytes(answer.content)
    print(f"{args.output}: {answer.count} samples of {answer.model}, seed {answer.seed}")
    return 0


def cmd_upload(gan: GanClient, args: argparse.Namespace) -> int:
    with tqdm(desc=f"upload {args.name}", unit="B", unit_scale=True, file=sys.stderr) as bar:
        manifest = gan.upload_dataset(args.name, args.path, progress=bar.update)
    classes = manifest.get("classes") or []
    print(
        f"dataset {manifest.get('name', args.name)} ({manifest.get('spec')}): "
        f"{manifest.get('samples')} samples of shape {manifest.get('shape')}, "
        f"{len(classes)} classes, {manifest.get('bytes')} bytes ({manifest.get('format')})"
    )
    return 0


def cmd_train(gan: GanClient, args: argparse.Namespace) -> int:
    job = gan.train(args.dataset, **_recipe(args))
    print(f"queued job {job.id} ({job.name}); follow it with: python -m gan_client watch {job.id}")
    return watch(gan, job.id) if args.watch else 0


def cmd_watch(gan: GanClient, args: argparse.Namespace) -> int:
    return watch(gan, args.job_id)


def watch(gan: GanClient, job_id: str) -> int:
    """A progress bar of step / total_steps with the latest losses, then the final state."""
    job = gan.job(job_id)
    with tqdm(total=job.record["total_steps"], desc=f"{job.name} {job.state}", unit="step",
              file=sys.stderr, dynamic_ncols=True) as bar:  # fmt: skip
        if job.state not in FINAL_STATES:
            for event in job.events():
                if event.get("type") == "progress":
                    bar.total = event.get("total_steps", bar.total)
                    bar.n = event.get("step", bar.n)
                    losses = event.get("losses") or {}
                    bar.set_postfix({k: f"{v:.3f}" for k, v in losses.items() if v is not None})
                elif event.get("type") == "state":
                    bar.set_description(f"{job.name} {event.get('state')}", refresh=False)
                bar.refresh()
        record = job.refresh()
        bar.n = record["step"]
        bar.set_description(f"{job.name} {record['state']}")
    print(_final_line(record))
    return 0 if record["state"] == "succeeded" else 1


def _final_line(record: dict[str, Any]) -> str:
    line = f"job {record['id']} ({record['name']}) {record['state']} at step "
    line += f"{record['step']}/{record['total_steps']}"
    if record.get("error"):
        line += f": {record['error']}"
    if record.get("promoted"):
        line += f"; promoted {record['promoted']}"
    elif record.get("published"):
        line += f"; published {', '.join(record['published'])}"
    return line


def cmd_models(gan: GanClient, args: argparse.Namespace) -> int:
    answer = gan.models()
    rows = [("VERSION", "DEFAULT", "STATUS", "LOADED", "CLASSES", "DATASET")]
    for model in answer.get("models", []):
        for v in model.get("versions", []):
            meta = v.get("meta") or {}
            rows.append((v["ref"], "*" if v.get("default") else "", v.get("status", ""),
                         "yes" if v.get("loaded") else "", str(len(v.get("classes") or [])),
                         str(meta.get("dataset", ""))))  # fmt: skip
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for row in rows:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())
    print(f"default model: {answer.get('default_model')}")
    return 0


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m gan_client", description=DESCRIPTION)
    p.add_argument("--url", help="the service (default: $GAN_URL, else http://127.0.0.1:8000)")
    p.add_argument("--key", help="API key for routes that change state (default: $GAN_API_KEY)")
    p.add_argument("--timeout", type=float, default=60.0, help="seconds per request (60)")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    s = sub.add_parser("sample", help="generate samples into a file or a folder")
    s.add_argument("model", help="name (its default version) or name@version")
    s.add_argument("-n", type=int, default=1, help="number of samples (1)")
    s.add_argument("--seed", type=int, help="which sequence of samples (default: a random one)")
    s.add_argument("--offset", type=int, default=0, help="index of the first sample (0)")
    s.add_argument("--truncation", type=float, default=1.0, help="psi in [0, 1] (1: none)")
    s.add_argument("--label", type=_label, help="conditional models: a class index or name")
    s.add_argument("-o", "--output", required=True,
                   help="grid.png (one PNG for -n 1), samples.zip, .npy, .json, .jpg, .webp, "
                        "or dir/ for one PNG per sample")  # fmt: skip
    s.set_defaults(run=cmd_sample)

    u = sub.add_parser("upload", help="upload a dataset: a folder (sent as a tar) or an archive")
    u.add_argument("name", help="the dataset's name on the server")
    u.add_argument("path", help="a folder of images, or a zip / tar / tar.gz / .npy / .npz file")
    u.set_defaults(run=cmd_upload)

    t = sub.add_parser("train", help="queue a training job")
    t.add_argument("dataset", help="a built-in dataset (ring-8, digits, ...) or an uploaded one")
    t.add_argument("--steps", type=int, help="training steps (default: the preset's)")
    t.add_argument("--name", help="model name (default: <dataset>-<job id>)")
    t.add_argument("--conditional", action="store_true", help="train on the dataset's labels")
    t.add_argument("--no-promote", action="store_true", help="do not make the last version "
                   "the model's default on success")  # fmt: skip
    t.add_argument("--set", type=_setting, action="append", default=[], metavar="FIELD=VALUE",
                   help="any recipe field; VALUE is JSON or a string; arch_config.g_width=16 "
                        "sets a nested field (repeatable)")  # fmt: skip
    t.add_argument("--watch", action="store_true", help="follow the job until it ends")
    t.set_defaults(run=cmd_train)

    w = sub.add_parser("watch", help="follow a job with a progress bar until it ends")
    w.add_argument("job_id")
    w.set_defaults(run=cmd_watch)

    m = sub.add_parser("models", help="list models and their versions")
    m.set_defaults(run=cmd_models)
    return p


def describe(exc: GanError) -> str:
    text = exc.message
    if isinstance(exc, BadRequest) and exc.field:
        text += f" [field: {exc.field}]"
    if exc.status is not None:
        text += f" (HTTP {exc.status})"
    if isinstance(exc, AuthError):
        text += "; pass --key or set GAN_API_KEY"
    if isinstance(exc, Busy) and exc.retry_after is not None:
        text += f"; the server asks to retry in {exc.retry_after:g} s"
    return text


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        with GanClient(args.url, args.key, timeout=args.timeout) as gan:
            return args.run(gan, args)
    except GanError as exc:
        print(f"error: {describe(exc)}", file=sys.stderr)
    except (OSError, ValueError) as exc:  # a local file, a bad URL or option
        print(f"error: {exc}", file=sys.stderr)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    return 1
