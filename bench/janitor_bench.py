"""The retention janitor: how fast it deletes, and what a busy janitor costs the runner beside it.

Per database, three runs of a ``python -m gateway serve`` runner process (fake workers, fresh database):
1. ``runner alone``: drain ``n`` queued 3-step jobs, no retention (the janitor idles);
2. ``janitor alone``: delete ``expired`` finished jobs (each with an upload it uses and two output files)
   under ``MODALINE_RETENTION_DAYS=1``, nothing queued;
3. ``both``: the same backlog of expired jobs and the same ``n`` queued jobs at once.
The runner starts on an empty database and is then given the backlog (rows committed at once after the files
are written) and/or the queue: drains are timed from the jobs' own ``started_at``/``finished_at``, deletion
from the backlog's commit until it and the outbox are gone. Reported: jobs/s drained and expired jobs/s deleted, and the ratios of run 3 to runs 1 and 2 (same run,
same machine: compare the ratios, not the absolute figures).
"""

from __future__ import annotations

import asyncio
import shutil
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine as sync_engine
from sqlalchemy import func, insert, select

from bench.gateway_load import Env, database, fill_queue, make_root, start_fake_worker
from bench.procs import PY, Procs, free_port

TERMINAL = ("succeeded", "failed", "canceled")
PNG = (
    b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x02\x00\x00\x00\x90wS\xde"
    b"\x00\x00\x00\x0cIDATx\x9cc\xf8\x0f\x00\x00\x01\x01\x00\x05\x18\xd8N\x00\x00\x00\x00IEND\xaeB`\x82"
)


def _sync_url(url: str) -> str:
    return url.replace("+aiosqlite", "")


def make_expired(db_url: str, files_root: Path, n: int) -> None:
    """``n`` jobs that finished two days ago, each with an upload it uses and two output files on disk."""
    from gateway.store import create_engine, migrate
    from gateway.store.models import FILES, JOB_FILES, JOBS, STEPS, utcnow

    async def _migrate() -> None:
        engine = create_engine(db_url)
        await migrate(engine)
        await engine.dispose()

    asyncio.run(_migrate())
    finished = utcnow() - timedelta(days=2)
    ref = {"content_type": "image/png", "bytes": len(PNG), "sha256": "0" * 64}
    jobs, steps, files, links = [], [], [], []
    for i in range(n):
        job_id, upload_id = f"x{i:031x}", f"u{i:031x}"  # "x": never a uuid hex id
        (files_root / "uploads").mkdir(parents=True, exist_ok=True)
        (files_root / f"uploads/{upload_id}").write_bytes(PNG)
        outs = {}
        for name in ("a", "b"):
            key = f"jobs/{job_id}/s/{name}.png"
            (files_root / key).parent.mkdir(parents=True, exist_ok=True)
            (files_root / key).write_bytes(PNG)
            outs[name] = {"file": key, **ref}
        jobs.append(
            {
                "id": job_id,
                "tenant_id": "default",
                "pipeline": "bench_llm3",
                "status": "succeeded",
                "inputs": {"photo": {"file": f"uploads/{upload_id}", **ref}},
                "outputs": outs,
                "usage": {},
                "cancel_requested": False,
                "crash_count": 0,
                "created_at": finished,
                "started_at": finished,
                "finished_at": finished,
                "updated_at": finished,
            }
        )
        steps.append(
            {
                "job_id": job_id,
                "step_id": "s",
                "position": 0,
                "worker": "llm",
                "status": "succeeded",
                "attempts": 1,
                "placeholder": False,
                "fallback": False,
                "outputs": outs,
            }
        )
        row = {"tenant_id": "default", "content_type": "image/png", "kind": "image", "bytes": len(PNG)}
        row |= {"sha256": "0" * 64, "created_at": finished, "step_id": None}
        files.append({**row, "id": upload_id, "path": f"uploads/{upload_id}", "job_id": None})
        for name, out in outs.items():
            files.append({**row, "id": f"{name}{i:031x}", "path": out["file"], "job_id": job_id})
        links.append({"job_id": job_id, "file_id": upload_id})
    engine = sync_engine(_sync_url(db_url))
    try:
        with engine.begin() as conn:
            for table, rows in ((JOBS, jobs), (STEPS, steps), (FILES, files), (JOB_FILES, links)):
                for first in range(0, len(rows), 2000):
                    conn.execute(insert(table), rows[first : first + 2000])
    finally:
        engine.dispose()


class Counter:
    """Counts straight from the database (no load on the gateway's API)."""

    def __init__(self, db_url: str) -> None:
        from gateway.store.models import FILE_DELETIONS, JOBS

        self._jobs, self._outbox = JOBS, FILE_DELETIONS
        self.engine = sync_engine(_sync_url(db_url))

    def done_and_left(self) -> tuple[int, int, int]:
        """(queued jobs now terminal, expired jobs left, outbox entries left)."""
        jobs = self._jobs
        with self.engine.connect() as conn:
            done = conn.execute(
                select(func.count()).where(jobs.c.status.in_(TERMINAL), ~jobs.c.id.startswith("x"))
            ).scalar_one()
            left = conn.execute(select(func.count()).where(jobs.c.id.startswith("x"))).scalar_one()
            outbox = conn.execute(select(func.count()).select_from(self._outbox)).scalar_one()
        return int(done), int(left), int(outbox)

    def drain_seconds(self) -> float:
        """First start to last finish of the queued jobs, from their own rows."""
        jobs = self._jobs
        query = select(func.min(jobs.c.started_at), func.max(jobs.c.finished_at)).where(
            ~jobs.c.id.startswith("x")
        )
        with self.engine.connect() as conn:
            first, last = conn.execute(query).one()
        first, last = (datetime.fromisoformat(v) if isinstance(v, str) else v for v in (first, last))
        return float((last - first).total_seconds())

    def close(self) -> None:
        self.engine.dispose()


def _one(
    procs: Procs, work: Path, kind: str, worker_url: str, *, queued: int, expired: int, name: str
) -> dict[str, Any]:
    """Start a runner on an empty database, then give it the expired backlog and/or the queued jobs."""
    root = make_root(work, f"janitor-{kind}-{name}")
    try:
        with database(kind, root) as db_url:
            extra = {"MODALINE_JANITOR_INTERVAL_SECONDS": "0.05", "MODALINE_JANITOR_BATCH": "100"}
            if expired:
                extra["MODALINE_RETENTION_DAYS"] = "1"
            env = Env(root, db_url, worker_url, work / "logs", extra)
            port = free_port()
            runner = procs.start(
                f"janitor-bench-{kind}-{name}",
                [PY, "-m", "gateway", "serve"],
                env=env.gateway_env("runner", port),
            )
            runner.wait_http(f"http://127.0.0.1:{port}/healthz", timeout=90)
            counter = Counter(db_url)
            try:
                t_expired = None
                if expired:
                    make_expired(db_url, root / "files", expired)  # visible (and deletable) from here on
                    t_expired = time.perf_counter()
                if queued:
                    fill_queue(db_url, queued)
                t_drained = t_deleted = None
                deadline = time.perf_counter() + 600
                while time.perf_counter() < deadline and (t_drained is None or t_deleted is None):
                    done, left, outbox = counter.done_and_left()
                    now = time.perf_counter()
                    if t_drained is None and done >= queued:
                        t_drained = now
                    if t_deleted is None and left == 0 and outbox == 0:
                        t_deleted = now
                    if not runner.alive():
                        raise RuntimeError(f"runner died:\n{runner.tail()}")
                    time.sleep(0.02)
                out: dict[str, Any] = {"queued": queued, "expired": expired}
                if queued and t_drained is not None:
                    span = counter.drain_seconds()
                    out["drain_seconds"] = span
                    out["jobs_per_s"] = queued / span
                if t_expired is not None and t_deleted is not None:
                    out["delete_seconds"] = t_deleted - t_expired
                    out["deleted_per_s"] = expired / (t_deleted - t_expired)
                    out["files_deleted_per_s"] = 3 * expired / (t_deleted - t_expired)
                return out
            finally:
                counter.close()
                procs.stop(runner)
    finally:
        shutil.rmtree(root, ignore_errors=True)


def run(
    work: Path, *, quick: bool = False, kinds: tuple[str, ...] = ("sqlite", "postgresql")
) -> dict[str, Any]:
    n = 600 if quick else 2000
    expired = 2000 if quick else 6000
    res: dict[str, Any] = {}
    with Procs(work / "logs") as procs:
        worker_url = start_fake_worker(procs, "janitor-bench-worker")
        for kind in kinds:
            alone = _one(procs, work, kind, worker_url, queued=n, expired=0, name="runner")
            janitor = _one(procs, work, kind, worker_url, queued=0, expired=expired, name="janitor")
            both = _one(procs, work, kind, worker_url, queued=n, expired=expired, name="both")
            row = {"runner_alone": alone, "janitor_alone": janitor, "both": both}
            if alone.get("jobs_per_s") and both.get("jobs_per_s"):
                row["runner_ratio"] = both["jobs_per_s"] / alone["jobs_per_s"]
            if janitor.get("deleted_per_s") and both.get("deleted_per_s"):
                row["janitor_ratio"] = both["deleted_per_s"] / janitor["deleted_per_s"]
            res[kind] = row
    return res


def report(res: dict[str, Any]) -> str:
    lines = ["", "Janitor (retention) - same run, compare the ratios"]
    for kind, row in res.items():
        if not isinstance(row, dict) or "runner_alone" not in row:
            lines.append(f"  {kind}: {row}")
            continue
        a, j, b = row["runner_alone"], row["janitor_alone"], row["both"]
        lines.append(
            f"  {kind}: runner alone {a.get('jobs_per_s', float('nan')):.1f} jobs/s; "
            f"janitor alone {j.get('deleted_per_s', float('nan')):.0f} expired jobs/s "
            f"({j.get('files_deleted_per_s', float('nan')):.0f} files/s); "
            f"together {b.get('jobs_per_s', float('nan')):.1f} jobs/s = {row.get('runner_ratio', float('nan')):.2f}x "
            f"alone, deleting {b.get('deleted_per_s', float('nan')):.0f}/s = {row.get('janitor_ratio', float('nan')):.2f}x alone"
        )
    return "\n".join(lines) + "\n"
