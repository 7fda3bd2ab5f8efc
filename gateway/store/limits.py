"""Rate-limit counters in the database: one row per tenant, limit and fixed window, so every replica on
one database counts against one limit.

Hits are group-committed (``group_commit.py``): the hits of many concurrent requests cost one transaction,
one conditional upsert per counter (``count = count + n … RETURNING count``), and each hit learns its
ordinal in its window (1 for the first), which the limiter compares with the limit.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, delete
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncEngine

from gateway.store.db import write_tx
from gateway.store.group_commit import GroupCommit
from gateway.store.models import RATE_COUNTERS


@dataclass(frozen=True, slots=True)
class Hit:
    """One request counted against one limit of one tenant, in the window starting at ``window``."""

    tenant_id: str
    name: str
    window: int  # seconds since the epoch


class CounterWriter(GroupCommit[Hit, int]):
    """Counts hits; a hit's result is its ordinal in its window."""

    def __init__(self, engine: AsyncEngine, *, max_batch: int = 2_000) -> None:
        super().__init__(engine, name="rate-counters", max_batch=max_batch)
        module: Any = postgresql if engine.dialect.name == "postgresql" else sqlite
        stmt = module.insert(RATE_COUNTERS)
        self._upsert = stmt.on_conflict_do_update(
            index_elements=["tenant_id", "name", "window"],
            set_={"count": RATE_COUNTERS.c.count + stmt.excluded["count"]},
        ).returning(RATE_COUNTERS.c["count"])

    async def hit(self, hit: Hit) -> int:
        """Count ``hit``; its ordinal in its window."""
        return await self.commit(hit)

    def apply(self, conn: Connection, items: list[Hit]) -> list[int]:
        per_counter = Counter((h.tenant_id, h.name, h.window) for h in items)
        before: dict[tuple[str, str, int], int] = {}
        for key in sorted(per_counter):  # one order for every replica: no deadlock between two batches
            tenant_id, name, window = key
            params = {"tenant_id": tenant_id, "name": name, "window": window, "count": per_counter[key]}
            total = conn.execute(self._upsert, params).scalar_one()
            before[key] = total - per_counter[key]
        ordinals = []
        for h in items:
            key = (h.tenant_id, h.name, h.window)
            before[key] += 1
            ordinals.append(before[key])
        return ordinals


async def prune_counters(engine: AsyncEngine, *, before: int) -> int:
    """Delete counters of windows that started before ``before`` (seconds since the epoch)."""
    async with write_tx(engine) as conn:
        return (await conn.execute(delete(RATE_COUNTERS).where(RATE_COUNTERS.c.window < before))).rowcount
