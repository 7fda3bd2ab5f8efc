"""The janitor: keeps the retention promise by itself, in the runner role.

Every ``MODALINE_JANITOR_INTERVAL_SECONDS`` it
1. deletes finished jobs past their tenant's retention and uploads no job uses past their TTL, in small
   transactions (``MODALINE_JANITOR_BATCH`` rows; ``FOR UPDATE SKIP LOCKED`` on PostgreSQL, so several
   runners share the work), each writing the storage keys it frees to the ``file_deletions`` outbox;
2. drains the outbox: deletes those keys through the one storage interface (a directory or a bucket),
   then forgets the entries — rows first, bytes after, so a crash anywhere leaves no row pointing at a
   missing file, only bytes that the next pass deletes;
3. about once an hour (and on its first pass), sweeps stray bytes: keys under ``uploads/`` and ``jobs/``
   that no row points at (and, under ``jobs/<id>``, whose job is gone), older than the longest a job can
   run, so a worker's output that is written but not yet recorded is never taken.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncEngine

from gateway.files import FileStorage, StorageError
from gateway.store import lifecycle
from gateway.store.db import write_tx
from gateway.store.lifecycle import Deleted, Outboxed, Retention
from gateway.store.models import utcnow

log = logging.getLogger(__name__)

#: Stray bytes are looked for this often (a full listing of the files root).
SWEEP_EVERY_SECONDS = 3600.0
#: At most this many batches of one kind per pass, so one pass never runs away.
MAX_BATCHES_PER_PASS = 50
_LOOKUP = 500


@dataclass(slots=True)
class Pass:
    """What one janitor pass deleted."""

    jobs: int = 0
    files: dict[tuple[str, str], int] = field(default_factory=dict)  # (origin, kind) → rows
    keys: int = 0  # outbox entries whose bytes were deleted
    strays: int = 0  # unreferenced keys swept

    def add(self, deleted: Deleted) -> None:
        self.jobs += deleted.jobs
        for key, count in deleted.files.items():
            self.files[key] = self.files.get(key, 0) + count


async def drain_entries(engine: AsyncEngine, storage: FileStorage, entries: list[Outboxed]) -> int:
    """Delete these outbox entries' bytes and forget the entries; one that fails stays for the janitor.

    Deleting is idempotent (a missing key is no error), so two processes draining one entry is harmless.
    """
    done: list[int] = []
    for entry in entries:
        try:
            if entry.prefix:
                await storage.adelete_prefix(entry.key)
            else:
                await storage.adelete(entry.key)
        except StorageError as exc:
            log.warning("could not delete %s from the file storage yet: %s", entry.key, exc.detail)
            continue
        done.append(entry.id)
    await lifecycle.outbox_done(engine, done)
    return len(done)


class Janitor:
    """Deletes expired jobs, orphaned uploads and stray bytes; runs beside the runner."""

    def __init__(
        self,
        engine: AsyncEngine,
        storage: FileStorage,
        *,
        retention_days: float | None,
        upload_ttl_hours: float | None,
        interval_seconds: float,
        batch: int,
        stray_grace_seconds: float,
        on_pass: Callable[[Pass], None] | None = None,
        on_deleted: Callable[[list[str]], None] | None = None,
    ) -> None:
        """``on_pass`` gets each pass's counts (metrics); ``on_deleted`` the ids of deleted jobs (SSE)."""
        self.engine = engine
        self.storage = storage
        self.retention_days = retention_days
        self.upload_ttl_hours = upload_ttl_hours
        self.interval_seconds = interval_seconds
        self.batch = batch
        self.stray_grace_seconds = stray_grace_seconds
        self._on_pass = on_pass
        self._on_deleted = on_deleted
        self._task: asyncio.Task[None] | None = None
        self._last_sweep = float("-inf")
        self.passes = 0

    # --- lifecycle ------------------------------------------------------------------------------------

    def start(self) -> None:
        self._task = asyncio.create_task(self._loop(), name="janitor")

    async def stop(self) -> None:
        if self._task is None:
            return
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        self._task = None

    async def _loop(self) -> None:
        while True:
            try:
                await self.run_once()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("janitor pass failed; trying again in %.0f s", self.interval_seconds)
            await asyncio.sleep(self.interval_seconds)

    # --- one pass -------------------------------------------------------------------------------------

    async def policy(self) -> Retention:
        days, ttl = await lifecycle.tenant_overrides(self.engine)
        return Retention(self.retention_days, self.upload_ttl_hours, days, ttl)

    async def run_once(self, *, sweep: bool | None = None) -> Pass:
        """One pass: expire rows batch by batch, delete their bytes, and sweep strays when due."""
        done = Pass()
        policy = await self.policy()
        for expire in (lifecycle.expire_jobs_sync, lifecycle.expire_uploads_sync):
            for _ in range(MAX_BATCHES_PER_PASS):
                async with write_tx(self.engine) as conn:
                    deleted = await conn.run_sync(expire, policy, limit=self.batch)
                done.add(deleted)
                if deleted.job_ids and self._on_deleted is not None:
                    self._on_deleted(deleted.job_ids)
                if deleted.outbox:
                    done.keys += await drain_entries(self.engine, self.storage, deleted.outbox)
                if deleted.jobs + deleted.file_count < self.batch:
                    break
                await asyncio.sleep(0)  # let the hot path in between batches
        done.keys += await self.drain_outbox()
        now = time.monotonic()
        if sweep or (sweep is None and now - self._last_sweep >= SWEEP_EVERY_SECONDS):
            self._last_sweep = now
            done.strays = await self.sweep_strays()
        self.passes += 1
        if self._on_pass is not None:
            self._on_pass(done)
        if done.jobs or done.files or done.strays:
            log.info(
                "janitor: deleted %d jobs, %d files rows, %d stored keys, %d stray files",
                done.jobs,
                sum(done.files.values()),
                done.keys,
                done.strays,
            )
        return done

    async def drain_outbox(self) -> int:
        """Delete the bytes of every outbox entry left by earlier passes, a crash or the API."""
        drained = 0
        for _ in range(MAX_BATCHES_PER_PASS):
            if self.engine.dialect.name == "postgresql":
                # Entries stay locked while their bytes are deleted: other runners skip them.
                async with self.engine.begin() as conn:
                    entries = await conn.run_sync(lifecycle.outbox_batch_sync, limit=self.batch)
                    ids = await self._delete_bytes(entries)
                    await conn.run_sync(lifecycle.outbox_done_sync, ids)
            else:
                async with self.engine.connect() as conn:  # no write lock held while deleting bytes
                    entries = await conn.run_sync(lifecycle.outbox_batch_sync, limit=self.batch)
                ids = await self._delete_bytes(entries)
                await lifecycle.outbox_done(self.engine, ids)
            drained += len(ids)
            if len(entries) < self.batch or len(ids) < len(entries):
                break
        return drained

    async def _delete_bytes(self, entries: list[Outboxed]) -> list[int]:
        ids: list[int] = []
        for entry in entries:
            try:
                if entry.prefix:
                    await self.storage.adelete_prefix(entry.key)
                else:
                    await self.storage.adelete(entry.key)
            except StorageError as exc:
                log.warning("could not delete %s from the file storage yet: %s", entry.key, exc.detail)
                continue
            ids.append(entry.id)
        return ids

    async def sweep_strays(self) -> int:
        """Delete stored keys nothing points at that are older than the stray grace period."""
        cutoff = utcnow() - timedelta(seconds=self.stray_grace_seconds)
        swept = 0
        for top in ("uploads", "jobs"):
            try:
                objects = await self.storage.alist_objects(top)
            except StorageError as exc:
                log.warning("could not list %s/ in the file storage: %s", top, exc.detail)
                continue
            old = [obj.key for obj in objects if _older(obj.modified, cutoff)]
            for first in range(0, len(old), _LOOKUP):
                keys = old[first : first + _LOOKUP]
                known = await lifecycle.known_paths(self.engine, keys)
                loose = [key for key in keys if key not in known]
                if top == "jobs":
                    owners = {key.split("/")[1] for key in loose if key.count("/") >= 1}
                    alive = await lifecycle.existing_jobs(self.engine, sorted(owners))
                    loose = [key for key in loose if key.split("/")[1] not in alive]
                for key in loose:
                    try:
                        await self.storage.adelete(key)
                    except StorageError as exc:
                        log.warning("could not delete stray %s: %s", key, exc.detail)
                        continue
                    swept += 1
        return swept


def _older(modified: datetime | None, cutoff: datetime) -> bool:
    """True when a listed key was last written before ``cutoff`` (unknown times are never swept)."""
    return modified is not None and modified < cutoff


def stray_grace_seconds(
    job_timeouts: list[float], step_timeout_seconds: float, lease_seconds: float
) -> float:
    """How old an unreferenced key must be before it is swept: the longest a job can run (its pipeline's
    ``timeout_seconds``, at least one step's timeout) plus a lease, so a runner that crashed mid-step and
    a worker still writing for it are long past."""
    return max([step_timeout_seconds, *job_timeouts]) + lease_seconds
