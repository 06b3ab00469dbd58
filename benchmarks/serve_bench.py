"""Serving benchmark: the service under wrk against the in-process limit, measured in one run.

    python benchmarks/serve_bench.py [--duration 10] [--concurrency 1 8 32 128] [--n 1 64]

1. Publishes a DCGAN 64x64 generator (z 100, width 64, RGB; random weights: speed does not
   depend on training) to a temporary model directory.
2. In-process (no HTTP), with the service's own code: the optimized pipeline (batch norm
   folded, channels-last, the DCGAN's first and image layers rewritten, in the dtype the
   service runs (GAN_INFERENCE_DTYPE, --dtype), PNGs written directly at
   GAN_PNG_COMPRESS_LEVEL) at the maximum batch, forward plus
   PNG encoding on all cores = the *in-process limit*; the same for a naive pipeline (eager
   generator, Pillow's default PNG settings) and each step between; one sample alone.
3. Starts `python -m service` and drives POST /samples with wrk (C, one thread: it costs
   little CPU) at each concurrency for n = 1 and n = 64; reads images/s, p50, p99, non-2xx.
4. Service RSS with the model loaded, before and after the load.
Prints markdown tables; the targets of the issue are checked and printed, not asserted.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
# The same OpenMP setting as `python -m service` (see service/__main__.py), before torch loads.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import numpy as np  # noqa: E402
import torch  # noqa: E402
from PIL import Image  # noqa: E402

from models.checkpoint import load_generator, save_generator  # noqa: E402
from models.config import DCGANConfig  # noqa: E402
from models.factory import build_generator  # noqa: E402
from models.latent import latent_batch  # noqa: E402
from models.output import to_uint8_images  # noqa: E402
from service import encoding  # noqa: E402
from service.inference import (  # noqa: E402
    calibrate,
    inference_dtype,
    optimize_generator,
    serving_module,
)

LUA = ROOT / "benchmarks" / "serve_wrk.lua"
MODEL = "dcgan64@1"


def publish(model_dir: Path) -> Path:
    torch.manual_seed(0)
    arch = DCGANConfig(image_size=64, channels=3, z_dim=100, g_width=64, d_width=64)
    path, _ = save_generator(
        model_dir, "dcgan64", build_generator(arch), arch, step=1, dataset="none", loss="none"
    )
    return path


def timed(fn, repeats: int) -> float:
    """Median seconds of `repeats` calls after one warm-up call."""
    fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def png_default(pixels: np.ndarray) -> bytes:
    """Pillow's defaults (zlib level 6), the naive choice."""
    import io

    buf = io.BytesIO()
    Image.fromarray(pixels).save(buf, "PNG")
    return buf.getvalue()


def in_process(
    meta_path: Path, batch: int, level: int, workers: int, repeats: int, dtype: torch.dtype
) -> dict:
    eager, meta = load_generator(meta_path, "cpu")
    z = torch.from_numpy(latent_batch(1, 0, batch, meta.z_dim))  # (batch, 100)
    one = z[:1]
    pool = ThreadPoolExecutor(workers)

    def forward(module, x):
        def run():
            with torch.inference_mode():
                return to_uint8_images(module(x))  # (B, 64, 64, 3) uint8

        return run

    def encode(images, fn):
        chunks = np.array_split(images, workers)
        return lambda: [b for part in pool.map(lambda c: [fn(i) for i in c], chunks) for b in part]

    fast_name = "+ first and image layers rewritten"
    steps = {
        "eager": eager,
        "+ batch norm folded": optimize_generator(eager, channels_last=False, rewrite=False),
        "+ channels-last": optimize_generator(eager, rewrite=False),
        fast_name: optimize_generator(eager),
    }
    if dtype != torch.float32:
        fast_name = f"+ {str(dtype).removeprefix('torch.')} (the service's dtype here)"
        steps[fast_name] = serving_module(eager, meta.z_dim, 0, dtype)
    fwd = {name: timed(forward(m, z), repeats) for name, m in steps.items()}
    fast = steps[fast_name]
    images = forward(fast, z)()
    enc_default = timed(encode(images, png_default), repeats)
    enc_fast = timed(encode(images, lambda i: encoding.png(i, level)), repeats)
    cal = calibrate(fast, meta.z_dim, batch, torch.device("cpu"))
    padded = torch.cat([one, torch.zeros(cal.bucket_for(1) - 1, meta.z_dim)])  # (bucket, 100)
    single_fwd = timed(forward(fast, padded), repeats * 4)
    single_png = timed(lambda: encoding.png(images[0], level), repeats * 4)
    pipelined = pipelined_rate(fast, z, pool, workers, level, seconds=3.0)
    pool.shutdown()
    rows = [("naive: eager G + Pillow default PNG (level 6)", fwd["eager"], enc_default)]
    rows += [(name, f, enc_default) for name, f in fwd.items() if name != "eager"]
    rows.append(
        (f"+ PNG written directly, level {level} = optimized (service)", fwd[fast_name], enc_fast)
    )
    sequential = batch / (fwd[fast_name] + enc_fast)
    return {
        "rows": [(name, f, e, batch / (f + e)) for name, f, e in rows],
        "sequential": sequential,
        "pipelined": pipelined,
        "limit": max(sequential, pipelined),
        "naive": batch / (fwd["eager"] + enc_default),
        "single_ms": (single_fwd + single_png) * 1000,
        "buckets": cal.buckets,
    }


def pipelined_rate(fast, z, pool, workers: int, level: int, seconds: float) -> float:
    """Images/s when, as in the service, one thread runs forwards back to back while the pool
    encodes the previous batch."""
    pending: list[list] = []
    done = 0
    start = time.perf_counter()
    while time.perf_counter() - start < seconds:
        with torch.inference_mode():
            images = to_uint8_images(fast(z))  # (B, 64, 64, 3)
        chunks = np.array_split(images, workers)
        pending.append([pool.submit(encoding.pngs, chunk, level) for chunk in chunks])
        while len(pending) > 1:
            done += sum(len(f.result()) for f in pending.pop(0))
    for futures in pending:
        done += sum(len(f.result()) for f in futures)
    return done / (time.perf_counter() - start)


def try_compile(meta_path: Path, batch: int, repeats: int) -> str:
    eager, meta = load_generator(meta_path, "cpu")
    fast = optimize_generator(eager)
    z = torch.from_numpy(latent_batch(1, 0, batch, meta.z_dim))
    with torch.inference_mode():
        before = timed(lambda: fast(z), repeats)
        start = time.perf_counter()
        compiled = torch.compile(fast)
        compiled(z)
        compile_s = time.perf_counter() - start
        after = timed(lambda: compiled(z), repeats)
        same = torch.equal(compiled(z[:1]), fast(z)[:1])
    return (
        f"torch.compile: {compile_s:.0f} s to compile, forward at {batch} "
        f"{before * 1000:.0f} -> {after * 1000:.0f} ms; row 0 alone bit-identical to the "
        f"uncompiled batch: {same}"
    )


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rss_mb(pid: int) -> tuple[float, float]:
    """Resident and peak MiB of the largest process serving: `pid`, or with several API
    processes the largest of its children (each holds its own models)."""
    serving = [p for p in _children(pid) if b"resource_tracker" not in _cmdline(p)] or [pid]
    rss = peak = 0.0
    for p in serving:
        status = Path(f"/proc/{p}/status").read_text()
        rss = max(rss, int(re.search(r"VmRSS:\s+(\d+)", status).group(1)) / 1024)
        peak = max(peak, int(re.search(r"VmHWM:\s+(\d+)", status).group(1)) / 1024)
    return rss, peak


def _cmdline(pid: int) -> bytes:
    return Path(f"/proc/{pid}/cmdline").read_bytes()


def _children(pid: int) -> list[int]:
    found = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        found += [int(c) for c in (task / "children").read_text().split()]
    return found


def start_service(model_dir: Path, port: int, log: Path, env_extra: dict) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GAN_")}
    env |= {
        "GAN_MODEL_DIR": str(model_dir),
        "GAN_DEVICE": "cpu",
        "GAN_REDIS_URL": "redis://127.0.0.1:1/0",  # API alone; jobs are not measured
        # c=128 x n=64 all admitted (neither the queue cap nor the predicted-wait bound
        # sheds): the benchmark measures throughput, tests/service/test_admission.py shedding.
        "GAN_MAX_QUEUE_SAMPLES": "16384",
        "GAN_MAX_QUEUE_WAIT_S": "3600",
        "PYTHONPATH": os.pathsep.join(filter(None, (str(ROOT), os.environ.get("PYTHONPATH")))),
        **env_extra,
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "service", "--port", str(port)],
        env=env,
        stdout=open(log, "wb"),  # noqa: SIM115 (the child keeps it)
        stderr=subprocess.STDOUT,
    )
    wait_ready(process, f"http://127.0.0.1:{port}/readyz", log, "service")
    if int(env.get("GAN_API_PROCESSES", "1")) > 1:
        _wait_all_ready(process, f"http://127.0.0.1:{port}/readyz", log)
    return process


def _wait_all_ready(process: subprocess.Popen, url: str, log: Path, streak: int = 30) -> None:
    """Several API processes: `streak` answers 200 in a row, each on a new connection, which
    any process may accept, so one still loading its model shows up as a 503."""
    deadline = time.monotonic() + 180
    good = 0
    while good < streak:
        if time.monotonic() > deadline:
            tail = log.read_text()[-2000:]
            raise SystemExit(f"not every API process ready within 180 s:\n{tail}")
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                good = good + 1 if r.status == 200 else 0
        except OSError:
            good = 0
            time.sleep(0.3)


def wait_ready(process: subprocess.Popen, url: str, log: Path, what: str) -> subprocess.Popen:
    """`process` once `url` answers 200; exits with its log's tail if it dies first."""
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"{what} exited:\n{log.read_text()[-2000:]}")
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                if r.status == 200:
                    return process
        except OSError:
            pass
        time.sleep(0.3)
    raise SystemExit(f"{what} not ready within 180 s")


def wrk(url: str, concurrency: int, n: int, duration: int) -> dict:
    command = [
        "wrk",
        "-t1",
        f"-c{concurrency}",
        f"-d{duration}s",
        "--timeout",
        "60s",
        "--latency",
        "-s",
        str(LUA),
        url,
        "--",
        str(n),
        MODEL,
    ]
    out = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    requests = int(re.search(r"(\d+) requests in", out).group(1))
    seconds = float(re.search(r"requests in ([\d.]+)(m?s)", out).group(1))
    if re.search(r"requests in [\d.]+ms", out):
        seconds /= 1000
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    errors = re.search(r"Socket errors: (.*)", out)
    good = requests - (int(bad.group(1)) if bad else 0)
    return {
        "images_s": good * n / seconds,
        # anchored: "50%" also ends a stdev share such as "71.50%" in the thread stats
        "p50_ms": _ms(re.search(r"^\s+50%\s+(\S+)", out, re.M).group(1)),
        "p99_ms": _ms(re.search(r"^\s+99%\s+(\S+)", out, re.M).group(1)),
        "non_2xx": requests - good,
        "errors": errors.group(1).strip() if errors else "",
    }


def _ms(text: str) -> float:
    """wrk's latency ("812.00us", "1.20s"); NaN when it printed none (no request finished)."""
    match = re.match(r"([\d.]+)(us|ms|s|m)", text)
    if match is None:
        return math.nan
    value, unit = match.groups()
    return float(value) * {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 6e4}[unit]


def print_targets(
    concurrency: list[int], results: dict, limit: float, inproc: dict, speedup: float,
    rss: tuple[float, float, float],
) -> None:  # fmt: skip
    """The issue's targets for a CPU run, each PASS or MISS with its measured value."""
    rss_idle, rss_after, rss_peak = rss
    print("\n## Targets (CPU)")
    checks = []
    if (1, 32) in results:
        checks.append(
            ("c=32, n=1: >= 0.8 of the in-process limit", results[(1, 32)]["images_s"] / limit, 0.8)
        )
    for c in concurrency:
        if (64, c) in results and c >= 8:
            checks.append(
                (
                    f"c={c}, n=64: >= 0.9 of the in-process limit",
                    results[(64, c)]["images_s"] / limit,
                    0.9,
                )
            )
    if (1, 1) in results:
        bound = 1.3 * inproc["single_ms"] + 3
        checks.append(
            (
                f"c=1, n=1: p50 <= 1.3 x {inproc['single_ms']:.2f} + 3 = {bound:.1f} ms",
                bound / results[(1, 1)]["p50_ms"],
                1.0,
            )
        )
    rss_text = (
        f"RSS of an API process with one DCGAN-64: {rss_idle:.0f} MB idle, {rss_after:.0f} MB "
        f"after the load (peak {rss_peak:.0f}) <= 600 MB"
    )
    checks.append((rss_text, 600 / max(rss_after, rss_peak), 1.0))
    checks.append(("optimized pipeline >= 1.5x naive", speedup, 1.5))
    for text, value, target in checks:
        print(f"- {'PASS' if value >= target else 'MISS'}: {text} (measured {value:.2f})")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=int, default=10, help="Seconds per wrk run.")
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 8, 32, 128])
    parser.add_argument("--n", type=int, nargs="+", default=[1, 64], help="Samples a request.")
    parser.add_argument("--batch", type=int, default=64, help="GAN_MAX_BATCH_SIZE.")
    parser.add_argument("--png-level", type=int, default=1, help="GAN_PNG_COMPRESS_LEVEL.")
    parser.add_argument("--repeats", type=int, default=7, help="In-process timing repeats.")
    parser.add_argument("--try-compile", action="store_true", help="Also time torch.compile.")
    parser.add_argument(
        "--device", default="cpu", choices=["cpu", "cuda"],
        help="GAN_DEVICE of the service under wrk (the in-process rows are always CPU).",
    )  # fmt: skip
    parser.add_argument(
        "--dtype", default="auto", choices=["auto", "float32", "bfloat16"],
        help="GAN_INFERENCE_DTYPE of the service; the in-process rows run the same on the CPU.",
    )  # fmt: skip
    parser.add_argument(
        "--api-processes", type=int, default=None,
        help="GAN_API_PROCESSES of the service (default: one per core on the CPU, one on CUDA).",
    )  # fmt: skip
    args = parser.parse_args()
    if args.api_processes is None:
        args.api_processes = len(os.sched_getaffinity(0)) if args.device == "cpu" else 1
    if shutil.which("wrk") is None:
        raise SystemExit("wrk not found: apt-get install -y wrk")
    workers = os.cpu_count() or 1
    load_before = os.getloadavg()
    tmp = Path(tempfile.mkdtemp(prefix="serve-bench-"))
    meta_path = publish(tmp / "models")
    threads = torch.get_num_threads()
    print(
        f"# Serving benchmark: DCGAN 64x64 (z 100, width 64), max batch {args.batch}, "
        f"{workers} cores, torch {torch.__version__}, {threads} torch threads, "
        f"service on {args.device} with {args.api_processes} API process(es)"
    )
    cpu_dtype = inference_dtype(args.dtype, torch.device("cpu"), "image")
    print(f"load average before: {load_before[0]:.2f} (other processes share these cores)\n")

    inproc = in_process(meta_path, args.batch, args.png_level, workers, args.repeats, cpu_dtype)
    compile_note = try_compile(meta_path, args.batch, args.repeats) if args.try_compile else ""

    port = free_port()
    log = tmp / "service.log"
    env_extra = {
        "GAN_DEVICE": args.device,
        "GAN_MAX_BATCH_SIZE": str(args.batch),
        "GAN_PNG_COMPRESS_LEVEL": str(args.png_level),
        "GAN_INFERENCE_DTYPE": args.dtype,
        "GAN_API_PROCESSES": str(args.api_processes),
    }
    process = start_service(tmp / "models", port, log, env_extra)
    url = f"http://127.0.0.1:{port}"
    try:
        rss_idle, _ = rss_mb(process.pid)
        results = {}
        for n in args.n:
            wrk(url, 8, n, 2)  # warm-up
            for c in args.concurrency:
                results[(n, c)] = wrk(url, c, n, args.duration)
                print(f"  measured n={n} c={c}: {results[(n, c)]}", file=sys.stderr)
        rss_after, rss_peak = rss_mb(process.pid)
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=60)
    # The limit again after the load: the cores are shared, so take the mean of both.
    again = in_process(meta_path, args.batch, args.png_level, workers, args.repeats, cpu_dtype)
    limit_after = again["limit"]
    limit = (inproc["limit"] + limit_after) / 2
    load_after = os.getloadavg()

    print("## In-process pipeline (no HTTP), batch of", args.batch)
    print("| pipeline | forward ms | PNG encode ms (all cores) | images/s |")
    print("|---|---:|---:|---:|")
    for name, f, e, ips in inproc["rows"]:
        print(f"| {name} | {f * 1000:.1f} | {e * 1000:.1f} | {ips:.0f} |")
    print(
        f"\nforward then encode, in turn: {inproc['sequential']:.0f} images/s; pipelined "
        f"(forwards back to back, the pool encoding the previous batch): "
        f"{inproc['pipelined']:.0f} images/s; the in-process limit is the larger"
    )
    speedup = inproc["sequential"] / inproc["naive"]
    print(f"optimized / naive (in turn): **{speedup:.2f}x** (target >= 1.5x)")
    print(
        f"in-process limit: {inproc['limit']:.0f} images/s before the load, "
        f"{limit_after:.0f} after; {limit:.0f} used below"
    )
    buckets = list(inproc["buckets"])
    print(
        f"one sample alone (padded to device batch {buckets[0]}), forward + PNG: "
        f"{inproc['single_ms']:.2f} ms; exact device batch sizes {buckets}"
    )
    if compile_note:
        print(compile_note)

    print("\n## Through HTTP (wrk, one thread, POST /samples)")
    print("| n | concurrency | images/s | p50 ms | p99 ms | vs in-process limit | non-2xx |")
    print("|---:|---:|---:|---:|---:|---:|---:|")
    for (n, c), r in sorted(results.items()):
        errors = f" {r['errors']}" if r["errors"] else ""
        print(
            f"| {n} | {c} | {r['images_s']:.0f} | {r['p50_ms']:.1f} | {r['p99_ms']:.1f} | "
            f"{r['images_s'] / limit:.2f} | {r['non_2xx']}{errors} |"
        )

    if args.device == "cpu":
        print_targets(
            args.concurrency, results, limit, inproc, speedup, (rss_idle, rss_after, rss_peak)
        )
    else:
        print(f"\nThe targets are set for a CPU run; on {args.device} these figures stand alone.")
    print(f"\nload average before {load_before[0]:.2f}, after {load_after[0]:.2f}")
    print(
        json.dumps({"limit": limit, "results": {f"{n},{c}": r for (n, c), r in results.items()}}),
        file=sys.stderr,
    )
    shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
