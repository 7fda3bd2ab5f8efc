"""Running one job: its steps in dependency order (independent ones concurrently), retries, fallbacks,
timeouts, cancel — with every finished step durably written before the steps that depend on it start."""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from gateway.pipelines import PipelineSpec, StepSpec, resolve
from gateway.runner.client import WorkerCallError, WorkerClient
from gateway.runner.retry import backoff_seconds
from gateway.runner.steps import StepRecord, event, output_files, total_usage
from gateway.runner.writer import GroupWriter, Write
from gateway.settings import Settings
from gateway.store.models import utcnow
from gateway.store.queue import ClaimedJob
from workers.kit.contract import RunRequest, RunResponse

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class RunnerContext:
    """What every job of one runner shares."""

    writer: GroupWriter
    client: WorkerClient
    settings: Settings
    metrics: Any  # gateway.metrics.Metrics
    plans: dict[str, list[tuple[StepSpec, frozenset[str]]]] = field(default_factory=dict)

    def plan(self, spec: PipelineSpec) -> list[tuple[StepSpec, frozenset[str]]]:
        """Each step with the steps it waits for, computed once per pipeline (the hot loop reuses it)."""
        plan = self.plans.get(spec.name)
        if plan is None:
            deps = spec.dependencies()
            plan = self.plans[spec.name] = [(step, deps[step.id]) for step in spec.steps]
        return plan


class StepFailed(Exception):
    """A step failed for good and had no fallback: the job fails."""

    def __init__(self, step_id: str, title: str, detail: str, write: Write | None = None) -> None:
        super().__init__(f"{step_id}: {title}: {detail}")
        self.step_id, self.title, self.detail = step_id, title, detail
        self.write = write or Write("")


class LeaseLost(Exception):
    """Another runner owns this job now; stop without writing anything more."""


class JobRun:
    """One claimed job in this runner. Small on purpose: ids, inputs, step records and live step tasks."""

    __slots__ = ("abort_reason", "ctx", "id", "inputs", "spec", "started_at", "steps", "tasks", "unsaved")

    def __init__(self, claimed: ClaimedJob, spec: PipelineSpec, ctx: RunnerContext) -> None:
        self.id = claimed.id
        self.spec = spec
        self.ctx = ctx
        self.inputs = claimed.inputs
        self.started_at = claimed.started_at
        self.steps: dict[str, StepRecord] = {}
        for step in spec.steps:
            row = claimed.steps.get(step.id)
            record = StepRecord.from_row(row) if row is not None else StepRecord(step.id, step.worker)
            if record.status == "running":  # interrupted by a crash: run it again
                record.status = "pending"
            self.steps[step.id] = record
        self.abort_reason: str | None = None
        self.tasks: set[asyncio.Task[Write]] = set()
        self.unsaved: list[Write] = []  # finished steps not yet committed (see _run_steps)

    # --- control -------------------------------------------------------------------------------------

    def abort(self, reason: str) -> None:
        """Stop the job: ``cancel`` (user asked), ``lost`` (lease taken over) or ``shutdown``."""
        if self.abort_reason is None:
            self.abort_reason = reason
        for task in self.tasks:
            task.cancel()

    async def execute(self) -> None:
        """Run to a terminal state and persist it (unless the lease was lost or the runner is stopping)."""
        try:
            failure = await self._run_steps()
        except LeaseLost:
            self.abort_reason = "lost"
            failure = None
        finally:
            await self._drain()
        if self.abort_reason in ("lost", "shutdown"):
            return
        if self.abort_reason == "cancel":
            await self._finish("canceled", error=None, skipped_title="Canceled")
        elif self.abort_reason == "timeout":
            limit = self.spec.timeout_seconds
            error = {
                "title": "Job timed out",
                "detail": f"the job took longer than {limit:g} s",
                "step_id": None,
            }
            await self._finish("failed", error=error, skipped_title="Job timed out")
        elif failure is not None:
            error = {"title": failure.title, "detail": failure.detail, "step_id": failure.step_id}
            await self._finish("failed", error=error)
        else:
            await self._succeed()

    # --- scheduling ----------------------------------------------------------------------------------

    async def _run_steps(self) -> StepFailed | None:
        """Start steps as their inputs become ready; persist each finished step before its dependents start.

        A finished step's write (``self.unsaved``) is committed together with the ``step.running`` marks
        of the steps it unblocks — one transaction per step on the critical path — and the last ones ride
        along with the job's final write.
        """
        for record in self.steps.values():
            if record.status == "failed" and not record.fallback:  # failed just before a crash
                detail = (record.error or {}).get("detail", "")
                return StepFailed(record.id, (record.error or {}).get("title", "Step failed"), detail)
        done = {sid for sid, record in self.steps.items() if record.usable}
        started = set(done)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._seconds_left()
        plan = self.ctx.plan(self.spec)
        while self.abort_reason is None:
            ready = [step for step, needs in plan if step.id not in started and needs <= done]
            if ready:
                await self._start(ready)
                started.update(step.id for step in ready)
            elif self.unsaved and self.tasks:  # others still run: make the finished results durable now
                await self._durable(self._take_unsaved())
            if not self.tasks:
                return None
            finished, _ = await asyncio.wait(
                self.tasks, timeout=max(0.0, deadline - loop.time()), return_when=asyncio.FIRST_COMPLETED
            )
            if not finished:
                self.abort("timeout")
                break
            for task in finished:
                self.tasks.discard(task)
                if task.cancelled():
                    continue
                if (exc := task.exception()) is not None:
                    if isinstance(exc, StepFailed):
                        self.unsaved.append(exc.write)
                        return exc
                    raise exc
                self.unsaved.append(task.result())
                done.add(task.get_name())
        return None

    async def _start(self, ready: list[StepSpec]) -> None:
        """Mark ``ready`` steps running (with any unsaved results: durably), then launch them."""
        now = utcnow()
        write = self._take_unsaved()
        for step in ready:
            record = self.steps[step.id]
            self._begin_attempt(record, now)
            write.steps.append(record.row())
            write.events.append(
                event("step.running", now, step_id=record.id, status="running", attempt=record.attempts)
            )
        if write.files or any(row["status"] != "running" for row in write.steps):
            await self._durable(write)
        else:
            self.ctx.writer.submit(write)  # only running marks: a crash may lose them harmlessly
        for step in ready:
            self.tasks.add(asyncio.create_task(self._run_step(step), name=step.id))

    def _take_unsaved(self) -> Write:
        merged = Write(self.id)
        for write in self.unsaved:
            merged.steps += write.steps
            merged.events += write.events
            merged.files += write.files
        self.unsaved.clear()
        return merged

    def _seconds_left(self) -> float:
        elapsed = (utcnow() - self.started_at).total_seconds()
        return max(0.0, self.spec.timeout_seconds - elapsed)

    async def _drain(self) -> None:
        for task in self.tasks:
            task.cancel()
        if self.tasks:
            await asyncio.gather(*self.tasks, return_exceptions=True)
        self.tasks.clear()

    def _context(self) -> dict[str, Any]:
        usable = {sid: record.outputs for sid, record in self.steps.items() if record.usable}
        return {"inputs": self.inputs, "steps": usable}

    # --- one step ------------------------------------------------------------------------------------

    async def _run_step(self, step: StepSpec) -> Write:
        """Call the worker (with retries); return the step's final write, or raise StepFailed."""
        record = self.steps[step.id]
        try:
            context = self._context()
            request = RunRequest(
                job_id=self.id,
                step_id=step.id,
                inputs=resolve(step.inputs, context),
                options=resolve(step.options, context),
            )
        except KeyError as exc:
            detail = f"the value for {exc.args[0]} is missing (an earlier step did not return it)"
            return await self._step_failed(step, record, "Missing input", detail, retryable=False)
        settings = self.ctx.settings
        max_attempts = step.max_attempts or settings.default_max_attempts
        timeout = step.timeout_seconds or settings.step_timeout_seconds
        first = True
        while True:
            if not first:  # the first attempt was marked running by _start
                self._mark_running(record)
            first = False
            began = time.perf_counter()
            try:
                response = await self.ctx.client.run(step.worker, request, time_limit=timeout)
            except WorkerCallError as err:
                self.ctx.metrics.observe_step(step.worker, "error", time.perf_counter() - began)
                self.ctx.metrics.worker_error(step.worker, err.retryable)
                if err.retryable and record.attempts < max_attempts:
                    await self._wait_to_retry(record, err)
                    continue
                return await self._step_failed(step, record, err.title, err.detail, retryable=err.retryable)
            self.ctx.metrics.observe_step(step.worker, "ok", time.perf_counter() - began)
            return await self._step_succeeded(step, record, response)

    @staticmethod
    def _begin_attempt(record: StepRecord, now: datetime) -> None:
        record.attempts += 1
        record.status = "running"
        record.started_at = record.started_at or now
        record.error = None

    def _mark_running(self, record: StepRecord) -> None:
        now = utcnow()
        self._begin_attempt(record, now)
        running = event("step.running", now, step_id=record.id, status="running", attempt=record.attempts)
        self.ctx.writer.submit(Write(self.id, steps=[record.row()], events=[running]))

    async def _wait_to_retry(self, record: StepRecord, err: WorkerCallError) -> None:
        settings = self.ctx.settings
        delay = backoff_seconds(
            record.attempts,
            base=settings.retry_base_seconds,
            cap=settings.retry_cap_seconds,
            retry_after=err.retry_after,
        )
        detail = f"{err}; retrying in {delay:.2f} s"
        retrying = event(
            "step.retrying",
            utcnow(),
            step_id=record.id,
            status="running",
            attempt=record.attempts,
            detail=detail,
        )
        self.ctx.writer.submit(Write(self.id, events=[retrying]))
        await asyncio.sleep(delay)

    def _finished(self, record: StepRecord, status: str) -> datetime:
        now = utcnow()
        record.status = status
        record.finished_at = now
        if record.started_at is not None:
            record.duration_ms = round((now - record.started_at) / timedelta(milliseconds=1), 3)
        return now

    async def _step_succeeded(self, step: StepSpec, record: StepRecord, response: RunResponse) -> Write:
        try:
            files = output_files(self.id, step.id, response.outputs, utcnow())
        except ValueError as exc:
            return await self._step_failed(step, record, "Bad worker output", str(exc), retryable=False)
        now = self._finished(record, "succeeded")
        record.outputs = response.outputs
        record.usage = response.usage.model_dump(exclude_none=True)
        record.backend, record.model = response.usage.provider, response.usage.model
        record.placeholder = response.placeholder
        succeeded = event("step.succeeded", now, step_id=step.id, status="succeeded", attempt=record.attempts)
        return Write(self.id, steps=[record.row()], events=[succeeded], files=files)

    async def _step_failed(
        self, step: StepSpec, record: StepRecord, title: str, detail: str, *, retryable: bool
    ) -> Write:
        now = self._finished(record, "failed")
        record.error = {"title": title, "detail": detail, "retryable": retryable}
        note = f"{title}: {detail}"
        if step.on_error is not None:
            try:
                record.outputs = resolve(step.on_error.use, self._context())
                record.fallback = True
                note += "; using the step's on_error outputs instead"
            except KeyError as exc:
                note += f"; its on_error outputs could not be made ({exc.args[0]} is missing)"
        failed = event(
            "step.failed", now, step_id=step.id, status="failed", attempt=record.attempts, detail=note
        )
        write = Write(self.id, steps=[record.row()], events=[failed])
        if not record.fallback:
            raise StepFailed(step.id, title, detail, write)
        return write

    async def _durable(self, write: Write) -> None:
        if not await self.ctx.writer.write(write):
            raise LeaseLost(self.id)

    # --- the end -------------------------------------------------------------------------------------

    async def _succeed(self) -> None:
        try:
            outputs = resolve(self.spec.outputs, self._context())
        except KeyError as exc:
            detail = f"the pipeline output {exc.args[0]} was not produced by any step"
            await self._finish("failed", error={"title": "Missing output", "detail": detail, "step_id": None})
            return
        await self._finish("succeeded", error=None, outputs=outputs)

    async def _finish(
        self,
        status: str,
        *,
        error: dict[str, Any] | None,
        outputs: dict[str, Any] | None = None,
        skipped_title: str | None = None,
    ) -> None:
        now = utcnow()
        final = self._take_unsaved()  # the last finished steps ride along with the job's final row
        steps, events = final.steps, final.events
        for record in self.steps.values():
            if record.status in ("pending", "running"):
                if record.status == "running" and skipped_title:
                    record.error = {
                        "title": skipped_title,
                        "detail": "aborted while running",
                        "retryable": False,
                    }
                record.status = "skipped"
                record.finished_at = now if record.started_at else None
                steps.append(record.row())
                events.append(event("step.skipped", now, step_id=record.id, status="skipped"))
        detail = error["detail"] if error else None
        events.append(
            event(f"job.{status}", now, status=status, step_id=(error or {}).get("step_id"), detail=detail)
        )
        job = {
            "status": status,
            "outputs": outputs or {},
            "error": error,
            "usage": total_usage(list(self.steps.values())),
            "finished_at": now,
            "updated_at": now,
            "lease_owner": None,
            "lease_expires_at": None,
        }
        final.job = job
        if await self.ctx.writer.write(final):
            self.ctx.metrics.jobs_finished.labels(status).inc()
