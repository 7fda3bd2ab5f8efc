"""The janitor in a real runner process: kill -9 in the middle of its work leaves no row pointing at a
missing file, and a restarted runner finishes the job (outbox drained, no bytes left behind)."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from gateway_helpers import GatewayProcess
from sqlalchemy import func, insert, select
from test_gateway_processes import process_env

from gateway.store import create_engine, migrate
from gateway.store.models import FILE_DELETIONS, FILES, JOB_FILES, JOBS, STEPS, utcnow
from workers.kit.testing import png_bytes, put_file

pytestmark = [pytest.mark.anyio, pytest.mark.slow]

JOBS_MADE = 600


async def make_old_jobs(database_url: str, files_root: Path, n: int) -> None:
    """``n`` jobs that finished two days ago, each with an upload it uses and two output files."""
    data = png_bytes(8, 8)
    finished = utcnow() - timedelta(days=2)
    jobs, steps, files, links = [], [], [], []
    for i in range(n):
        job_id, upload_id = f"{i:032x}", f"up{i:030x}"
        photo = put_file(files_root, f"uploads/{upload_id}", data, "image/png")
        outs = {
            name: put_file(files_root, f"jobs/{job_id}/paint/{name}.png", data, "image/png")
            for name in ("picture", "thumb")
        }
        jobs.append(
            {
                "id": job_id,
                "tenant_id": "default",
                "pipeline": "keepsake",
                "status": "succeeded",
                "inputs": {"photo": photo},
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
                "step_id": "paint",
                "position": 0,
                "worker": "cyclegan",
                "status": "succeeded",
                "attempts": 1,
                "placeholder": False,
                "fallback": False,
                "outputs": outs,
            }
        )
        row = {  # every row with the same keys: one executemany takes the first row's keys
            "tenant_id": "default",
            "content_type": "image/png",
            "kind": "image",
            "created_at": finished,
            "job_id": None,
            "step_id": None,
        }
        files.append(
            {**row, "id": upload_id, "path": photo["file"], "bytes": len(data), "sha256": photo["sha256"]}
        )
        for name, ref in outs.items():
            files.append(
                {
                    **row,
                    "id": f"{name[:2]}{i:030x}",
                    "path": ref["file"],
                    "bytes": len(data),
                    "sha256": ref["sha256"],
                    "job_id": job_id,
                    "step_id": "paint",
                }
            )
        links.append({"job_id": job_id, "file_id": upload_id})
    engine = create_engine(database_url)
    try:
        await migrate(engine)
        async with engine.begin() as conn:
            for table, rows in ((JOBS, jobs), (STEPS, steps), (FILES, files), (JOB_FILES, links)):
                await conn.execute(insert(table), rows)
    finally:
        await engine.dispose()


async def census(database_url: str, files_root: Path) -> dict[str, Any]:
    """Rows left, outbox entries, and every files row or job output whose bytes are missing."""
    engine = create_engine(database_url)
    try:
        async with engine.connect() as conn:
            jobs = (await conn.execute(select(func.count()).select_from(JOBS))).scalar_one()
            outbox = (await conn.execute(select(func.count()).select_from(FILE_DELETIONS))).scalar_one()
            paths = list((await conn.execute(select(FILES.c.path))).scalars())
            outputs = [
                ref["file"]
                for out in (await conn.execute(select(JOBS.c.outputs))).scalars()
                for ref in out.values()
            ]
    finally:
        await engine.dispose()
    missing = sorted(p for p in {*paths, *outputs} if not (files_root / p).is_file())
    unregistered = set(outputs) - set(paths)
    return {"jobs": jobs, "outbox": outbox, "missing": missing, "unregistered": sorted(unregistered)}


def stored(files_root: Path) -> list[str]:
    return sorted(
        p.relative_to(files_root).as_posix()
        for top in ("uploads", "jobs")
        if (files_root / top).exists()
        for p in (files_root / top).rglob("*")
        if p.is_file()
    )


async def test_kill_9_of_the_janitor_mid_work_leaves_no_row_pointing_at_a_missing_file(
    database_url, files_root, fake_worker, tmp_path
):
    await make_old_jobs(database_url, files_root, JOBS_MADE)
    env = process_env(
        database_url,
        files_root,
        fake_worker,
        MODALINE_ROLE="runner",
        MODALINE_RETENTION_DAYS="1",
        MODALINE_JANITOR_BATCH="2",
        MODALINE_JANITOR_INTERVAL_SECONDS="0.05",
    )
    first = GatewayProcess(env, tmp_path / "first.log")
    second = GatewayProcess(env, tmp_path / "second.log")
    try:
        first.spawn()
        for _ in range(6000):  # the janitor starts with the runner; kill it once it has deleted some
            if (await census(database_url, files_root))["jobs"] < JOBS_MADE:
                break
            await asyncio.sleep(0.01)
        first.kill()
        after_crash = await census(database_url, files_root)
        assert 0 < after_crash["jobs"] < JOBS_MADE, after_crash  # it really died in the middle
        assert after_crash["missing"] == [] and after_crash["unregistered"] == []
        await second.start()
        for _ in range(600):
            now = await census(database_url, files_root)
            if now["jobs"] == 0 and now["outbox"] == 0:
                break
            await asyncio.sleep(0.1)
    finally:
        first.kill()
        second.stop()
    assert now == {"jobs": 0, "outbox": 0, "missing": [], "unregistered": []}, now
    assert stored(files_root) == []  # every byte of every deleted job and upload is gone
