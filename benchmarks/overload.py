"""Overload benchmark: capacity, then 4x capacity for 30 s from 256 connections (n = 64).

    python benchmarks/overload.py [--duration 30] [--connections 256] [--factor 4]

1. Publishes the serving benchmark's DCGAN 64x64 generator (benchmarks/serve_bench.py).
2. Capacity: `python -m service` with admission wide open (GAN_MAX_QUEUE_WAIT_S=3600),
   driven by wrk at a few connections sending n = 64 (format npy), all answered: samples/s.
3. Overload: the service on its defaults (GAN_MAX_QUEUE_WAIT_S=1), wrk with 256 connections,
   each paced so that together they offer `factor` x capacity, for `duration` seconds.
   Meanwhile a probe sends GET /healthz every 100 ms, and the service's RSS is sampled.
4. Admitted latency is read from the service's own access log (duration of each 200).

Targets (printed, not asserted): every answer 200, or 429/503 with Retry-After; admitted p99
<= 2 x GAN_MAX_QUEUE_WAIT_S + one full batch's service time; goodput >= 0.9 x capacity; RSS
within 10 % of its idle value; /healthz p99 <= 50 ms.
"""

from __future__ import annotations

import argparse
import http.client
import json
import math
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from serve_bench import MODEL, free_port, publish, rss_mb, start_service, wrk  # noqa: E402

LUA = Path(__file__).resolve().parent / "overload_wrk.lua"
N = 64
CAPACITY_CONNECTIONS = 4


def paced_wrk(url: str, connections: int, duration: int, pace_ms: int) -> dict:
    command = ["wrk", "-t1", f"-c{connections}", f"-d{duration}s", "--timeout", "60s",
               "-s", str(LUA), url, "--", str(N), MODEL, str(pace_ms)]  # fmt: skip
    out = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    statuses = {int(s): int(c) for s, c in re.findall(r"^STATUS (\d+) (\d+)$", out, re.M)}
    missing = int(re.search(r"^NO_RETRY_AFTER (\d+)$", out, re.M).group(1))
    errors = re.search(r"Socket errors: (.*)", out)
    return {"statuses": statuses, "no_retry_after": missing,
            "socket_errors": errors.group(1).strip() if errors else ""}  # fmt: skip


class Probe(threading.Thread):
    """GET /healthz every `interval` s on one keep-alive connection; latencies in ms."""

    def __init__(self, port: int, interval: float = 0.1) -> None:
        super().__init__(daemon=True)
        self.port, self.interval = port, interval
        self.latencies: list[float] = []
        self.failures = 0
        self.stop = threading.Event()

    def run(self) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        while not self.stop.wait(self.interval):
            start = time.perf_counter()
            try:
                conn.request("GET", "/healthz")
                answer = conn.getresponse()
                answer.read()
                ok = answer.status == 200
            except OSError:
                ok = False
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
            if ok:
                self.latencies.append((time.perf_counter() - start) * 1000)
            else:
                self.failures += 1


class RssSampler(threading.Thread):
    """The service's RSS, and what admission works with (samples in the service, the cost
    per sample), every `interval` s."""

    def __init__(self, pid: int, port: int, interval: float = 0.5) -> None:
        super().__init__(daemon=True)
        self.pid, self.port, self.interval = pid, port, interval
        self.peak = 0.0
        self.in_service: list[float] = []
        self.cost_ms: list[float] = []
        self.stop = threading.Event()

    def run(self) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        while not self.stop.wait(self.interval):
            self.peak = max(self.peak, rss_mb(self.pid)[0])
            try:
                conn.request("GET", "/metrics")
                text = conn.getresponse().read().decode()
            except OSError:
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
                continue
            for name, into, scale in (
                ("gan_samples_in_service", self.in_service, 1),
                ("gan_cost_per_sample_seconds", self.cost_ms, 1000),
            ):
                match = re.search(rf"^{name} (\S+)$", text, re.M)
                if match:
                    into.append(float(match.group(1)) * scale)


def percentile(values: list[float], q: float) -> float:
    if not values:
        return math.nan
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, math.ceil(q * len(ordered)) - 1)]


def admitted_latencies_ms(log: Path, since_line: int) -> list[float]:
    """duration_ms of every POST /samples answered 200, from the service's access log."""
    found = []
    for line in log.read_text(errors="replace").splitlines()[since_line:]:
        if '"service.access"' not in line:
            continue
        entry = json.loads(line)
        if entry.get("path") == "/samples" and entry.get("status") == 200:
            found.append(float(entry["duration_ms"]))
    return found


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=int, default=30, help="Seconds of overload.")
    parser.add_argument("--connections", type=int, default=256)
    parser.add_argument("--factor", type=float, default=4.0, help="Offered load / capacity.")
    parser.add_argument("--capacity-duration", type=int, default=15)
    parser.add_argument("--wait", type=float, default=1.0, help="GAN_MAX_QUEUE_WAIT_S.")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("wrk not found: apt-get install -y wrk")
    tmp = Path(tempfile.mkdtemp(prefix="overload-"))
    publish(tmp / "models")
    print(
        f"# Overload: DCGAN 64x64, n = {N}, {args.connections} connections, {args.factor:g} x "
        f"capacity for {args.duration} s, GAN_MAX_QUEUE_WAIT_S={args.wait:g}\n"
    )

    # 1. Capacity, with admission wide open.
    port = free_port()
    process = start_service(tmp / "models", port, tmp / "capacity.log",
                            {"GAN_MAX_QUEUE_WAIT_S": "3600"})  # fmt: skip
    try:
        url = f"http://127.0.0.1:{port}"
        wrk(url, CAPACITY_CONNECTIONS, N, 3)  # warm-up
        capacity = wrk(url, CAPACITY_CONNECTIONS, N, args.capacity_duration)
    finally:
        process.terminate()
        process.wait(timeout=30)
    samples_s = capacity["images_s"]
    batch_s = N / samples_s
    requests_s = samples_s / N * args.factor
    # A connection also waits for its answers: about 1/factor of them are admitted and take
    # up to the wait bound, the rest are refused at once.
    answer_ms = 1000 * args.wait / args.factor
    pace_ms = max(1, round(args.connections / requests_s * 1000 - answer_ms))
    print(f"capacity: {samples_s:.0f} samples/s ({samples_s / N:.1f} requests/s of n = {N}), "
          f"one full batch {batch_s * 1000:.0f} ms; offering {requests_s:.1f} requests/s "
          f"(each connection paced {pace_ms} ms)\n")  # fmt: skip

    # 2. Overload, on the defaults.
    port = free_port()
    log = tmp / "overload.log"
    process = start_service(tmp / "models", port, log, {"GAN_MAX_QUEUE_WAIT_S": str(args.wait)})
    try:
        url = f"http://127.0.0.1:{port}"
        wrk(url, CAPACITY_CONNECTIONS, N, 3)  # warm-up, then settle
        time.sleep(2)
        rss_idle = rss_mb(process.pid)[0]
        log_start = len(log.read_text(errors="replace").splitlines())
        probe, rss = Probe(port), RssSampler(process.pid, port)
        probe.start()
        rss.start()
        started = time.monotonic()
        result = paced_wrk(url, args.connections, args.duration, pace_ms)
        elapsed = time.monotonic() - started
        probe.stop.set()
        rss.stop.set()
        probe.join()
        rss.join()
        admitted = admitted_latencies_ms(log, log_start)
    finally:
        process.terminate()
        process.wait(timeout=30)

    statuses = result["statuses"]
    total = sum(statuses.values())
    ok = statuses.get(200, 0)
    refused = statuses.get(429, 0) + statuses.get(503, 0)
    other = total - ok - refused
    goodput = ok * N / elapsed
    p99 = percentile(admitted, 0.99)
    bound_ms = (2 * args.wait + batch_s) * 1000
    health_p99 = percentile(probe.latencies, 0.99)
    rss_ratio = rss.peak / rss_idle
    rows = [
        ("offered load", f"{total / elapsed:.1f} requests/s = "
         f"{total / elapsed * N / samples_s:.1f} x capacity", f"{args.factor:g} x", True),
        ("answers",
         f"{total} ({total / elapsed:.1f}/s): 200 {ok}, 429/503 {refused}, other {other}",
         "200 or 429/503 with Retry-After",
         other == 0 and result["no_retry_after"] == 0 and not result["socket_errors"]),
        ("refusals without Retry-After", str(result["no_retry_after"]), "0",
         result["no_retry_after"] == 0),
        ("admitted latency p50 / p99", f"{percentile(admitted, 0.5):.0f} / {p99:.0f} ms",
         f"p99 <= {bound_ms:.0f} ms", p99 <= bound_ms),
        ("goodput", f"{goodput:.0f} samples/s = {goodput / samples_s:.2f} x capacity",
         ">= 0.90 x", goodput >= 0.9 * samples_s),
        ("RSS idle -> peak", f"{rss_idle:.0f} -> {rss.peak:.0f} MB ({rss_ratio:.3f} x)",
         "<= 1.10 x", rss_ratio <= 1.10),
        ("/healthz p50 / p99", f"{statistics.median(probe.latencies):.1f} / {health_p99:.1f} ms"
         f" ({len(probe.latencies)} probes, {probe.failures} failed)", "p99 <= 50 ms",
         health_p99 <= 50 and probe.failures == 0),
    ]  # fmt: skip
    print("| measure | value | target | met |\n|---|---|---|---|")
    for name, value, target, met in rows:
        print(f"| {name} | {value} | {target} | {'yes' if met else 'NO'} |")
    if rss.in_service:
        print(f"\nsamples in the service: median {statistics.median(rss.in_service):.0f}, "
              f"max {max(rss.in_service):.0f}; cost per sample: median "
              f"{statistics.median(rss.cost_ms):.2f} ms, last {rss.cost_ms[-1]:.2f} ms "
              f"(capacity says {1000 / samples_s:.2f} ms)")  # fmt: skip
    if result["socket_errors"]:
        print(f"\nwrk socket errors: {result['socket_errors']}")
    print(f"\nlogs in {tmp}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
