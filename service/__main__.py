"""`python -m service [--host 127.0.0.1] [--port 8000] [--check]`.

With GAN_REDIS_URL set, this runs the API alone (training workers run elsewhere). Without it,
the embedded default also runs redis-server and one Celery worker (service/embedded.py).
"""

from __future__ import annotations

import argparse
import os
import sys


def _passive_openmp() -> None:
    """OpenMP threads that spin while they wait take the cores this process also needs for its
    event loop and PNG encoders (and that other processes need): measured on 2 shared cores, a
    one-sample forward took 96 ms spinning and 4 ms passive. libgomp reads the setting once,
    when torch loads it, so it is set for this process only, before torch is imported, and
    children (the embedded worker) get the environment they were given. An explicit
    OMP_WAIT_POLICY wins."""
    if "OMP_WAIT_POLICY" in os.environ:
        return
    os.environ["OMP_WAIT_POLICY"] = "PASSIVE"
    import torch  # noqa: F401  (loads libgomp with the setting)

    del os.environ["OMP_WAIT_POLICY"]


from service.check import load_settings, missing_api_keys, run_check  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m service", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1", help="Address to listen on.")
    parser.add_argument("--port", type=int, default=8000, help="Port to listen on.")
    parser.add_argument(
        "--check", action="store_true",
        help="Validate the settings and verify every checkpoint, then exit (0 = ok).",
    )  # fmt: skip
    args = parser.parse_args(argv)
    if args.check:
        _passive_openmp()
        return run_check("python -m service", worker=False)
    if not 0 <= args.port <= 65535:
        parser.error(f"--port must be in 0..65535, got {args.port}")
    settings = load_settings("python -m service")
    if settings is None:
        return 2
    if problem := missing_api_keys(settings):
        print(f"python -m service: {problem}", file=sys.stderr)
        return 2
    if not (settings.redis_url and settings.api_processes > 1):
        _passive_openmp()  # this process serves; the parent of several loads no torch
    if not settings.redis_url:
        from service.embedded import run_embedded

        return run_embedded(settings, args.host, args.port)
    from service.server import serve_api

    return serve_api(settings, args.host, args.port)


if __name__ == "__main__":
    sys.exit(main())
