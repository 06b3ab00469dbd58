"""The service against LitServe on the same weights, one server at a time, in one run.

    pip install -e '.[bench]'          # LitServe 0.2.19, from the package index
    python benchmarks/serve_vs_litserve.py [--duration 10] [--concurrency 1 8 32 128]
        [--rounds 1] [--max-batch 64] [--batch-timeout 0.005] [--png-level 1]
        [--api-processes CORES]

1. Publishes the DCGAN 64x64 generator of benchmarks/serve_bench.py (z 100, width 64, RGB).
2. For each round, the service (`python -m service`, GAN_MAX_BATCH_SIZE = --max-batch,
   GAN_API_PROCESSES = --api-processes, one per core by default) and
   then LitServe (benchmarks/litserve_app.py: dynamic batching up to --max-batch requests,
   --batch-timeout) are started alone, checked (one 64x64 PNG per request, the service's
   bytes the same for the same seed before and after the load) and driven with wrk at each
   concurrency, n = 1, the same POST /samples body and PNG zlib level.
3. Prints images/s, p50 and p99 of both and the ratio per concurrency (rounds averaged), and
   whether the issue's target (>= 2x LitServe at every concurrency) is met. Not asserted.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import serve_bench  # benchmarks/ is this script's folder: on sys.path
from PIL import Image

ROOT = serve_bench.ROOT
TARGET = 2.0


def post(url: str, seed: int) -> bytes:
    body = json.dumps({"n": 1, "seed": seed, "model": serve_bench.MODEL}).encode()
    request = urllib.request.Request(
        f"{url}/samples", body, {"Content-Type": "application/json"}, method="POST"
    )
    with urllib.request.urlopen(request, timeout=60) as answer:
        assert answer.status == 200, answer.status
        return answer.read()


def start_litserve(meta: Path, port: int, log: Path, args: argparse.Namespace) -> subprocess.Popen:
    command = [sys.executable, str(ROOT / "benchmarks" / "litserve_app.py"), str(meta),
               str(port), "--max-batch", str(args.max_batch), "--batch-timeout",
               str(args.batch_timeout), "--png-level", str(args.png_level)]  # fmt: skip
    process = subprocess.Popen(
        command, stdout=open(log, "wb"), stderr=subprocess.STDOUT,  # noqa: SIM115
        start_new_session=True,  # LitServe starts worker processes: stopped as a group
    )  # fmt: skip
    return serve_bench.wait_ready(process, f"http://127.0.0.1:{port}/health", log, "LitServe")


def stop(process: subprocess.Popen) -> None:
    """SIGTERM to LitServe's process group, then SIGKILL to whatever of it is left: its
    inference workers can outlive the main process."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(timeout=30)
    time.sleep(1)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait(timeout=10)


def measure(url: str, concurrency: list[int], duration: int) -> dict[int, dict]:
    png = Image.open(io.BytesIO(post(url, 1)))
    assert png.format == "PNG" and png.size == (64, 64) and png.mode == "RGB", png
    serve_bench.wrk(url, 8, 1, 2)  # warm-up
    results = {}
    for c in concurrency:
        results[c] = serve_bench.wrk(url, c, 1, duration)
        print(f"  {url} c={c}: {results[c]}", file=sys.stderr)
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=int, default=10, help="Seconds per wrk run.")
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 8, 32, 128])
    parser.add_argument("--rounds", type=int, default=1, help="Service then LitServe, N times.")
    parser.add_argument("--max-batch", type=int, default=64)
    parser.add_argument("--batch-timeout", type=float, default=0.005, help="LitServe's, s.")
    parser.add_argument("--png-level", type=int, default=1)
    parser.add_argument(
        "--api-processes", type=int, default=len(os.sched_getaffinity(0)),
        help="The service's GAN_API_PROCESSES (default: one per core).",
    )  # fmt: skip
    args = parser.parse_args()
    try:
        import litserve
    except ImportError:
        raise SystemExit("LitServe is not installed: pip install -e '.[bench]'") from None

    tmp = Path(tempfile.mkdtemp(prefix="serve-vs-litserve-"))
    meta = serve_bench.publish(tmp / "models")
    print(
        f"# The service against LitServe {litserve.__version__}: DCGAN 64x64 (z 100, width 64), "
        f"n = 1, max batch {args.max_batch} (LitServe batch timeout "
        f"{args.batch_timeout * 1000:.0f} ms), PNG level {args.png_level}, {os.cpu_count()} "
        f"cores, the service with {args.api_processes} API process(es), wrk one thread, "
        f"{args.duration} s per row, {args.rounds} round(s)"
    )
    print(f"load average before: {os.getloadavg()[0]:.2f}\n")
    runs: dict[str, list[dict[int, dict]]] = {"service": [], "litserve": []}
    for round_ in range(args.rounds):
        port = serve_bench.free_port()
        url = f"http://127.0.0.1:{port}"
        env = {"GAN_DEVICE": "cpu", "GAN_MAX_BATCH_SIZE": str(args.max_batch),
               "GAN_PNG_COMPRESS_LEVEL": str(args.png_level),
               "GAN_API_PROCESSES": str(args.api_processes)}  # fmt: skip
        service = serve_bench.start_service(tmp / "models", port, tmp / f"service{round_}.log",
                                            env)  # fmt: skip
        try:
            before = post(url, 12345)
            runs["service"].append(measure(url, args.concurrency, args.duration))
            assert post(url, 12345) == before, "the same seed gave other bytes after the load"
        finally:
            service.send_signal(signal.SIGTERM)
            service.wait(timeout=60)

        port = serve_bench.free_port()
        url = f"http://127.0.0.1:{port}"
        lit = start_litserve(meta, port, tmp / f"litserve{round_}.log", args)
        try:
            runs["litserve"].append(measure(url, args.concurrency, args.duration))
        finally:
            stop(lit)

    def mean(server: str, c: int, key: str) -> float:
        return statistics.fmean(run[c][key] for run in runs[server])

    print("| concurrency | service images/s | LitServe images/s | ratio | service p50 / p99 ms "
          "| LitServe p50 / p99 ms | non-2xx (service, LitServe) |")  # fmt: skip
    print("|---:|---:|---:|---:|---:|---:|---:|")
    ratios = {}
    for c in args.concurrency:
        ours, theirs = mean("service", c, "images_s"), mean("litserve", c, "images_s")
        ratios[c] = ours / theirs if theirs else float("inf")
        bad = (sum(r[c]["non_2xx"] for r in runs["service"]),
               sum(r[c]["non_2xx"] for r in runs["litserve"]))  # fmt: skip
        print(f"| {c} | {ours:.0f} | {theirs:.0f} | **{ratios[c]:.2f}x** | "
              f"{mean('service', c, 'p50_ms'):.1f} / {mean('service', c, 'p99_ms'):.1f} | "
              f"{mean('litserve', c, 'p50_ms'):.1f} / {mean('litserve', c, 'p99_ms'):.1f} | "
              f"{bad[0]}, {bad[1]} |")  # fmt: skip
    worst = min(ratios.values())
    verdict = "PASS" if worst >= TARGET else "MISS"
    print(f"\n- {verdict}: >= {TARGET:.0f}x LitServe at every concurrency (worst {worst:.2f}x)")
    print("- the service's bytes for one seed were the same before and after each load")
    print(f"\nload average after: {os.getloadavg()[0]:.2f}")
    spread = {c: [r[c]["images_s"] for r in runs["service"]] for c in args.concurrency}
    print(json.dumps({"ratios": ratios, "service_images_s": spread}), file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
