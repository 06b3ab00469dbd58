"""`python -m service.jobs.worker [celery worker options]`: one training worker.

Reads the GAN_* settings, builds the Celery app from them and runs `celery worker` with the
project's defaults (one job at a time); options given here are passed on, e.g. `-n NAME` or
`-l debug`. `--check` alone validates the settings and folders and exits (service/check.py).
"""

from __future__ import annotations

import sys

from service.check import load_settings, run_check
from service.jobs.worker.app import create_worker_app

DEFAULT_OPTIONS = ["--concurrency", "1", "--prefetch-multiplier", "1", "-l", "info"]


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if args == ["--check"]:
        return run_check("python -m service.jobs.worker", worker=True)
    settings = load_settings("python -m service.jobs.worker")
    if settings is None:
        return 2
    try:
        app = create_worker_app(settings)
    except ValueError as exc:
        print(f"python -m service.jobs.worker: {exc}", file=sys.stderr)
        return 2
    app.worker_main(["worker", *DEFAULT_OPTIONS, *args])
    return 0


if __name__ == "__main__":
    sys.exit(main())
