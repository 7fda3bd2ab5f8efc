"""The runner: claims queued jobs under a lease, runs each as a :class:`JobRun`, renews its leases,
takes over jobs whose runner died, and aborts jobs whose cancel was requested."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from gateway.pipelines import PipelineRegistry
from gateway.runner.job import JobRun, RunnerContext
from gateway.runner.writer import GroupWriter, Write
from gateway.store import queue
from gateway.store.models import utcnow
from gateway.store.queue import ClaimedJob

log = logging.getLogger(__name__)


class Runner:
    """Executes jobs from the database; several may share one PostgreSQL (see ``store/queue.py``)."""

    def __init__(
        self,
        *,
        engine: AsyncEngine,
        registry: PipelineRegistry,
        context_factory: Callable[[GroupWriter], RunnerContext],
        on_commit: Callable[[object], None] | None = None,
    ) -> None:
        self.owner = f"{socket.gethostname()[:30]}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        self._engine = engine
        self._registry = registry
        self.writer = GroupWriter(engine, owner=self.owner, on_commit=on_commit)
        self.ctx = context_factory(self.writer)
        self.settings = self.ctx.settings
        self.active: dict[str, tuple[JobRun, asyncio.Task[None]]] = {}
        self._wake = asyncio.Event()
        self._stopping = asyncio.Event()
        self._loops: list[asyncio.Task[None]] = []
        self._last_tick = time.monotonic()
        self._background: set[asyncio.Task[object]] = set()
        self._reserved = 0  # slots promised to jobs being inserted already claimed (see reserve)
        self._found_queued = False  # the last claim found queued jobs (another process may be submitting)

    # --- lifecycle -----------------------------------------------------------------------------------

    async def start(self) -> None:
        self.writer.start()
        self._loops = [
            asyncio.create_task(self._forever(self._claim_once, None), name="runner-claim"),
            asyncio.create_task(
                self._forever(self._maintain, self.settings.heartbeat_seconds), name="runner-lease"
            ),
            asyncio.create_task(
                self._forever(self._check_cancels, self.settings.cancel_poll_seconds), name="runner-cancel"
            ),
        ]

    async def stop(self) -> None:
        """Stop claiming, abandon running jobs (their leases go back to the queue), flush writes.

        Loops are asked to stop between database calls rather than cancelled inside one: a transaction
        cut off mid-way could leave a SQLite write lock behind on a pooled connection.
        """
        self._stopping.set()
        self._wake.set()
        _, pending = await asyncio.wait(self._loops, timeout=30) if self._loops else (set(), set())
        for task in pending:
            task.cancel()
        await asyncio.gather(*self._loops, return_exceptions=True)
        for run, _ in list(self.active.values()):
            run.abort("shutdown")
        await asyncio.gather(*(task for _, task in list(self.active.values())), return_exceptions=True)
        await asyncio.gather(*self._background, return_exceptions=True)
        await self.writer.stop()
        with contextlib.suppress(Exception):
            await queue.release_leases(self._engine, owner=self.owner)

    @property
    def alive(self) -> bool:
        """True while every loop runs and the claim loop ticked recently."""
        loops_ok = bool(self._loops) and not any(task.done() for task in self._loops)
        stale = max(5 * self.settings.runner_poll_seconds, 2 * self.settings.heartbeat_seconds, 5.0)
        return loops_ok and time.monotonic() - self._last_tick < stale

    def wake(self) -> None:
        """Look for queued jobs now (the API calls this after a submit in the same process)."""
        self._wake.set()

    @property
    def lease_seconds(self) -> float:
        return self.settings.lease_seconds

    def _free(self) -> int:
        return self.settings.runner_concurrency - len(self.active) - self._reserved

    def reserve(self, n: int) -> int:
        """Hand-off from this process's submits (``store/batch.py``): take up to ``n`` new jobs now.

        The submit transaction inserts them already claimed under this runner's lease, then calls
        :meth:`adopt`; that skips the wake-up and claim round trip of the queued path.
        """
        if self._stopping.is_set() or not self._loops:
            return 0
        taken = max(0, min(n, self._free()))
        self._reserved += taken
        return taken

    def adopt(self, jobs: list[dict[str, Any]], reserved: int, *, left_queued: bool) -> None:
        """Start jobs the submit transaction committed as claimed by this runner (see :meth:`reserve`)."""
        self._reserved -= reserved
        if left_queued:
            self._wake.set()
        if self._stopping.is_set():
            return  # stop() hands running leases back; a later one expires and is taken over
        self._launch(
            [
                ClaimedJob(row["id"], row["pipeline"], row["inputs"], row["started_at"], False, {})
                for row in jobs
            ]
        )

    def cancel_now(self, job_id: str) -> None:
        """Abort a job this process is running (fast path beside the cancel-flag polling)."""
        if (entry := self.active.get(job_id)) is not None:
            entry[0].abort("cancel")

    # --- loops ---------------------------------------------------------------------------------------

    async def _forever(self, body: Callable[[], Awaitable[None]], every: float | None) -> None:
        while not self._stopping.is_set():
            try:
                await body()
            except Exception:
                log.exception("runner loop %s failed; retrying", body.__name__)
                await self._pause(1.0)
            if every is not None:
                await self._pause(every)

    async def _pause(self, seconds: float) -> None:
        """Sleep, but wake at once when the runner is stopping."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stopping.wait(), seconds)

    async def _claim_once(self) -> None:
        self._last_tick = time.monotonic()
        free = self._free()
        if free > 0:
            want = min(free, self.settings.runner_claim_batch)
            claimed = await queue.claim_queued(
                self._engine, owner=self.owner, lease_seconds=self.settings.lease_seconds, limit=want
            )
            self._launch(claimed)
            self._found_queued = bool(claimed)
            if len(claimed) == want:
                return  # there may be more waiting: claim again at once
        self._wake.clear()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), self.settings.runner_poll_seconds)

    async def _maintain(self) -> None:
        before = set(self.active)  # jobs claimed while renewing are not in ``held`` yet: judge only these
        held = await queue.renew_leases(
            self._engine, owner=self.owner, lease_seconds=self.settings.lease_seconds
        )
        for job_id in before - held:
            entry = self.active.get(job_id)
            if entry is not None and entry[0].abort_reason is None:
                log.warning("lost the lease on job %s; another runner owns it now", job_id)
                entry[0].abort("lost")
        free = self._free()
        if free > 0:
            taken = await queue.claim_expired(
                self._engine, owner=self.owner, lease_seconds=self.settings.lease_seconds, limit=free
            )
            if taken:
                log.info("took over %d job(s) whose runner stopped renewing its lease", len(taken))
            self._launch(taken)

    async def _check_cancels(self) -> None:
        if not self.active:
            return
        for job_id in await queue.cancel_requests(self._engine, owner=self.owner):
            self.cancel_now(job_id)

    # --- jobs ----------------------------------------------------------------------------------------

    def _launch(self, claimed: list[ClaimedJob]) -> None:
        for job in claimed:
            try:
                spec = self._registry.get(job.pipeline)
            except KeyError:
                asyncio.create_task(self._unknown_pipeline(job))  # noqa: RUF006 - the writer holds the result
                continue
            run = JobRun(job, spec, self.ctx)
            task = asyncio.create_task(run.execute(), name=f"job-{job.id}")
            self.active[job.id] = (run, task)
            task.add_done_callback(self._job_done)

    def _job_done(self, task: asyncio.Task[None]) -> None:
        job_id = task.get_name().removeprefix("job-")
        was_full = self._free() <= 0
        entry = self.active.pop(job_id, None)
        crashed = not task.cancelled() and task.exception() is not None
        if crashed:
            log.error(
                "job %s crashed in the runner: %r; handing it back to the queue", job_id, task.exception()
            )
        if crashed or (entry is not None and entry[0].abort_reason == "lost"):
            # Hand the job back (a no-op when another runner holds it) rather than renewing a lease on a
            # job nobody here is running any more.
            releasing = asyncio.create_task(
                queue.release_lease(self._engine, owner=self.owner, job_id=job_id)
            )
            self._background.add(releasing)
            releasing.add_done_callback(self._background.discard)
        if was_full or crashed or self._found_queued:
            # Look for queued jobs now only when some may be waiting: the runner was full, or its last
            # claim found some (another process is submitting). Otherwise the queue was empty and later
            # submits of this process hand jobs over or wake it (or the poll finds them): at
            # concurrency 1 each finished job no longer costs an empty claim transaction.
            self._wake.set()

    async def _release_later(self, job_id: str, *, delay: float) -> None:
        """Put a job back in the queue, after ``delay`` (so a job that crashes the runner cannot spin)."""
        if delay:
            await self._pause(delay)
        try:
            await queue.release_lease(self._engine, owner=self.owner, job_id=job_id)
        except Exception:
            log.exception("could not hand job %s back; its lease will expire instead", job_id)

    async def _unknown_pipeline(self, job: ClaimedJob) -> None:
        now = utcnow()
        error = {
            "title": "Unknown pipeline",
            "detail": f"pipeline {job.pipeline!r} is no longer loaded",
            "step_id": None,
        }
        events = [{"type": "job.failed", "status": "failed", "detail": error["detail"], "at": now}]
        job_row = {
            "status": "failed",
            "outputs": {},
            "error": error,
            "usage": {},
            "finished_at": now,
            "updated_at": now,
            "lease_owner": None,
            "lease_expires_at": None,
        }
        await self.writer.write(Write(job.id, events=events, job=job_row))
