"""Running one job: its steps in dependency order (independent ones concurrently), retries, fallbacks,
timeouts, cancel — with every finished step durably written before the steps that depend on it start.

A map step runs once per item of its list: each item is its own step row (``draw[3]``) with its own
attempts, retries, fallback and events, at most ``max_parallel`` at once; the map step's own row
aggregates them (``maps.py``). A transform step runs in-process (``gateway/transforms/``)."""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from gateway import transforms
from gateway.files import FileStorage, StorageError
from gateway.metrics import Metrics
from gateway.pipelines import PipelineSpec, StepSpec, resolve
from gateway.runner.client import WorkerCallError, WorkerClient
from gateway.runner.maps import MapRun, item_id, storage_step_id
from gateway.runner.retry import backoff_seconds
from gateway.runner.steps import StepRecord, output_files, total_usage
from gateway.settings import Settings
from gateway.store.job_writer import JobWriter, Write
from gateway.store.models import JobStatus, StepStatus, utcnow
from gateway.store.queue import ClaimedJob
from gateway.store.rows import AbortReason, JobErrorData, event_row, job_error, step_error, terminal_job_row
from workers.kit.contract import RunRequest, RunResponse, Usage

log = logging.getLogger(__name__)

#: A pipeline's steps, each with the ids of the steps it waits for to finish, and of the map steps it waits
#: for to start (a map step reading another map step's items by index starts with it: item by item).
Plan = list[tuple[StepSpec, frozenset[str], frozenset[str]]]


@dataclass(frozen=True, slots=True)
class RunnerContext:
    """What every job of one runner shares."""

    writer: JobWriter
    client: WorkerClient
    settings: Settings
    metrics: Metrics
    storage: FileStorage | None = None  # where transforms read and write files
    plans: dict[str, Plan] = field(default_factory=dict)

    def plan(self, spec: PipelineSpec) -> Plan:
        """Each step with the steps it waits for, computed once per pipeline (the hot loop reuses it)."""
        plan = self.plans.get(spec.name)
        if plan is None:
            deps = spec.dependencies()
            plan = self.plans[spec.name] = [
                (step, deps[step.id] - spec.item_dependencies(step.id), spec.item_dependencies(step.id))
                for step in spec.steps
            ]
        return plan


@dataclass(slots=True)
class StepOutcome:
    """How one step ended: the write recording it, and the job's error when it failed the job."""

    write: Write
    failure: JobErrorData | None = None


@dataclass(frozen=True, slots=True)
class Launch:
    """A step (or one item of a map step, ``index``) about to start."""

    step: StepSpec
    record: StepRecord
    index: int | None = None


class LeaseLost(Exception):
    """Another runner owns this job now; stop without writing anything more."""


class JobRun:
    """One claimed job in this runner: ids, inputs, step records and live step tasks."""

    __slots__ = (
        "abort_reason",
        "ctx",
        "done",
        "id",
        "inputs",
        "maps",
        "spec",
        "started",
        "started_at",
        "steps",
        "tasks",
        "tenant_id",
        "unsaved",
    )

    def __init__(self, claimed: ClaimedJob, spec: PipelineSpec, ctx: RunnerContext) -> None:
        self.id = claimed.id
        self.tenant_id = claimed.tenant_id
        self.spec = spec
        self.ctx = ctx
        self.inputs = claimed.inputs
        self.started_at = claimed.started_at
        self.steps: dict[str, StepRecord] = {}
        for step in spec.steps:
            row = claimed.steps.get(step.id)
            record = StepRecord.from_row(row) if row is not None else StepRecord(step.id, step.kind)
            if record.status == "running":  # interrupted by a crash: run it again
                record.status = "pending"
            self.steps[step.id] = record
        for step_id, row in claimed.steps.items():  # map items made before a crash: resume the unfinished
            if row.parent is not None:
                record = StepRecord.from_row(row)
                if record.status == "running":
                    record.status = "pending"
                self.steps[step_id] = record
        self.maps: dict[str, MapRun] = {}  # started map steps
        self.abort_reason: AbortReason | None = None
        self.tasks: set[asyncio.Task[StepOutcome]] = set()
        self.unsaved: list[Write] = []  # finished steps not yet committed (see _launch_ready)
        self.done = {s.id for s in spec.steps if self.steps[s.id].usable}  # outputs available
        self.started = set(self.done)

    # --- control -------------------------------------------------------------------------------------

    def abort(self, reason: AbortReason) -> None:
        """Stop the job: ``cancel`` (user asked), ``lost`` (lease taken over), ``shutdown`` or ``timeout``."""
        if self.abort_reason is None:
            self.abort_reason = reason
        for task in self.tasks:
            task.cancel()

    def unfinished_steps(self) -> list[StepRecord]:
        """Steps that have not reached a terminal status."""
        return [record for record in self.steps.values() if record.status in ("pending", "running")]

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
            await self._finish("canceled", skipped_title="Canceled")
        elif self.abort_reason == "timeout":
            detail = f"the job took longer than {self.spec.timeout_seconds:g} s"
            await self._finish(
                "failed", error=job_error("Job timed out", detail), skipped_title="Job timed out"
            )
        elif failure is not None:
            await self._finish("failed", error=failure)
        else:
            await self._succeed()

    # --- scheduling ----------------------------------------------------------------------------------

    async def _run_steps(self) -> JobErrorData | None:
        """Launch steps as their inputs become ready and collect them as they finish, until every step is
        done (None), one fails the job (its error), or the job is aborted (``abort_reason`` says why)."""
        if (failure := self._failed_before_a_crash()) is not None:
            return failure
        deadline = asyncio.get_running_loop().time() + self._seconds_left()
        while self.abort_reason is None:
            if (failure := await self._launch_ready()) is not None:
                return failure
            if not self.tasks:
                return None
            finished = await self._next_finished(deadline)
            if not finished:
                self.abort("timeout")
                return None
            if (failure := self._collect(finished)) is not None:
                return failure
        return None

    def _failed_before_a_crash(self) -> JobErrorData | None:
        """A step recorded as failed for good (a runner crashed before it could end the job)."""
        for record in self.steps.values():
            if record.status == "failed" and not record.fallback:
                error = record.error or step_error("Step failed", "")
                return job_error(error["title"], error["detail"], step_id=record.id)
        return None

    async def _launch_ready(self) -> JobErrorData | None:
        """Start every step whose dependencies are done, and map items up to their ``max_parallel``;
        otherwise make finished results durable while other steps still run. The job's error when a map
        step could not start (its list is missing or is no list).

        A finished step's write (``self.unsaved``) is committed together with the ``step.running`` marks
        of the steps it unblocks — one transaction per step on the critical path — and the last ones ride
        along with the job's final write.
        """
        opened = self._write()  # map steps opened (their items' rows) or settled at once
        launches: list[Launch] = []
        while ready := [
            step
            for step, needs, opened_first in self.ctx.plan(self.spec)
            if step.id not in self.started and needs <= self.done and opened_first <= self.started
        ]:
            for step in ready:  # an empty map step settles at once, which may make more steps ready
                self.started.add(step.id)
                if not step.is_map:
                    launches.append(Launch(step, self.steps[step.id]))
                elif (failure := self._open_map(step, opened)) is not None:
                    self.unsaved.append(opened)
                    return failure
        for run in self.maps.values():
            launches += [Launch(run.step, run.items[i], i) for i in run.next_items()]
        if launches or opened.steps:
            await self._start(launches, opened)
        elif self.unsaved and self.tasks:
            await self._durable(self._take_unsaved())
        return None

    async def _next_finished(self, deadline: float) -> set[asyncio.Task[StepOutcome]]:
        """The step tasks that finished next; empty when the job's deadline passed first."""
        timeout = max(0.0, deadline - asyncio.get_running_loop().time())
        finished, _ = await asyncio.wait(self.tasks, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        return finished

    def _collect(self, finished: Iterable[asyncio.Task[StepOutcome]]) -> JobErrorData | None:
        """Record finished steps (their writes join ``unsaved``); the job's error if one failed it.

        A step task that raised is a bug: it propagates, and the runner treats the job as crashed."""
        failure: JobErrorData | None = None
        for task in finished:
            self.tasks.discard(task)
            if task.cancelled():
                continue
            outcome = task.result()
            self.unsaved.append(outcome.write)
            record = self.steps[task.get_name()]
            if record.parent is not None:
                run = self.maps[record.parent]
                assert record.index is not None
                run.running.discard(record.index)
                if outcome.failure is not None:
                    if self.steps[run.parent_id].status != "failed":  # the first failing item fails it
                        self.unsaved.append(self._map_failed(run, record))
                elif run.settled():
                    self.unsaved.append(self._close_map(run))
            elif outcome.failure is None:
                self.done.add(record.id)
            if outcome.failure is not None:
                failure = failure or outcome.failure
        return failure

    async def _start(self, launches: list[Launch], write: Write) -> None:
        """Mark steps running (with any unsaved results and new item rows: durably), then launch them."""
        now = utcnow()
        write.extend(self._take_unsaved())
        for launch in launches:
            record = launch.record
            self._begin_attempt(record, now)
            write.steps.append(record.row())
            write.events.append(
                event_row("step.running", now, step_id=record.id, status="running", attempt=record.attempts)
            )
        finished = write.files or any(row["status"] != "running" for row in write.steps)
        if write.new_steps or (finished and not self._refill_only(launches)):
            await self._durable(write)
        else:
            # Only running marks (a crash may lose them harmlessly), or map items taking the slots of
            # finished ones: they do not read those results, so they need not wait for their commit. The
            # writer commits in order, so nothing recorded later can outlive a result lost in a crash.
            self.ctx.writer.submit(write)
        for launch in launches:
            self.started.add(launch.step.id)
            task = asyncio.create_task(self._run_step(launch), name=launch.record.id)
            self.tasks.add(task)

    def _refill_only(self, launches: list[Launch]) -> bool:
        """True when every launch is a map item that reads no other step's item (a freed slot refilled)."""
        return bool(launches) and all(
            launch.index is not None and not self.maps[launch.step.id].after for launch in launches
        )

    # --- map steps -----------------------------------------------------------------------------------

    def _open_map(self, step: StepSpec, write: Write) -> JobErrorData | None:
        """Resolve a map step's list and make its items (rows only for the ones not made before a crash);
        its own row goes running, or straight to its end when no item is left to run."""
        parent = self.steps[step.id]
        assert step.for_each is not None
        try:
            elements = resolve(step.for_each, self._context())
        except KeyError as exc:
            detail = f"the list {exc.args[0]} is missing (an earlier step did not return it)"
            return self._fail_parent(parent, "Missing input", detail, write)
        if not isinstance(elements, list):
            detail = f"{step.for_each} is {type(elements).__name__}, not a list"
            return self._fail_parent(parent, "Not a list", detail, write)
        limit = self.ctx.settings.map_max_items
        if len(elements) > limit:
            detail = f"{step.for_each} has {len(elements)} items; a map step takes at most {limit}"
            return self._fail_parent(parent, "Too many items", detail, write)
        position = next(i for i, s in enumerate(self.spec.steps) if s.id == step.id)
        items = []
        for index in range(len(elements)):
            record = self.steps.get(item_id(step.id, index))
            if record is None:
                record = StepRecord(item_id(step.id, index), step.kind, parent=step.id, index=index)
                self.steps[record.id] = record
                write.new_steps.append(record.new_row(position))
            items.append(record)
        waiting = deque(i for i, record in enumerate(items) if record.status == "pending")
        after = [  # started in this run or before a crash: their item rows exist either way
            [self.steps[item_id(other, i)] for i in range(len(items))]
            for other in self.spec.item_dependencies(step.id)
        ]
        run = self.maps[step.id] = MapRun(step, elements, items, waiting, after=after)
        now = utcnow()
        parent.status, parent.started_at, parent.error = "running", parent.started_at or now, None
        write.steps.append(parent.row())
        detail = f"{len(items)} item(s), at most {step.parallel} at once"
        write.events.append(event_row("step.running", now, step_id=step.id, status="running", detail=detail))
        if run.settled():
            write.extend(self._close_map(run))
        return None

    def _close_map(self, run: MapRun) -> Write:
        """Every item succeeded (or fell back): the map step succeeds with its outputs as lists."""
        parent = self.steps[run.parent_id]
        now = self._finished(parent, "succeeded")
        parent.outputs = run.aggregate(list(run.step.io()[1]))
        parent.placeholder = any(record.placeholder for record in run.items)
        if run.items:
            parent.backend, parent.model = run.items[0].backend, run.items[0].model
        self.done.add(parent.id)
        succeeded = event_row("step.succeeded", now, step_id=parent.id, status="succeeded")
        return self._write(steps=[parent.row()], events=[succeeded])

    def _map_failed(self, run: MapRun, item: StepRecord) -> Write:
        """An item failed for good (no fallback): the map step fails with it."""
        error = item.error or step_error("Step failed", "")
        detail = f"item {item.index} failed: {error['title']}: {error['detail']}"
        write = self._write()
        self._fail_parent(self.steps[run.parent_id], f"{item.id} failed", detail, write)
        return write

    def _fail_parent(self, parent: StepRecord, title: str, detail: str, write: Write) -> JobErrorData:
        now = self._finished(parent, "failed")
        parent.error = step_error(title, detail)
        write.steps.append(parent.row())
        write.events.append(
            event_row("step.failed", now, step_id=parent.id, status="failed", detail=f"{title}: {detail}")
        )
        return job_error(title, detail, step_id=parent.id)

    def _write(self, **rows: Any) -> Write:
        """A write for this job (its id and tenant filled in)."""
        return Write(self.id, tenant_id=self.tenant_id, **rows)

    def _take_unsaved(self) -> Write:
        merged = self._write()
        for write in self.unsaved:
            merged.extend(write)
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

    def _context(self, launch: Launch | None = None) -> dict[str, Any]:
        """What references resolve against; for a map item, its item and its partners' same-index outputs."""
        usable = {s.id: self.steps[s.id].outputs for s in self.spec.steps if self.steps[s.id].usable}
        context: dict[str, Any] = {"inputs": self.inputs, "steps": usable}
        if launch is not None and launch.index is not None:
            run = self.maps[launch.step.id]
            for partner in self.spec.partners(launch.step.id):  # its item of the same index (zip)
                if (record := self.steps.get(item_id(partner, launch.index))) is not None and record.usable:
                    usable[partner] = record.outputs
                else:
                    usable.pop(partner, None)
            context["item"] = {launch.step.as_: run.elements[launch.index]}
        return context

    # --- one step ------------------------------------------------------------------------------------

    async def _run_step(self, launch: Launch) -> StepOutcome:
        """Call the worker or run the transform (with retries) until the step succeeds or fails for good.

        A worker's "busy" answer (429 for its own concurrency limit) is waited out without using an attempt."""
        step, record = launch.step, launch.record
        try:
            context = self._context(launch)
            request = RunRequest(
                job_id=self.id,
                step_id=storage_step_id(record.id),
                inputs=resolve(step.inputs, context),
                options=resolve(step.options, context),
            )
        except KeyError as exc:
            detail = f"the value for {exc.args[0]} is missing (an earlier step did not return it)"
            return self._step_failed(launch, "Missing input", detail, retryable=False)
        settings = self.ctx.settings
        max_attempts = step.max_attempts or settings.default_max_attempts
        timeout = step.timeout_seconds or settings.step_timeout_seconds
        count_attempt, busy = False, 0  # the first attempt was marked running by _start
        while True:
            if count_attempt:
                self._mark_running(record)
            count_attempt = True
            began = time.perf_counter()
            try:
                response = await self._call(step, request, timeout)
            except WorkerCallError as err:
                self.ctx.metrics.observe_step(step.kind, "error", time.perf_counter() - began)
                self.ctx.metrics.worker_error(step.kind, err.retryable)
                if err.busy:
                    busy += 1
                    await self._wait_while_busy(record, err, busy)
                    count_attempt = False
                    continue
                busy = 0
                if err.retryable and record.attempts < max_attempts:
                    await self._wait_to_retry(record, err)
                    continue
                return self._step_failed(launch, err.title, err.detail, retryable=err.retryable)
            self.ctx.metrics.observe_step(step.kind, "ok", time.perf_counter() - began)
            return self._step_succeeded(launch, response)

    async def _call(self, step: StepSpec, request: RunRequest, seconds: float) -> RunResponse:
        """One attempt: the worker's answer, or the transform's outputs in the same shape."""
        if step.transform is None:
            assert step.worker is not None
            return await self.ctx.client.run(step.worker, request, time_limit=seconds)
        transform = transforms.get(step.transform)
        began = time.perf_counter()
        try:
            call = transforms.TransformCall(
                job_id=request.job_id,
                step_id=request.step_id,
                inputs=request.inputs,
                options=transform.prepare_options(request.options),
                storage=self._storage(),
            )
            outputs = await asyncio.wait_for(transform.run(call), seconds)
        except transforms.TransformError as exc:
            raise WorkerCallError(exc.title, exc.detail, False) from None
        except StorageError as exc:
            raise WorkerCallError("File storage error", str(exc), True) from None
        except TimeoutError:
            raise WorkerCallError(
                "Transform timed out", f"{step.kind} took over {seconds:g} s", False
            ) from None
        except Exception as exc:  # a bug in the transform: fail the step, not the runner
            log.exception("transform %s failed in job %s", step.transform, self.id)
            raise WorkerCallError("Transform failed", f"{step.kind}: {exc!r}", False) from None
        usage = Usage(provider="gateway", model=step.kind, seconds=round(time.perf_counter() - began, 6))
        return RunResponse(outputs=outputs, usage=usage)

    def _storage(self) -> FileStorage:
        if self.ctx.storage is None:
            raise StorageError("the runner was started without file storage")
        return self.ctx.storage

    @staticmethod
    def _begin_attempt(record: StepRecord, now: datetime) -> None:
        record.attempts += 1
        record.status = "running"
        record.started_at = record.started_at or now
        record.error = None

    def _mark_running(self, record: StepRecord) -> None:
        now = utcnow()
        self._begin_attempt(record, now)
        running = event_row("step.running", now, step_id=record.id, status="running", attempt=record.attempts)
        self.ctx.writer.submit(self._write(steps=[record.row()], events=[running]))

    async def _wait_while_busy(self, record: StepRecord, err: WorkerCallError, streak: int) -> None:
        """The worker is at its own concurrency limit: wait (its Retry-After at least) and ask again;
        the attempt does not count. Only the first busy answer of a streak is logged as an event."""
        settings = self.ctx.settings
        delay = backoff_seconds(
            min(streak, 8),
            base=min(settings.retry_base_seconds, 0.1),
            cap=settings.retry_cap_seconds,
            retry_after=err.retry_after,
        )
        if streak == 1:
            detail = f"{err}; the worker is busy, waiting {delay:.2f} s without using an attempt"
            waiting = event_row(
                "step.retrying",
                utcnow(),
                step_id=record.id,
                status="running",
                attempt=record.attempts,
                detail=detail,
            )
            self.ctx.writer.submit(self._write(events=[waiting]))
        await asyncio.sleep(delay)

    async def _wait_to_retry(self, record: StepRecord, err: WorkerCallError) -> None:
        settings = self.ctx.settings
        delay = backoff_seconds(
            record.attempts,
            base=settings.retry_base_seconds,
            cap=settings.retry_cap_seconds,
            retry_after=err.retry_after,
        )
        retrying = event_row(
            "step.retrying",
            utcnow(),
            step_id=record.id,
            status="running",
            attempt=record.attempts,
            detail=f"{err}; retrying in {delay:.2f} s",
        )
        self.ctx.writer.submit(self._write(events=[retrying]))
        await asyncio.sleep(delay)

    @staticmethod
    def _finished(record: StepRecord, status: StepStatus) -> datetime:
        now = utcnow()
        record.status = status
        record.finished_at = now
        if record.started_at is not None:
            record.duration_ms = round((now - record.started_at) / timedelta(milliseconds=1), 3)
        return now

    def _step_succeeded(self, launch: Launch, response: RunResponse) -> StepOutcome:
        record = launch.record
        try:
            own = f"jobs/{self.id}/{storage_step_id(record.id)}" if launch.step.transform else None
            files = output_files(
                self.tenant_id, self.id, record.id, response.outputs, utcnow(), only_under=own
            )
        except ValueError as exc:
            return self._step_failed(launch, "Bad worker output", str(exc), retryable=False)
        now = self._finished(record, "succeeded")
        record.outputs = response.outputs
        record.usage = response.usage.model_dump(exclude_none=True)
        record.backend, record.model = response.usage.provider, response.usage.model
        record.placeholder = response.placeholder
        succeeded = event_row(
            "step.succeeded", now, step_id=record.id, status="succeeded", attempt=record.attempts
        )
        return StepOutcome(self._write(steps=[record.row()], events=[succeeded], files=files))

    def _step_failed(self, launch: Launch, title: str, detail: str, *, retryable: bool) -> StepOutcome:
        """The step (or item) failed for good: its on_error outputs stand in when it has them, else the
        job fails."""
        step, record = launch.step, launch.record
        now = self._finished(record, "failed")
        record.error = step_error(title, detail, retryable=retryable)
        note = f"{title}: {detail}"
        if step.on_error is not None:
            try:
                record.outputs = resolve(step.on_error.use, self._context(launch))
                record.fallback = True
                note += "; using the step's on_error outputs instead"
            except KeyError as exc:
                note += f"; its on_error outputs could not be made ({exc.args[0]} is missing)"
        failed = event_row(
            "step.failed", now, step_id=record.id, status="failed", attempt=record.attempts, detail=note
        )
        write = self._write(steps=[record.row()], events=[failed])
        if record.fallback:
            return StepOutcome(write)
        return StepOutcome(write, failure=job_error(title, detail, step_id=record.id))

    async def _durable(self, write: Write) -> None:
        if not await self.ctx.writer.write(write):
            raise LeaseLost(self.id)

    # --- the end -------------------------------------------------------------------------------------

    async def _succeed(self) -> None:
        try:
            outputs = resolve(self.spec.outputs, self._context())
        except KeyError as exc:
            detail = f"the pipeline output {exc.args[0]} was not produced by any step"
            await self._finish("failed", error=job_error("Missing output", detail))
            return
        await self._finish("succeeded", outputs=outputs)

    async def _finish(
        self,
        status: JobStatus,
        *,
        error: JobErrorData | None = None,
        outputs: dict[str, object] | None = None,
        skipped_title: str | None = None,
    ) -> None:
        now = utcnow()
        final = self._take_unsaved()  # the last finished steps ride along with the job's final row
        final.extend(end_of_job(self, status, now=now, error=error, skipped_title=skipped_title))
        final.job = terminal_job_row(
            status, now=now, error=error, outputs=outputs, usage=total_usage(list(self.steps.values()))
        )
        if await self.ctx.writer.write(final):
            self.ctx.metrics.jobs_finished.labels(status).inc()


def end_of_job(
    run: JobRun,
    status: JobStatus,
    *,
    now: datetime,
    error: JobErrorData | None = None,
    skipped_title: str | None = None,
) -> Write:
    """The rows that end a job: its unfinished steps skipped (a running one with ``skipped_title`` as its
    error when given) and the ``job.<status>`` event. The caller adds the job's terminal row."""
    write = Write(run.id, tenant_id=run.tenant_id)
    for record in run.unfinished_steps():
        if record.status == "running" and skipped_title:
            record.error = step_error(skipped_title, "aborted while running")
        record.status = "skipped"
        record.finished_at = now if record.started_at else None
        write.steps.append(record.row())
        write.events.append(event_row("step.skipped", now, step_id=record.id, status="skipped"))
    detail = error["detail"] if error else None
    step_id = error["step_id"] if error else None
    write.events.append(event_row(f"job.{status}", now, status=status, step_id=step_id, detail=detail))
    return write
