"""Queue many jobs fast, with the rows the gateway's own store code builds (not over HTTP).

Used where the queue's content matters but the submit path is not what is measured (the runner-only drain
and the 10,000-jobs memory run); the API's submit rate is measured separately over HTTP. The rows come from
the store's own builder (``gateway.store.jobs.job_rows``, or what ``_insert_job`` executes, recorded), then are
inserted in bulk, so they match the schema.
"""

from __future__ import annotations

import asyncio
import uuid
from collections import defaultdict
from typing import Any


class _Recorder:
    """Stands in for an AsyncConnection and records each insert's rows per table."""

    def __init__(self) -> None:
        self.rows: dict[str, list[dict[str, Any]]] = defaultdict(list)
        self.order: list[Any] = []

    async def execute(self, statement: Any, params: Any = None) -> None:
        table = statement.table
        if table.name not in self.rows:
            self.order.append(table)
        self.rows[table.name].extend(params if isinstance(params, list) else [params])


async def _fill(
    db_url: str, pipeline: str, inputs: dict[str, Any], steps: list[tuple[str, str]], n: int
) -> list[str]:
    from sqlalchemy import insert

    from gateway.store import create_engine, migrate
    from gateway.store.jobs import NewJob, job_rows
    from gateway.store.models import DEFAULT_TENANT, utcnow

    engine = create_engine(db_url)
    ids: list[str] = []
    try:
        await migrate(engine)
        new = NewJob(tenant_id=DEFAULT_TENANT, pipeline=pipeline, inputs=inputs, steps=steps)
        for start in range(0, n, 1000):
            rec = _Recorder()
            for _ in range(start, min(n, start + 1000)):
                job_id = uuid.uuid4().hex
                for table, items in job_rows(job_id=job_id, new=new, now=utcnow()):
                    await rec.execute(insert(table), items)
                ids.append(job_id)
            async with engine.begin() as conn:
                for table in rec.order:
                    await conn.execute(insert(table), rec.rows[table.name])
    finally:
        await engine.dispose()
    return ids


def fill(
    db_url: str, n: int, pipeline: str, inputs: dict[str, Any], steps: list[tuple[str, str]]
) -> list[str]:
    """Insert ``n`` queued jobs (with their pending steps and queued events); returns their ids."""
    return asyncio.run(_fill(db_url, pipeline, inputs, steps, n))
