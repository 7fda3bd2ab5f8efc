"""New jobs from concurrent submits, group-committed (``group_commit.py``), optionally handed straight to
the runner of this process.

Each caller awaits its own rows' commit, so a 202 still means "durably queued"; under load, N submits
cost one transaction instead of N. A batch that fails is retried one submission at a time, so one bad
row (e.g. a reused idempotency key) fails only its own request.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Protocol

from sqlalchemy import Connection, Table, insert
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from gateway.store.events import announce_sync
from gateway.store.group_commit import GroupCommit
from gateway.store.models import EVENTS, JOB_FILES, JOBS, utcnow
from gateway.store.queue import NO_CAPS, ClaimedJob, RunningCaps, claimed_event, lease_values, running_counts

#: One submission's rows, per table, in foreign-key order.
Rows = Sequence[tuple[Table, list[dict[str, Any]]]]


class Handoff(Protocol):
    """An in-process runner that takes new jobs straight from the submit transaction (no claim round trip).

    The batcher inserts the jobs it reserved already claimed under the runner's lease (``status=running``,
    ``lease_owner``, ``lease_expires_at``, plus a ``job.running`` event) and calls :meth:`adopt` once they
    are committed. A job handed over and then lost in a crash is taken over when its lease expires, like
    any claimed job.
    """

    owner: str
    lease_seconds: float
    caps: Callable[[], RunningCaps]  # tenants at their cap on running jobs get no hand-off

    def reserve(self, n: int) -> int:
        """How many of ``n`` new jobs the runner takes now; it holds that many slots until :meth:`adopt`."""
        ...

    def adopt(self, jobs: list[ClaimedJob], reserved: int, *, left_queued: bool) -> None:
        """Start the committed claimed ``jobs``, free ``reserved`` slots; look for queued jobs when some
        were left queued."""
        ...


def _merged(items: Sequence[Rows]) -> dict[Table, list[dict[str, Any]]]:
    merged: dict[Table, list[dict[str, Any]]] = {}
    for rows in items:
        for table, values in rows:
            merged.setdefault(table, []).extend(values)
    # job_files points at jobs and files: insert it last, whichever submission listed it first.
    return dict(sorted(merged.items(), key=lambda item: item[0] is JOB_FILES))


def insert_rows_sync(conn: Connection, *submissions: Rows) -> None:
    """Insert per table (one executemany each), in the order the tables first appear: callers list them
    in foreign-key order. Events appended are announced once (:func:`announce_sync`)."""
    for table, values in _merged(submissions).items():
        if values:
            conn.execute(insert(table), values)
            if table is EVENTS:
                announce_sync(conn)


async def insert_rows(conn: AsyncConnection, rows: Rows) -> None:
    """:func:`insert_rows_sync` on an async connection."""
    await conn.run_sync(insert_rows_sync, rows)


#: What a committed submission's jobs really are: job id → (status, started_at). A job handed to the runner
#: is already ``running``; the API answers with this, not with the state it asked for.
Inserted = dict[str, tuple[str, Any]]


def _inserted(rows: Rows) -> Inserted:
    return {
        row["id"]: (row["status"], row["started_at"])
        for table, values in rows
        if table is JOBS
        for row in values
    }


class InsertBatcher(GroupCommit[Rows, Inserted]):
    """Collects :meth:`insert` calls while a transaction runs and commits them together next."""

    def __init__(
        self, engine: AsyncEngine, *, max_batch: int = 500, on_commit: Callable[[], None] | None = None
    ) -> None:
        super().__init__(engine, name="insert-batcher", max_batch=max_batch)
        self._on_commit = on_commit  # told after each commit (its job.queued events are in the log)
        self._handoff: Handoff | None = None
        self._reserved = 0  # runner slots reserved for the transaction in flight (one at a time)
        self._caps = NO_CAPS

    def connect(self, handoff: Handoff | None) -> None:
        """Hand new jobs straight to ``handoff`` (this process's runner) from now on; None stops it."""
        self._handoff = handoff

    async def insert(self, rows: Rows) -> Inserted:
        """Insert ``rows`` and return once they are committed (raises what the database raised), with the
        status each job was committed in (``running`` when it was handed to the runner)."""
        return await self.commit(rows)

    def apply(self, conn: Connection, items: list[Rows]) -> list[Inserted]:
        if self._caps.active:
            _keep_within_caps(conn, items, self._caps)
        insert_rows_sync(conn, *items)
        return [_inserted(rows) for rows in items]

    # --- hand-off ------------------------------------------------------------------------------------

    def prepare(self, items: list[Rows]) -> list[Rows]:
        """Insert the new jobs the runner reserves already claimed (copies: callers learn the committed
        status from :meth:`insert`'s result)."""
        handoff = self._handoff
        self._reserved = 0
        if handoff is None:
            return items
        wanted = sum(1 for rows in items for table, values in rows if table is JOBS for _ in values)
        free = self._reserved = handoff.reserve(wanted) if wanted else 0
        if not free:
            return items
        self._caps = handoff.caps()
        now = utcnow()
        lease = {
            **lease_values(owner=handoff.owner, lease_seconds=handoff.lease_seconds, now=now),
            "started_at": now,
        }
        running = claimed_event(owner=handoff.owner, now=now)
        out: list[Rows] = []
        for rows in items:
            claimed: list[tuple[str, str]] = []  # (job id, tenant id)
            rewritten: list[tuple[Table, list[dict[str, Any]]]] = []
            for table, values in rows:
                if table is JOBS:
                    values = [_claim(row, lease, claimed) if len(claimed) < free else row for row in values]
                rewritten.append((table, values))
            free -= len(claimed)
            if claimed:  # after the submission's job.queued event
                rewritten.append(
                    (
                        EVENTS,
                        [{**running, "job_id": job_id, "tenant_id": tenant} for job_id, tenant in claimed],
                    )
                )
            out.append(rewritten)
        return out

    def committed(self, items: list[Rows], outs: list[Inserted]) -> None:
        if self._on_commit is not None:
            self._on_commit()
        if self._handoff is None:
            return
        claimed, queued = _claimed_and_queued(items)
        if claimed or queued or self._reserved:
            self._handoff.adopt(claimed, self._reserved, left_queued=queued > 0)
        self._reserved = 0

    def abandoned(self, items: list[Rows]) -> None:
        if self._handoff is not None and self._reserved:
            self._handoff.adopt([], self._reserved, left_queued=False)
        self._reserved = 0


def _claim(row: dict[str, Any], lease: dict[str, Any], claimed: list[tuple[str, str]]) -> dict[str, Any]:
    claimed.append((row["id"], row["tenant_id"]))
    return {**row, **lease}


def _keep_within_caps(conn: Connection, items: list[Rows], caps: RunningCaps) -> None:
    """Turn claimed rows back into queued ones where the tenant's running jobs would pass its cap
    (counted in this transaction), dropping their ``job.running`` events."""
    rows = [row for submitted in items for table, values in submitted if table is JOBS for row in values]
    claimed = [row for row in rows if row["status"] == "running"]
    if not claimed:
        return
    running = running_counts(conn, (row["tenant_id"] for row in claimed))
    unclaimed: set[str] = set()
    for row in claimed:
        tenant, cap = row["tenant_id"], caps.cap(row["tenant_id"])
        if cap > 0 and running.get(tenant, 0) >= cap:
            row.update(status="queued", lease_owner=None, lease_expires_at=None, started_at=None)
            unclaimed.add(row["id"])
        else:
            running[tenant] = running.get(tenant, 0) + 1
    if unclaimed:
        for submitted in items:
            for table, values in submitted:
                if table is EVENTS:
                    values[:] = [
                        e for e in values if not (e["type"] == "job.running" and e["job_id"] in unclaimed)
                    ]


def _claimed_and_queued(items: list[Rows]) -> tuple[list[ClaimedJob], int]:
    claimed: list[ClaimedJob] = []
    queued = 0
    for rows in items:
        for table, values in rows:
            if table is not JOBS:
                continue
            for row in values:
                if row["status"] == "running":
                    claimed.append(
                        ClaimedJob(
                            row["id"],
                            row["tenant_id"],
                            row["pipeline"],
                            row["inputs"],
                            row["started_at"],
                            traceparent=row.get("traceparent"),
                        )
                    )
                else:
                    queued += 1
    return claimed, queued
