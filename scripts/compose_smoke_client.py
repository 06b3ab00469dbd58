"""HTTP steps of the compose smoke test, through the published port, with the project's
client (gan_client):

    compose_smoke_client.py URL KEY ready [--timeout S]
    compose_smoke_client.py URL KEY auth                      # 401 without a key, 403 wrong key
    compose_smoke_client.py URL KEY submit JSON               # prints the job id
    compose_smoke_client.py URL KEY wait ID STATE [--timeout S] [--min-step N]
    compose_smoke_client.py URL KEY together ID ID [--timeout S]   # both running at once
    compose_smoke_client.py URL KEY sample ID                 # POST /samples from its model
    compose_smoke_client.py URL KEY show ID                   # one line about a job
    compose_smoke_client.py URL KEY rate ID                   # its training steps per second
    compose_smoke_client.py URL KEY byod [--timeout S]        # upload, train, watch, sample

Every failure exits 1 with a message saying what was expected and what came back.
"""

from __future__ import annotations

import argparse
import io
import json
import sys
import tempfile
import time
import zipfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402

from gan_client import AuthError, GanClient, GanError  # noqa: E402

TERMINAL = {"succeeded", "failed", "cancelled"}


class SmokeFailure(Exception):
    pass


def job_line(job: dict[str, Any]) -> str:
    keys = ("state", "step", "total_steps", "attempts", "crashes", "published", "error")
    return f"job {job['id'][:8]} ({job['name']}): " + ", ".join(
        f"{k}={job.get(k)}" for k in keys if job.get(k) not in (None, [], "")
    )


def ready(gan: GanClient, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    last = "no answer"
    while time.monotonic() < deadline:
        try:
            answer = gan._http.get("/readyz", timeout=5)
            if answer.status_code == 200:
                print(f"/readyz 200: {answer.text[:200]}")
                return
            last = f"HTTP {answer.status_code}: {answer.text[:200]}"
        except OSError as exc:
            last = str(exc)
        except Exception as exc:  # noqa: BLE001 - httpx's connection errors while it starts
            last = f"{type(exc).__name__}: {exc}"
        time.sleep(1)
    raise SmokeFailure(f"/readyz not 200 after {timeout:.0f} s (last: {last})")


def auth(url: str, key: str) -> None:
    for given, want in ((None, 401), (key + "-wrong", 403)):
        with GanClient(url, api_key=given or "") as anonymous:
            try:
                anonymous.train("ring-8", steps=1)
            except AuthError as exc:
                if exc.status != want:
                    got = exc.status
                    raise SmokeFailure(f"POST /train-jobs: expected {want}, got {got}") from None
                continue
        raise SmokeFailure(f"POST /train-jobs with key {given!r}: accepted, expected {want}")
    print("no key: 401, wrong key: 403")


def submit(gan: GanClient, recipe: str) -> None:
    fields = json.loads(recipe)
    job = gan.train(fields.pop("dataset"), **fields)
    print(job.id)
    print(f"accepted {job.record}", file=sys.stderr)


def wait(gan: GanClient, job_id: str, want: str, timeout: float, min_step: int) -> None:
    deadline = time.monotonic() + timeout
    job: dict[str, Any] = {}
    while time.monotonic() < deadline:
        job = gan.job(job_id).refresh()
        if job["state"] == want and job.get("step", 0) >= min_step:
            print(job_line(job))
            return
        if job["state"] in TERMINAL and job["state"] != want:
            raise SmokeFailure(f"expected {want}, the job ended: {job_line(job)}")
        time.sleep(0.5)
    raise SmokeFailure(f"not {want} (step >= {min_step}) after {timeout:.0f} s: {job_line(job)}")


def together(gan: GanClient, ids: list[str], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    jobs: list[dict[str, Any]] = []
    while time.monotonic() < deadline:
        jobs = [gan.job(i).refresh() for i in ids]
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


def _sample_when_served(gan: GanClient, timeout: float, **ask: Any) -> np.ndarray:
    """The API picks a new version up from the shared model volume within
    GAN_RELOAD_INTERVAL_S; until then the model is unknown."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return gan.sample(as_="numpy", **ask)
        except GanError as exc:
            if time.monotonic() > deadline:
                raise SmokeFailure(f"POST /samples {ask}: {exc}") from None
            time.sleep(1)


def sample(gan: GanClient, job_id: str, timeout: float) -> None:
    """Samples from the version a finished job published, twice: same seed, same answer."""
    job = gan.job(job_id).refresh()
    ref = job.get("promoted") or (job.get("published") or [None])[-1]
    if not ref:
        raise SmokeFailure(f"the job published nothing: {job_line(job)}")
    first = _sample_when_served(gan, timeout, model=ref, n=8, seed=0)
    again = gan.sample(model=ref, n=8, seed=0, as_="numpy")
    if not np.array_equal(first, again):
        raise SmokeFailure("POST /samples: the same seed gave different samples")
    names = {m["name"] for m in gan.models()["models"]}
    if job["name"] not in names:
        raise SmokeFailure(f"GET /models does not list {job['name']}: {sorted(names)}")
    print(f"POST /samples {ref} n=8 seed=0: {first.shape} {first.dtype}; same seed, same values")


def show(gan: GanClient, job_id: str) -> None:
    print(job_line(gan.job(job_id).refresh()))


def rate(gan: GanClient, job_id: str) -> None:
    job = gan.job(job_id).refresh()
    elapsed = job.get("elapsed_s") or 0.0
    if elapsed <= 0:
        raise SmokeFailure(f"no elapsed_s to measure a rate: {job_line(job)}")
    print(f"{job['step'] / elapsed:.0f}")


def _class_zip(path: Path) -> None:
    """32 8x8 PNGs in two class folders: bars and blocks."""
    rng = np.random.default_rng(0)
    with zipfile.ZipFile(path, "w") as archive:
        for i in range(32):
            pixels = (rng.random((8, 8)) * 60).astype(np.uint8)
            if i % 2:
                pixels[:, 3:5] = 255
            else:
                pixels[2:6, 2:6] = 255
            buffer = io.BytesIO()
            Image.fromarray(pixels).save(buffer, format="PNG")
            archive.writestr(f"{'bars' if i % 2 else 'blocks'}/{i:02d}.png", buffer.getvalue())


def byod(gan: GanClient, timeout: float) -> None:
    """Bring your own data: upload a labelled zip, train a conditional model on it (the API
    writes the data volume, the worker reads it), watch it to the end, sample one class."""
    with tempfile.TemporaryDirectory() as tmp:
        archive = Path(tmp) / "shapes.zip"
        _class_zip(archive)
        manifest = gan.upload_dataset("smoke-shapes", archive)
    print(f"uploaded: {manifest['spec']}, {manifest['samples']} samples, {manifest['classes']}")
    if manifest["classes"] != ["bars", "blocks"]:
        raise SmokeFailure(f"expected classes bars and blocks, got {manifest['classes']}")
    job = gan.train(manifest["spec"], name="smoke-shapes", steps=60, checkpoint_every=60,
                    log_every=20, conditional=True, image_size=8,
                    arch_config={"g_width": 8, "d_width": 8, "z_dim": 8})  # fmt: skip
    steps = [e.get("step") for e in job.events() if e.get("step") is not None]
    record = job.wait(timeout=timeout)
    print(f"watched {len(steps)} events up to step {max(steps, default=0)}; {job_line(record)}")
    bars = _sample_when_served(gan, 60, model="smoke-shapes", n=4, seed=1, label="bars")
    if bars.shape != (4, 8, 8, 1):
        raise SmokeFailure(f"expected 4 grey 8x8 samples, got {bars.shape}")
    print(f"sampled class 'bars': {bars.shape}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="HTTP steps of scripts/compose_smoke.sh")
    parser.add_argument("url")
    parser.add_argument("key")
    steps = ["ready", "auth", "submit", "wait", "together", "sample", "show", "rate", "byod"]
    parser.add_argument("step", choices=steps)
    parser.add_argument("args", nargs="*")
    parser.add_argument("--timeout", type=float, default=300)
    parser.add_argument("--min-step", type=int, default=0)
    a = parser.parse_args(argv)
    url = a.url.rstrip("/")
    try:
        with GanClient(url, api_key=a.key) as gan:
            if a.step == "ready":
                ready(gan, a.timeout)
            elif a.step == "auth":
                auth(url, a.key)
            elif a.step == "submit":
                submit(gan, a.args[0])
            elif a.step == "wait":
                wait(gan, a.args[0], a.args[1], a.timeout, a.min_step)
            elif a.step == "together":
                together(gan, a.args, a.timeout)
            elif a.step == "sample":
                sample(gan, a.args[0], a.timeout)
            elif a.step == "rate":
                rate(gan, a.args[0])
            elif a.step == "byod":
                byod(gan, a.timeout)
            else:
                show(gan, a.args[0])
    except (SmokeFailure, GanError, OSError, KeyError, ValueError) as exc:
        print(f"FAIL ({a.step}): {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
