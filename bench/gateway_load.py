"""The gateway under load: (a) submit rate, (b) 3-step pipelines/s, (c) added latency per step, (d) RSS.

Each measurement starts its own gateway (``python -m gateway serve``) with env per docs/conventions.md, a temp
data dir, a fresh SQLite file or a fresh ``modaline_bench_*`` PostgreSQL database, and fake workers
(``bench.fake_worker``) on ports 18500-18599; everything is stopped by PID afterwards.

Completion is read from the database directly (read-only SQLite / a plain PostgreSQL connection), so the
harness adds no load to the gateway while it waits, and the rates come from the jobs' own timestamps.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import shutil
import signal
import sqlite3
import statistics
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.loadgen import post_load, submit_jobs
from bench.procs import PY, Proc, Procs, free_port, http_json

PG_ADMIN_DSN = os.environ.get("BENCH_PG_ADMIN_DSN", "postgresql://postgres@127.0.0.1:5432/postgres")
TERMINAL = ("succeeded", "failed", "canceled")

BENCH_PIPELINE = """\
name: bench_llm3
title: Bench llm x3
description: Three chained llm steps for the benchmark (fake workers).
inputs:
  text: {type: text, max_length: 1000}
steps:
  - id: a
    worker: llm
    inputs: {text: "{{ inputs.text }}"}
  - id: b
    worker: llm
    inputs: {text: "{{ steps.a.text }}"}
  - id: c
    worker: llm
    inputs: {text: "{{ steps.b.text }}"}
outputs:
  text: "{{ steps.c.text }}"
"""
STEPS = 3
JOB_BODY = {"pipeline": "bench_llm3", "inputs": {"text": "hello"}}


# --- databases ----------------------------------------------------------------------------------------------


@contextlib.contextmanager
def database(kind: str, data_dir: Path) -> Iterator[str]:
    """A fresh database URL for the gateway: a SQLite file in ``data_dir`` or a new PostgreSQL database."""
    if kind == "sqlite":
        yield f"sqlite+aiosqlite:///{data_dir / 'modaline.db'}"
        return
    import psycopg

    name = f"modaline_bench_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(PG_ADMIN_DSN, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    base = PG_ADMIN_DSN.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://", 1)
    try:
        yield f"{base}/{name}"
    finally:
        with psycopg.connect(PG_ADMIN_DSN, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _parse_ts(value: Any) -> float | None:
    if value is None:
        return None
    dt = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return dt.timestamp()


class Probe:
    """Read-only look at the gateway's tables (SQLite file or PostgreSQL)."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.sqlite = url.startswith("sqlite")
        self._conn: Any = None

    def _connect(self) -> Any:
        if self._conn is None:
            if self.sqlite:
                path = self.url.split("///", 1)[1]
                self._conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=10)
            else:
                import psycopg

                self._conn = psycopg.connect(
                    self.url.replace("postgresql+psycopg://", "postgresql://"), autocommit=True
                )
        return self._conn

    def query(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        conn = self._connect()
        if not self.sqlite:
            sql = sql.replace("?", "%s")
        cur = conn.execute(sql, params)
        return list(cur.fetchall())

    def terminal_count(self) -> int:
        rows = self.query("SELECT count(*) FROM jobs WHERE status IN ('succeeded','failed','canceled')")
        return int(rows[0][0])

    def status_counts(self) -> dict[str, int]:
        return {s: int(n) for s, n in self.query("SELECT status, count(*) FROM jobs GROUP BY status")}

    def job_status(self, job_id: str) -> str | None:
        rows = self.query("SELECT status FROM jobs WHERE id = ?", (job_id,))
        return rows[0][0] if rows else None

    def job_times(self, ids: set[str] | None = None) -> list[tuple[str, float, float | None, float | None]]:
        """(status, created, started, finished) for every job (or only those in ``ids``)."""
        rows = self.query("SELECT id, status, created_at, started_at, finished_at FROM jobs")
        return [
            (s, _parse_ts(c) or 0.0, _parse_ts(st), _parse_ts(f))
            for i, s, c, st, f in rows
            if ids is None or i in ids
        ]

    def steps_of(self, job_id: str) -> list[dict[str, Any]]:
        rows = self.query(
            "SELECT step_id, status, started_at, finished_at, duration_ms, usage FROM steps WHERE job_id = ? "
            "ORDER BY position",
            (job_id,),
        )
        out = []
        for step_id, status, st, fin, dur, usage in rows:
            if isinstance(usage, str):
                usage = json.loads(usage)
            out.append(
                {
                    "id": step_id,
                    "status": status,
                    "started": _parse_ts(st),
                    "finished": _parse_ts(fin),
                    "duration_ms": dur,
                    "worker_seconds": float((usage or {}).get("seconds") or 0.0),
                }
            )
        return out

    def job_row(self, job_id: str) -> tuple[float, float | None, float | None]:
        rows = self.query("SELECT created_at, started_at, finished_at FROM jobs WHERE id = ?", (job_id,))
        c, s, f = rows[0]
        return _parse_ts(c) or 0.0, _parse_ts(s), _parse_ts(f)

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None


# --- processes ----------------------------------------------------------------------------------------------


@dataclass
class Env:
    """One temp data dir with the bench pipeline, a database and fake workers."""

    root: Path
    db_url: str
    worker_url: str
    log_dir: Path
    extra: dict[str, str] = field(default_factory=dict)

    def gateway_env(self, role: str, port: int) -> dict[str, str]:
        env = {
            "DATABASE_URL": self.db_url,
            "MODALINE_FILES_ROOT": str(self.root / "files"),
            "MODALINE_PIPELINES_DIR": str(self.root / "pipelines"),
            "MODALINE_ROLE": role,
            "MODALINE_HOST": "127.0.0.1",
            "PORT": str(port),
            "MODALINE_UI_DIR": str(self.root / "no-ui"),
        }
        for cap in ("llm", "image", "stt", "tts", "cyclegan"):
            env[f"MODALINE_{cap.upper()}_URL"] = self.worker_url
        env.update(self.extra)
        return env


def make_root(base: Path, name: str) -> Path:
    root = Path(tempfile.mkdtemp(prefix=f"{name}-", dir=base))
    (root / "pipelines").mkdir()
    (root / "pipelines" / "bench_llm3.yaml").write_text(BENCH_PIPELINE)
    (root / "files").mkdir()
    return root


def start_fake_worker(procs: Procs, name: str, delay: float = 0.0, files_root: Path | None = None) -> str:
    port = free_port()
    cmd = [PY, "-m", "bench.fake_worker", "--port", str(port), "--delay", str(delay)]
    if files_root is not None:
        cmd += ["--files-root", str(files_root)]
    proc = procs.start(name, cmd)
    url = f"http://127.0.0.1:{port}"
    proc.wait_http(url + "/healthz", timeout=30)
    return url


def start_gateway(procs: Procs, env: Env, role: str, name: str) -> tuple[str, Proc]:
    port = free_port()
    proc = procs.start(name, [PY, "-m", "gateway", "serve"], env=env.gateway_env(role, port))
    base = f"http://127.0.0.1:{port}"
    proc.wait_http(base + "/healthz", timeout=90)
    return base, proc


def wait_terminal(probe: Probe, n: int, timeout: float, proc: Proc | None = None) -> int:
    """Poll the database until ``n`` jobs are terminal (or timeout); returns the terminal count."""
    deadline = time.monotonic() + timeout
    done = 0
    while time.monotonic() < deadline:
        done = probe.terminal_count()
        if done >= n:
            return done
        if proc is not None and not proc.alive():
            raise RuntimeError(f"{proc.name} died:\n{proc.tail()}")
        time.sleep(0.05)
    return done


def fill_queue(db_url: str, n: int) -> list[str]:
    """Queue ``n`` bench_llm3 jobs straight into the database (see bench/fill.py)."""
    from bench.fill import fill

    return fill(db_url, n, "bench_llm3", dict(JOB_BODY["inputs"]), [(s, "llm") for s in ("a", "b", "c")])


# --- (a) POST /v1/jobs versus a bare FastAPI endpoint --------------------------------------------------------


def submit_rate(
    base: Path,
    rounds: int = 3,
    seconds: float = 8.0,
    kinds: tuple[str, ...] = ("sqlite", "postgresql"),
    profile_dir: Path | None = None,
) -> dict[str, Any]:
    """Interleaved rounds: bare FastAPI, then the gateway (role=api) on each database, same load generator."""
    from bench.baselines import start_bare_fastapi

    body = json.dumps({"pipeline": "text_to_text", "inputs": {"text": "hello"}}).encode()
    out: dict[str, Any] = {"rounds": rounds, "seconds": seconds}
    log_dir = base / "logs"
    # Databases are dropped after the processes using them stopped (exit order is the reverse of this).
    with contextlib.ExitStack() as stack, Procs(log_dir) as procs:
        bare_url, bare_proc = start_bare_fastapi(procs)
        targets: dict[str, tuple[str, Proc]] = {"bare": (bare_url + "/v1/jobs", bare_proc)}
        headers: dict[str, dict[str, str]] = {}
        for kind in kinds:
            root = make_root(base, f"submit-{kind}")
            db_url = stack.enter_context(database(kind, root))
            env = Env(root, db_url, "http://127.0.0.1:9", log_dir)
            url, proc = start_gateway(procs, env, "api", f"gateway-api-{kind}")
            targets[kind] = (url + "/v1/jobs", proc)
        # The same submit with API keys on (on SQLite): the key check alone (limits unlimited), and the key
        # check plus the tenant's requests/submits/jobs counters (limits too high to refuse anything).
        for variant, limit in (("keys", "0"), ("keys+limits", "1000000000")):
            root = make_root(base, f"submit-sqlite-{variant}")
            db_url = stack.enter_context(database("sqlite", root))
            key = _make_key(db_url)
            limits = {f"MODALINE_LIMIT_{name}": limit for name in AUTH_LIMITS}
            env = Env(root, db_url, "http://127.0.0.1:9", log_dir, {**AUTH_ON, **limits})
            url, proc = start_gateway(procs, env, "api", f"gateway-api-sqlite-{variant}")
            targets[f"sqlite {variant}"] = (url + "/v1/jobs", proc)
            headers[f"sqlite {variant}"] = {"Authorization": f"Bearer {key}"}
        # Warm them all (imports, pools, first compile of routes).
        for key, (url, _) in targets.items():
            post_load(url, body, seconds=1, headers=headers.get(key))
        samples: dict[str, list[dict[str, float]]] = {k: [] for k in targets}
        for r in range(rounds):
            for key, (url, proc) in targets.items():
                spy = None
                if profile_dir is not None and r == 0 and key != "bare":
                    spy = _start_profiler(procs, proc, profile_dir, f"submit-{key}")
                cpu0 = proc.cpu_seconds()
                res = post_load(url, body, seconds=seconds, headers=headers.get(key))
                cpu = proc.cpu_seconds() - cpu0
                if spy is not None:
                    procs.stop(spy)
                samples[key].append(
                    {
                        "rps": res.rps,
                        "errors": res.errors,
                        "cpu_ms_per_req": 1000 * cpu / max(1, res.requests),
                    }
                )
                out["tool"] = res.tool
        for key, rows in samples.items():
            out[key] = {
                "rps": statistics.median(r["rps"] for r in rows),
                "rps_all": [round(r["rps"]) for r in rows],
                "errors": sum(int(r["errors"]) for r in rows),
                "cpu_ms_per_req": statistics.median(r["cpu_ms_per_req"] for r in rows),
            }
        for kind in targets.keys() - {"bare"}:
            ratios = [g["rps"] / b["rps"] for g, b in zip(samples[kind], samples["bare"], strict=True)]
            out[kind]["ratio_to_bare"] = statistics.median(ratios)
        for variant in ("keys", "keys+limits"):  # auth's cost, as a ratio to auth off in the same rounds
            ratios = [
                on["rps"] / off["rps"]
                for on, off in zip(samples[f"sqlite {variant}"], samples["sqlite"], strict=True)
            ]
            out[f"sqlite {variant}"]["ratio_to_auth_off"] = statistics.median(ratios)
    return out


AUTH_ON = {"MODALINE_AUTH": "keys", "MODALINE_SIGNING_KEY": "bench-signing-key"}
AUTH_LIMITS = ("REQUESTS_PER_MINUTE", "SUBMITS_PER_MINUTE", "JOBS_PER_DAY", "RUNNING_JOBS")


def _make_key(db_url: str) -> str:
    """A key with every scope for a bench tenant, made with the gateway's own command."""
    out = subprocess.run(
        [PY, "-m", "gateway", "keys", "create", "--tenant", "bench", "--operator"],
        env={**os.environ, "DATABASE_URL": db_url},
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    return out.stdout.strip().splitlines()[-1]


# --- (b) 3-step pipelines per second ------------------------------------------------------------------------


def throughput(
    base: Path,
    kind: str,
    n: int = 2000,
    rounds: int = 3,
    profile_dir: Path | None = None,
    split: bool = True,
    extra_env: dict[str, str] | None = None,
) -> dict[str, Any]:
    """Per round: (1) role=all: submit ``n`` jobs as fast as possible, time until all are terminal;
    (2) runner-only: queue ``n`` jobs straight into the database, then start role=runner and time the drain."""
    log_dir = base / "logs"
    bodies = [JOB_BODY] * n
    rounds_out: list[dict[str, Any]] = []
    with Procs(log_dir) as procs:
        worker_url = start_fake_worker(procs, f"fake-worker-{kind}")
        for r in range(rounds):
            row: dict[str, Any] = {}
            # (1) submit-inclusive, API and runner in one process.
            root = make_root(base, f"tp-{kind}-all")
            with database(kind, root) as db_url:
                env = Env(root, db_url, worker_url, log_dir, extra=dict(extra_env or {}))
                url, gw = start_gateway(procs, env, "all", f"gateway-all-{kind}-{r}")
                probe = Probe(db_url)
                try:
                    warm = submit_jobs(url + "/v1/jobs", [JOB_BODY] * 50)
                    wait_terminal(probe, len(warm.ids), 60, gw)
                    warm_count = probe.terminal_count()
                    spy = (
                        _start_profiler(procs, gw, profile_dir, f"{kind}-all")
                        if (profile_dir and r == 0)
                        else None
                    )
                    cpu0 = gw.cpu_seconds()
                    res = submit_jobs(url + "/v1/jobs", bodies)
                    done = wait_terminal(probe, warm_count + len(res.ids), 300, gw)
                    t_seen = time.time()
                    cpu = gw.cpu_seconds() - cpu0
                    if spy is not None:
                        procs.stop(spy)
                    times = probe.job_times(set(res.ids))
                    finished = [t[3] for t in times if t[3] is not None]
                    span = (max(finished) - res.t_start) if finished else float("nan")
                    row["all"] = {
                        "submitted": len(res.ids),
                        "submit_errors": res.errors,
                        "first_error": res.first_error,
                        "terminal": done - warm_count,
                        "succeeded": sum(1 for t in times if t[0] == "succeeded"),
                        "submit_seconds": res.t_end - res.t_start,
                        "submit_per_s": len(res.ids) / (res.t_end - res.t_start),
                        "completed_per_s": len(finished) / span if finished else 0.0,
                        "gateway_cpu_busy": cpu / (t_seen - res.t_start),
                        "after_submit_per_s": _after_submit_rate(times, res.t_end),
                        "seen_seconds": t_seen - res.t_start,
                        "gateway_cpu_ms_per_job": 1000 * cpu / max(1, len(res.ids)),
                    }
                finally:
                    probe.close()
                    procs.stop(gw)
            shutil.rmtree(root, ignore_errors=True)
            # (2) runner-only: fill the queue straight into the database, then drain it with a runner process.
            root = make_root(base, f"tp-{kind}-runner")
            with database(kind, root) as db_url:
                env = Env(root, db_url, worker_url, log_dir, extra=dict(extra_env or {}))
                queued = fill_queue(db_url, n)
                probe = Probe(db_url)
                try:
                    t_launch = time.time()
                    runner_port = free_port()
                    rn = procs.start(
                        f"gateway-runner-{kind}-{r}",
                        [PY, "-m", "gateway", "serve"],
                        env=env.gateway_env("runner", runner_port),
                    )
                    done = wait_terminal(probe, len(queued), 300, rn)
                    t_seen = time.time()
                    times = probe.job_times()
                    started = [t[2] for t in times if t[2] is not None]
                    finished = [t[3] for t in times if t[3] is not None]
                    row["runner"] = {
                        "queued": len(queued),
                        "terminal": done,
                        "succeeded": sum(1 for t in times if t[0] == "succeeded"),
                        "runner_per_s": len(finished) / (max(finished) - min(started)) if finished else 0.0,
                        "from_launch_per_s": len(finished) / (t_seen - t_launch),
                    }
                finally:
                    probe.close()
                    procs.stop(rn)
            shutil.rmtree(root, ignore_errors=True)
            # (3) split: the same burst through an API-only process, executed by a runner-only process
            # (two processes, as Celery's client and worker are; MODALINE_ROLE=api / runner).
            if split:
                root = make_root(base, f"tp-{kind}-split")
                with database(kind, root) as db_url:
                    env = Env(root, db_url, worker_url, log_dir, extra=dict(extra_env or {}))
                    url, api = start_gateway(procs, env, "api", f"gateway-split-api-{kind}-{r}")
                    rn = procs.start(
                        f"gateway-split-runner-{kind}-{r}",
                        [PY, "-m", "gateway", "serve"],
                        env=env.gateway_env("runner", free_port()),
                    )
                    probe = Probe(db_url)
                    try:
                        warm = submit_jobs(url + "/v1/jobs", [JOB_BODY] * 50)
                        wait_terminal(probe, len(warm.ids), 60, rn)
                        warm_count = probe.terminal_count()
                        res = submit_jobs(url + "/v1/jobs", bodies)
                        wait_terminal(probe, warm_count + len(res.ids), 300, rn)
                        times = probe.job_times(set(res.ids))
                        finished = [t[3] for t in times if t[3] is not None]
                        row["split"] = {
                            "submitted": len(res.ids),
                            "submit_errors": res.errors,
                            "first_error": res.first_error,
                            "succeeded": sum(1 for t in times if t[0] == "succeeded"),
                            "submit_per_s": len(res.ids) / (res.t_end - res.t_start),
                            "completed_per_s": len(finished) / (max(finished) - res.t_start)
                            if finished
                            else 0.0,
                        }
                    finally:
                        probe.close()
                        procs.stop(rn)
                        procs.stop(api)
                shutil.rmtree(root, ignore_errors=True)
            rounds_out.append(row)
    med = statistics.median
    return {
        "n": n,
        "rounds": rounds_out,
        "completed_per_s": med(r["all"]["completed_per_s"] for r in rounds_out),
        "submit_per_s": med(r["all"]["submit_per_s"] for r in rounds_out),
        "after_submit_per_s": med(r["all"]["after_submit_per_s"] for r in rounds_out),
        "runner_per_s": med(r["runner"]["runner_per_s"] for r in rounds_out),
        "split_completed_per_s": med(r["split"]["completed_per_s"] for r in rounds_out) if split else None,
        "split_failed": sum(r["split"]["submitted"] - r["split"]["succeeded"] for r in rounds_out)
        if split
        else 0,
        "split_submit_errors": sum(r["split"]["submit_errors"] for r in rounds_out) if split else 0,
        "gateway_cpu_ms_per_job": med(r["all"]["gateway_cpu_ms_per_job"] for r in rounds_out),
        "gateway_cpu_busy": med(r["all"]["gateway_cpu_busy"] for r in rounds_out),
        "failed_or_missing": sum(
            r["all"]["submitted"] - r["all"]["succeeded"] + r["runner"]["queued"] - r["runner"]["succeeded"]
            for r in rounds_out
        ),
        "submit_errors": sum(r["all"]["submit_errors"] for r in rounds_out),
    }


def _after_submit_rate(
    times: list[tuple[str, float, float | None, float | None]], t_submit_end: float
) -> float:
    """Jobs finished after the last submit, per second of that tail (the runner alone, without API load)."""
    tail = [f for *_, f in times if f is not None and f > t_submit_end]
    if len(tail) < 50:
        return float("nan")
    return len(tail) / (max(tail) - t_submit_end)


def _start_profiler(procs: Procs, target: Proc, profile_dir: Path, name: str) -> Proc | None:
    spy = shutil.which("py-spy") or str(Path(PY).parent / "py-spy")
    if not Path(spy).exists():
        return None
    profile_dir.mkdir(parents=True, exist_ok=True)
    return procs.start(
        f"py-spy-{name}",
        [spy, "record", "--pid", str(target.pid), "--rate", "200", "--format", "raw", "--nonblocking",
         "--output", str(profile_dir / f"{name}.collapsed"), "--duration", "120"],
        stop_signal=signal.SIGINT,  # py-spy writes its output on Ctrl-C
    )  # fmt: skip


# --- (c) gateway-added latency per step at concurrency 1 -----------------------------------------------------


def _pct(values: list[float], q: float) -> float:
    values = sorted(values)
    if not values:
        return float("nan")
    k = min(len(values) - 1, max(0, round(q * (len(values) - 1))))
    return values[k]


def latency(
    base: Path,
    kind: str,
    n: int = 200,
    warmup: int = 20,
    profile_dir: Path | None = None,
    extra_env: dict[str, str] | None = None,
) -> dict[str, Any]:
    """One job at a time: (finished - created - worker seconds) / steps, from the job's own timestamps.

    The harness waits for each job by polling the database every 2 ms (not the API), so it adds no requests
    to the gateway; the figures come from the rows' timestamps, not from when the harness noticed."""
    import urllib.request

    log_dir = base / "logs"
    per_step: list[float] = []
    claim: list[float] = []
    step_over: list[float] = []
    gaps: list[float] = []
    finish: list[float] = []
    client_wall: list[float] = []
    with Procs(log_dir) as procs:
        worker_url = start_fake_worker(procs, f"fake-worker-lat-{kind}")
        root = make_root(base, f"lat-{kind}")
        with database(kind, root) as db_url:
            env = Env(root, db_url, worker_url, log_dir, extra=dict(extra_env or {}))
            url, gw = start_gateway(procs, env, "all", f"gateway-lat-{kind}")
            probe = Probe(db_url)
            body = json.dumps(JOB_BODY).encode()
            spy = None
            cpu0 = 0.0
            try:
                for i in range(warmup + n):
                    if i == warmup:
                        cpu0 = gw.cpu_seconds()
                        if profile_dir is not None:
                            spy = _start_profiler(procs, gw, profile_dir, f"latency-{kind}")
                    t0 = time.perf_counter()
                    req = urllib.request.Request(
                        url + "/v1/jobs",
                        data=body,
                        headers={"Content-Type": "application/json"},
                        method="POST",
                    )
                    with urllib.request.urlopen(req, timeout=10) as resp:
                        job_id = json.loads(resp.read())["id"]
                    deadline = time.monotonic() + 30
                    while probe.job_status(job_id) not in TERMINAL:
                        if time.monotonic() > deadline:
                            raise RuntimeError(f"job {job_id} not done in 30 s:\n{gw.tail()}")
                        time.sleep(0.002)
                    t1 = time.perf_counter()
                    if i < warmup:
                        continue
                    created, started, finished = probe.job_row(job_id)
                    steps = probe.steps_of(job_id)
                    worker = sum(s["worker_seconds"] for s in steps)
                    per_step.append(1000 * ((finished or 0) - created - worker) / STEPS)
                    client_wall.append(1000 * ((t1 - t0) - worker) / STEPS)
                    if started is not None and steps and all(s["started"] and s["finished"] for s in steps):
                        claim.append(1000 * (started - created))
                        step_over.extend(
                            1000 * (s["finished"] - s["started"] - s["worker_seconds"]) for s in steps
                        )
                        gaps.extend(
                            1000 * (b["started"] - a["finished"]) for a, b in itertools.pairwise(steps)
                        )
                        gaps.append(1000 * (steps[0]["started"] - started))
                        finish.append(1000 * ((finished or 0) - steps[-1]["finished"]))
                cpu_ms_per_job = 1000 * (gw.cpu_seconds() - cpu0) / n
            finally:
                if spy is not None:
                    procs.stop(spy)
                probe.close()
                procs.stop(gw)
        shutil.rmtree(root, ignore_errors=True)

    def stats(values: list[float]) -> dict[str, float]:
        return {
            "p50": _pct(values, 0.5),
            "p99": _pct(values, 0.99),
            "mean": statistics.fmean(values) if values else 0,
        }

    return {
        "n": n,
        "gateway_cpu_ms_per_job": cpu_ms_per_job,
        "per_step_ms": stats(per_step),
        "client_observed_per_step_ms": stats(client_wall),
        "breakdown_ms": {
            "claim (created->job started)": stats(claim),
            "step call overhead (step span - worker time)": stats(step_over),
            "between steps (incl. job start->first step)": stats(gaps),
            "last step->job finished": stats(finish),
        },
    }


# --- (d) RSS with 10,000 jobs in flight ---------------------------------------------------------------------


def memory(
    base: Path,
    kind: str = "sqlite",
    n: int = 10_000,
    delay: float = 5.0,
    watch: float = 150.0,
    concurrency: int | None = None,
) -> dict[str, Any]:
    """Queue ``n`` jobs (straight into the database), then start the measured gateway (role=all) against a worker that answers
    after ``delay`` s, and sample its RSS (process + children) until every job is terminal (or ``watch`` s).

    ``concurrency`` sets the runner's concurrency and worker connections (None = the gateway's defaults);
    the report says how many calls the worker actually held at once and how many jobs were running."""
    log_dir = base / "logs"
    out: dict[str, Any] = {"jobs": n, "worker_delay_s": delay, "runner_concurrency": concurrency or "default"}
    with Procs(log_dir) as procs:
        worker_url = start_fake_worker(procs, f"fake-worker-slow-{concurrency or 'default'}", delay=delay)
        root = make_root(base, f"mem-{kind}")
        with database(kind, root) as db_url:
            extra = {}
            if concurrency:
                extra = {
                    "MODALINE_RUNNER_CONCURRENCY": str(concurrency),
                    "MODALINE_WORKER_MAX_CONNECTIONS": str(concurrency),
                }
            env = Env(root, db_url, worker_url, log_dir, extra)
            t_fill = time.monotonic()
            queued = fill_queue(db_url, n)
            out["fill_seconds"] = time.monotonic() - t_fill
            out["queued"] = len(queued)
            probe = Probe(db_url)
            _, gw = start_gateway(procs, env, "all", f"gateway-mem-{concurrency or 'default'}")
            out["rss_idle_mb"] = gw.rss_bytes() / 2**20
            peak = peak_inflight = peak_running = done = 0
            t0 = time.monotonic()
            samples = []
            try:
                while time.monotonic() - t0 < watch and gw.alive():
                    rss = gw.rss_bytes()
                    peak = max(peak, rss)
                    stats = http_json(worker_url + "/stats")
                    assert isinstance(stats, dict)
                    counts = probe.status_counts()
                    running = counts.get("running", 0)
                    done = sum(counts.get(s, 0) for s in TERMINAL)
                    peak_inflight = max(peak_inflight, int(stats["inflight"]))
                    peak_running = max(peak_running, running)
                    samples.append(
                        (
                            round(time.monotonic() - t0, 1),
                            round(rss / 2**20, 1),
                            stats["inflight"],
                            running,
                            done,
                        )
                    )
                    if done >= len(queued):
                        break
                    time.sleep(0.5)
            finally:
                probe.close()
            out["drain_seconds"] = time.monotonic() - t0
            out["terminal"] = done
            out["rss_peak_mb"] = peak / 2**20
            out["peak_inflight_at_worker"] = peak_inflight
            out["peak_running_jobs"] = peak_running
            out["samples (s, rss MB, worker in-flight, running jobs, terminal)"] = samples[
                :: max(1, len(samples) // 40)
            ]
            out["alive"] = gw.alive()
            procs.stop(gw)
        shutil.rmtree(root, ignore_errors=True)
    return out
