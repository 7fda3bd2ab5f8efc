"""Baselines measured in the same run as the gateway: a bare FastAPI endpoint and a Celery chain of 3 no-ops."""

from __future__ import annotations

import statistics
import time
from pathlib import Path
from typing import Any

from bench.procs import PY, Procs, free_port

BENCH_REDIS_URL = "redis://127.0.0.1:6379/7"


def start_bare_fastapi(procs: Procs) -> tuple[str, Any]:
    """uvicorn + uvloop + httptools, one process, no access log: the same settings as the gateway."""
    port = free_port()
    proc = procs.start(
        "bare-fastapi",
        [
            PY, "-m", "uvicorn", "bench.bare_app:app", "--host", "127.0.0.1", "--port", str(port),
            "--loop", "uvloop", "--http", "httptools", "--workers", "1", "--no-access-log", "--log-level", "warning",
        ],
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    proc.wait_http(base + "/healthz", timeout=30)
    return base, proc


def _flush_redis() -> None:
    import redis

    redis.Redis.from_url(BENCH_REDIS_URL).flushdb()


def celery_chains(log_dir: Path, burst: int = 1500, rounds: int = 3, sequential: int = 50) -> dict[str, Any]:
    """Celery 5 + Redis: a burst of ``burst`` chains (time until the last task of every chain ran), and
    chains one at a time (``.get()`` on each).

    The worker is Celery's default: prefork pool, one process per core (2 here), results stored in Redis.
    The burst's end is read from a counter the chains' last task increments (waiting on 1,500 results
    through the result backend's pub/sub once lost a result and hung for 300 s).
    """
    import redis
    from celery import chain

    from bench.celery_tasks import DONE_KEY, last, noop

    _flush_redis()
    out: dict[str, Any] = {"burst": burst, "pool": "prefork -c 2"}
    with Procs(log_dir) as procs:
        procs.start(
            "celery-worker",
            [
                PY, "-m", "celery", "-A", "bench.celery_tasks", "worker", "-P", "prefork", "-c", "2",
                "-l", "WARNING", "--without-gossip", "--without-mingle", "--without-heartbeat",
            ],
            env={"BENCH_REDIS_URL": BENCH_REDIS_URL},
        )  # fmt: skip
        try:
            # Warm-up: the first chain waits for the worker to be up.
            chain(noop.s(0), noop.s(), noop.s()).apply_async().get(timeout=60)
            for i in range(20):
                chain(noop.s(i), noop.s(), noop.s()).apply_async().get(timeout=30)
            t0 = time.perf_counter()
            for i in range(sequential):
                chain(noop.s(i), noop.s(), noop.s()).apply_async().get(timeout=30)
            out["one_at_a_time_per_s"] = sequential / (time.perf_counter() - t0)
            rates = []
            counter = redis.Redis.from_url(BENCH_REDIS_URL)
            for _ in range(rounds):
                counter.set(DONE_KEY, 0)
                t0 = time.perf_counter()
                for i in range(burst):
                    chain(noop.s(i), noop.s(), last.s()).apply_async()
                t_sent = time.perf_counter()
                done = 0
                deadline = t0 + 300
                while time.perf_counter() < deadline:
                    done = int(counter.get(DONE_KEY) or 0)
                    if done >= burst:
                        break
                    time.sleep(0.005)
                elapsed = time.perf_counter() - t0
                rates.append(done / elapsed)
                out.setdefault("send_seconds", []).append(round(t_sent - t0, 3))
                out.setdefault("completed", []).append(done)
            out["burst_rates"] = [round(r, 1) for r in rates]
            out["burst_per_s"] = statistics.median(rates)
        finally:
            _flush_redis()
    return out
