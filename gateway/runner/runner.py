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
from collections.abc import Awaitable, Callable, Iterable

from sqlalchemy.ext.asyncio import AsyncEngine

from gateway.files import FileStorage, open_storage
from gateway.metrics import Metrics
from gateway.pipelines import PipelineRegistry
from gateway.runner.client import WorkerClient
from gateway.runner.job import JobRun, RunnerContext, end_of_job
from gateway.settings import Settings
from gateway.store import queue
from gateway.store.job_writer import JobWriter, Write
from gateway.store.models import utcnow
from gateway.store.queue import NO_CAPS, ClaimedJob, RunningCaps
from gateway.store.rows import event_row, job_error, terminal_job_row

log = logging.getLogger(__name__)


class Runner:
    """Executes jobs from the database; several may share one PostgreSQL (see ``store/queue.py``)."""

    def __init__(
        self,
        *,
        engine: AsyncEngine,
        registry: PipelineRegistry,
        client: WorkerClient,
        settings: Settings,
        metrics: Metrics,
        on_commit: Callable[[Iterable[str]], None] | None = None,
        caps: Callable[[], RunningCaps] = lambda: NO_CAPS,
        storage: FileStorage | None = None,
    ) -> None:
        self.owner = f"{socket.gethostname()[:30]}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        self._engine = engine
        self._registry = registry
        self.settings = settings
        self.caps = caps  # each tenant's cap on running jobs, as the claims must respect it now
        self._on_commit = on_commit  # told of every commit that logged events (claims included)
        self.writer = JobWriter(
            engine, owner=self.owner, max_batch=settings.write_batch_max, on_commit=on_commit
        )
        if storage is None:  # transforms read and write files where the settings say
            storage = open_storage(settings.files_url, settings.files_root)
        self.ctx = RunnerContext(self.writer, client, settings, metrics, storage)
        self.active: dict[str, tuple[JobRun, asyncio.Task[None]]] = {}
        self._wake = asyncio.Event()
        self._stopping = asyncio.Event()
        self._loops: list[asyncio.Task[None]] = []
        self._last_tick = time.monotonic()
        self._background: set[asyncio.Future[None]] = set()
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

    @property
    def free_slots(self) -> int:
        """Jobs this runner can take now: its concurrency less running jobs and slots reserved by submits."""
        return self.settings.runner_concurrency - len(self.active) - self._reserved

    def reserve(self, n: int) -> int:
        """Hand-off from this process's submits (``store/batch.py``): take up to ``n`` new jobs now.

        The submit transaction inserts them already claimed under this runner's lease, then calls
        :meth:`adopt`; that skips the wake-up and claim round trip of the queued path.
        """
        if self._stopping.is_set() or not self._loops:
            return 0
        taken = max(0, min(n, self.free_slots))
        self._reserved += taken
        return taken

    def adopt(self, jobs: list[ClaimedJob], reserved: int, *, left_queued: bool) -> None:
        """Start jobs the submit transaction committed as claimed by this runner (see :meth:`reserve`)."""
        self._reserved -= reserved
        if left_queued:
            self._wake.set()
        if self._stopping.is_set():
            return  # stop() hands running leases back; a later one expires and is taken over
        self._launch(jobs)

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
            async with asyncio.timeout(seconds):  # not wait_for: it can swallow a cancel on 3.11
                await self._stopping.wait()

    async def _claim_once(self) -> None:
        self._last_tick = time.monotonic()
        free = self.free_slots
        if free > 0:
            want = min(free, self.settings.runner_claim_batch)
            claimed = await queue.claim_queued(
                self._engine,
                owner=self.owner,
                lease_seconds=self.settings.lease_seconds,
                limit=want,
                caps=self.caps(),
            )
            self._launch(claimed)
            self._found_queued = bool(claimed)
            if len(claimed) == want:
                return  # there may be more waiting: claim again at once
        self._wake.clear()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(self.settings.runner_poll_seconds):  # not wait_for (see _pause)
                await self._wake.wait()

    async def _maintain(self) -> None:
        before = set(self.active)  # jobs claimed while renewing are not in ``held`` yet: judge only these
        held = await queue.renew_leases(
            self._engine, owner=self.owner, lease_seconds=self.settings.lease_seconds
        )
        for job_id in before - held:
            entry = self.active.get(job_id)
            if entry is not None and entry[0].abort_reason is None:
                log.warning(
                    "lost the lease on job %s; another runner owns it now", job_id, extra={"job_id": job_id}
                )
                self.ctx.metrics.leases_lost.inc()
                entry[0].abort("lost")
        free = self.free_slots
        if free > 0:
            taken = await queue.claim_expired(
                self._engine, owner=self.owner, lease_seconds=self.settings.lease_seconds, limit=free
            )
            if taken:
                log.info("took over %d job(s) whose runner stopped renewing its lease", len(taken))
                self.ctx.metrics.lease_takeovers.inc(len(taken))
            self._launch(taken)

    async def _check_cancels(self) -> None:
        if not self.active:
            return
        for job_id in await queue.cancel_requests(self._engine, owner=self.owner):
            self.cancel_now(job_id)

    # --- jobs ----------------------------------------------------------------------------------------

    def _launch(self, claimed: list[ClaimedJob]) -> None:
        if claimed and self._on_commit is not None:
            self._on_commit(job.id for job in claimed)  # their job.running events are committed
        for job in claimed:
            try:
                spec = self._registry.get(job.pipeline)
            except KeyError:
                self._in_background(self._unknown_pipeline(job))
                continue
            run = JobRun(job, spec, self.ctx)
            task = asyncio.create_task(run.execute(), name=f"job-{job.id}")
            self.active[job.id] = (run, task)
            task.add_done_callback(self._job_done)

    def _job_done(self, task: asyncio.Task[None]) -> None:
        job_id = task.get_name().removeprefix("job-")
        was_full = self.free_slots <= 0
        entry = self.active.pop(job_id, None)
        run = entry[0] if entry is not None else None
        if not task.cancelled() and (exc := task.exception()) is not None:
            log.error("job %s crashed in the runner", job_id, exc_info=exc, extra={"job_id": job_id})
            self._in_background(self._after_crash(job_id, run))
        elif run is not None and run.abort_reason == "lost":
            # Hand the job back (a no-op when another runner holds it) rather than renewing a lease on a
            # job nobody here is running any more.
            self._in_background(self._release(job_id))
        if was_full or self._found_queued:
            # Look for queued jobs now only when some may be waiting: the runner was full, or its last
            # claim found some (another process is submitting). Otherwise the queue was empty and later
            # submits of this process hand jobs over or wake it (or the poll finds them): at
            # concurrency 1 each finished job no longer costs an empty claim transaction.
            self._wake.set()

    def _in_background(self, work: Awaitable[None]) -> None:
        task = asyncio.ensure_future(work)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _after_crash(self, job_id: str, run: JobRun | None) -> None:
        """Count the crash in the job's row; fail the job after ``runner_max_crashes`` of them, else hand
        it back after a pause that grows with the count (a poison job must not spin a core)."""
        try:
            crashes = await queue.count_crash(self._engine, owner=self.owner, job_id=job_id)
            if crashes is None:
                return  # another runner holds it now, or it ended
            if crashes >= self.settings.runner_max_crashes:
                log.error(
                    "job %s crashed the runner %d times; failing it",
                    job_id,
                    crashes,
                    extra={"job_id": job_id},
                )
                await self._fail_crashed(job_id, run, crashes)
                return
            await self._pause(self.settings.crash_pause_seconds * crashes)
            await self._release(job_id)
        except Exception:
            log.exception(
                "could not handle the crash of job %s; its lease will expire instead",
                job_id,
                extra={"job_id": job_id},
            )

    async def _fail_crashed(self, job_id: str, run: JobRun | None, crashes: int) -> None:
        now = utcnow()
        detail = f"the runner crashed {crashes} times while running this job; the gateway log has the cause"
        error = job_error("Internal error", detail)
        if run is None:  # cannot happen: a crashed job's run is still known here
            return
        write = end_of_job(run, "failed", now=now, error=error)
        write.job = terminal_job_row("failed", now=now, error=error)
        if await self.writer.write(write):
            seconds = (now - run.started_at).total_seconds()
            self.ctx.metrics.job_finished(run.spec.name, "failed", seconds)

    async def _release(self, job_id: str) -> None:
        """Put a job back in the queue (a no-op when another runner holds it now)."""
        if self._stopping.is_set():
            return  # stop() hands every lease back
        try:
            await queue.release_lease(self._engine, owner=self.owner, job_id=job_id)
        except Exception:
            log.exception(
                "could not hand job %s back; its lease will expire instead", job_id, extra={"job_id": job_id}
            )

    async def _unknown_pipeline(self, job: ClaimedJob) -> None:
        now = utcnow()
        error = job_error("Unknown pipeline", f"pipeline {job.pipeline!r} is no longer loaded")
        failed = event_row("job.failed", now, status="failed", detail=error["detail"])
        final = terminal_job_row("failed", now=now, error=error)
        await self.writer.write(Write(job.id, tenant_id=job.tenant_id, events=[failed], job=final))
