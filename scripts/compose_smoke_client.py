"""HTTP steps of the compose smoke test, through the published port (standard library only).

    compose_smoke_client.py URL KEY ready [--timeout S]
    compose_smoke_client.py URL KEY auth                      # 401 without a key, 403 wrong key
    compose_smoke_client.py URL KEY submit JSON               # prints the job id
    compose_smoke_client.py URL KEY wait ID STATE [--timeout S] [--min-step N]
    compose_smoke_client.py URL KEY together ID ID [--timeout S]   # both running at once
    compose_smoke_client.py URL KEY sample ID                 # POST /samples from its model
    compose_smoke_client.py URL KEY show ID                   # one line about a job
    compose_smoke_client.py URL KEY rate ID                   # its training steps per second

Every failure exits 1 with a message saying what was expected and what came back.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import urllib.error
import urllib.request
from typing import Any

TERMINAL = {"succeeded", "failed", "cancelled"}


class SmokeFailure(Exception):
    pass


def request(
    method: str, url: str, *, key: str | None = None, body: Any = None, timeout: float = 30
) -> tuple[int, dict[str, str], bytes]:
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method=method)
    if data is not None:
        req.add_header("Content-Type", "application/json")
    if key is not None:
        req.add_header("Authorization", f"Bearer {key}")
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return resp.status, dict(resp.headers), resp.read()
    except urllib.error.HTTPError as err:
        return err.code, dict(err.headers), err.read()


def get_json(url: str) -> dict[str, Any]:
    status, _, body = request("GET", url)
    if status != 200:
        raise SmokeFailure(f"GET {url}: HTTP {status}: {body[:300]!r}")
    return json.loads(body)


def job_line(job: dict[str, Any]) -> str:
    keys = ("state", "step", "total_steps", "attempts", "crashes", "published", "error")
    return f"job {job['id'][:8]} ({job['name']}): " + ", ".join(
        f"{k}={job.get(k)}" for k in keys if job.get(k) not in (None, [], "")
    )


def ready(base: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    last = "no answer"
    while time.monotonic() < deadline:
        try:
            status, _, body = request("GET", f"{base}/readyz", timeout=5)
            if status == 200:
                print(f"/readyz 200: {body[:200].decode(errors='replace')}")
                return
            last = f"HTTP {status}: {body[:200]!r}"
        except OSError as exc:
            last = str(exc)
        time.sleep(1)
    raise SmokeFailure(f"/readyz not 200 after {timeout:.0f} s (last: {last})")


def auth(base: str, key: str) -> None:
    body = {"dataset": "ring-8", "steps": 1}
    status, _, text = request("POST", f"{base}/train-jobs", body=body)
    if status != 401:
        raise SmokeFailure(f"POST /train-jobs without a key: expected 401, got {status} {text!r}")
    status, _, text = request("POST", f"{base}/train-jobs", key=key + "-wrong", body=body)
    if status != 403:
        raise SmokeFailure(f"POST /train-jobs, wrong key: expected 403, got {status} {text!r}")
    print("no key: 401, wrong key: 403")


def submit(base: str, key: str, recipe: str) -> None:
    status, headers, body = request("POST", f"{base}/train-jobs", key=key, body=json.loads(recipe))
    if status != 202:
        raise SmokeFailure(f"POST /train-jobs {recipe}: expected 202, got {status}: {body!r}")
    accepted = json.loads(body)
    print(accepted["id"])
    print(f"accepted {accepted} (Location: {headers.get('location')})", file=sys.stderr)


def wait(base: str, job_id: str, want: str, timeout: float, min_step: int) -> None:
    deadline = time.monotonic() + timeout
    job: dict[str, Any] = {}
    while time.monotonic() < deadline:
        job = get_json(f"{base}/train-jobs/{job_id}")
        if job["state"] == want and job.get("step", 0) >= min_step:
            print(job_line(job))
            return
        if job["state"] in TERMINAL and job["state"] != want:
            raise SmokeFailure(f"expected {want}, the job ended: {job_line(job)}")
        time.sleep(0.5)
    raise SmokeFailure(f"not {want} (step >= {min_step}) after {timeout:.0f} s: {job_line(job)}")


def together(base: str, ids: list[str], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    jobs: list[dict[str, Any]] = []
    while time.monotonic() < deadline:
        jobs = [get_json(f"{base}/train-jobs/{i}") for i in ids]
        if all(j["state"] == "running" and j.get("step", 0) > 0 for j in jobs):
            print("running at once: " + " | ".join(job_line(j) for j in jobs))
            return
        ended = [j for j in jobs if j["state"] in TERMINAL]
        if ended:
            raise SmokeFailure(f"a job ended before both ran at once: {job_line(ended[0])}")
        time.sleep(0.5)
    raise SmokeFailure(
        f"never both running within {timeout:.0f} s: " + " | ".join(job_line(j) for j in jobs)
    )


def sample(base: str, key: str, job_id: str, timeout: float) -> None:
    """Samples from the version a finished job published (the API picks it up from the
    shared model volume within GAN_RELOAD_INTERVAL_S), twice: same seed, same answer."""
    job = get_json(f"{base}/train-jobs/{job_id}")
    ref = job.get("promoted") or (job.get("published") or [None])[-1]
    if not ref:
        raise SmokeFailure(f"the job published nothing: {job_line(job)}")
    body = {"model": ref, "n": 8, "seed": 0}
    deadline = time.monotonic() + timeout
    while True:
        status, headers, first = request("POST", f"{base}/samples", key=key, body=body)
        if status == 200 or time.monotonic() > deadline:
            break
        time.sleep(1)
    if status != 200:
        raise SmokeFailure(f"POST /samples {body}: expected 200, got {status}: {first[:300]!r}")
    _, _, again = request("POST", f"{base}/samples", key=key, body=body)
    if again != first:
        raise SmokeFailure("POST /samples: the same seed gave different samples")
    models = request("GET", f"{base}/models")
    if models[0] != 200 or job["name"].encode() not in models[2]:
        raise SmokeFailure(f"GET /models does not list {job['name']}: {models[0]} {models[2]!r}")
    kind = headers.get("content-type", "?")
    print(f"POST /samples {body}: 200, {len(first)} bytes of {kind}; same seed, same bytes")
    if kind.startswith("application/json"):
        print(f"  {first[:160].decode(errors='replace')}...")


def show(base: str, job_id: str) -> None:
    print(job_line(get_json(f"{base}/train-jobs/{job_id}")))


def rate(base: str, job_id: str) -> None:
    job = get_json(f"{base}/train-jobs/{job_id}")
    elapsed = job.get("elapsed_s") or 0.0
    if elapsed <= 0:
        raise SmokeFailure(f"no elapsed_s to measure a rate: {job_line(job)}")
    print(f"{job['step'] / elapsed:.0f}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="HTTP steps of scripts/compose_smoke.sh")
    parser.add_argument("url")
    parser.add_argument("key")
    steps = ["ready", "auth", "submit", "wait", "together", "sample", "show", "rate"]
    parser.add_argument("step", choices=steps)
    parser.add_argument("args", nargs="*")
    parser.add_argument("--timeout", type=float, default=300)
    parser.add_argument("--min-step", type=int, default=0)
    a = parser.parse_args(argv)
    base = a.url.rstrip("/")
    try:
        if a.step == "ready":
            ready(base, a.timeout)
        elif a.step == "auth":
            auth(base, a.key)
        elif a.step == "submit":
            submit(base, a.key, a.args[0])
        elif a.step == "wait":
            wait(base, a.args[0], a.args[1], a.timeout, a.min_step)
        elif a.step == "together":
            together(base, a.args, a.timeout)
        elif a.step == "sample":
            sample(base, a.key, a.args[0], a.timeout)
        elif a.step == "rate":
            rate(base, a.args[0])
        else:
            show(base, a.args[0])
    except (SmokeFailure, OSError, KeyError, ValueError) as exc:
        print(f"FAIL ({a.step}): {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
