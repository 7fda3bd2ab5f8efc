"""The worker's runner: loads the backend once, admits runs up to the concurrency limit, executes them.

The HTTP layer (:mod:`workers.kit.app`) only parses requests and renders answers; everything about running —
readiness, admission (429 beyond ``<CAP>_MAX_CONCURRENCY``), the bounded thread pool, the timeout, usage and
metrics — lives here.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import functools
import logging
import threading
import time
from collections.abc import AsyncGenerator, Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Literal

from opentelemetry import context as otel_context
from opentelemetry.trace import SpanKind

from workers.kit.backend import Backend, Call, Result
from workers.kit.contract import (
    CAPABILITY_IO,
    Capability,
    FileRef,
    RunDelta,
    RunRequest,
    RunResponse,
    Usage,
    WorkerInfo,
)
from workers.kit.errors import Misconfigured, NotReady, Overloaded, RunTimeout, WorkerError
from workers.kit.files import FileStore
from workers.kit.inputs import prepare_inputs, prepare_options
from workers.kit.metrics import WorkerMetrics
from workers.kit.settings import WorkerSettings
from workers.kit.storage import StorageError, open_storage
from workers.kit.telemetry import extract, job_context, mark_failed, set_attributes, span

log = logging.getLogger("modaline.worker")

#: One event of a streamed run: a piece of text, the run's answer, or the error that ended it.
StreamItem = (
    tuple[Literal["delta"], RunDelta]
    | tuple[Literal["result"], RunResponse]
    | tuple[Literal["problem"], WorkerError]
)

#: How often a worker whose files storage refused it asks again (``/readyz`` reports the refusal meanwhile).
STORAGE_RECHECK_SECONDS = 5.0


class WorkerRuntime:
    """One worker process's backend, limits and counters."""

    def __init__(self, capability: Capability, backend: Backend, settings: WorkerSettings) -> None:
        self.capability = capability
        self.backend = backend
        self.settings = settings
        self.store = FileStore(open_storage(settings.files_url, settings.files_root))
        self.metrics = WorkerMetrics(capability, backend.name)
        self.metrics.max_concurrency.set(settings.max_concurrency)
        self._inputs, self._outputs = CAPABILITY_IO[capability]
        self._executor = ThreadPoolExecutor(settings.max_concurrency, thread_name_prefix=f"{capability}-run")
        self._slots = threading.BoundedSemaphore(settings.max_concurrency)
        self._loaded = threading.Event()
        self._load_error: str | None = None
        self._storage_checked = threading.Event()
        self._storage_problem: str | None = None
        self._closed = threading.Event()

    # -- lifecycle -------------------------------------------------------------------------------------------

    def start(self) -> None:
        """Load the backend in a background thread; ``/readyz`` turns 200 when it is done and the files answer."""
        threading.Thread(target=self._watch_storage, name=f"{self.capability}-files", daemon=True).start()
        if self.backend.unavailable_reason() is None:
            threading.Thread(target=self._load, name=f"{self.capability}-load", daemon=True).start()

    def _load(self) -> None:
        started = time.perf_counter()
        try:
            self.backend.load()
        except Exception as exc:
            self._load_error = exc.detail if isinstance(exc, WorkerError) else f"model failed to load: {exc}"
            log.error(
                "%s backend %r failed to load: %s", self.capability, self.backend.name, self._load_error
            )
        else:
            log.info(
                "%s backend %r ready in %.1f s",
                self.capability,
                self.backend.name,
                time.perf_counter() - started,
            )
            self.metrics.ready.set(1)
        finally:
            self._loaded.set()

    def _watch_storage(self) -> None:
        """Check the files until they answer, again every few seconds while they do not.

        ``/readyz`` shows the latest refusal meanwhile (credentials refused, no bucket, root not writable,
        store unreachable), and turns ready once it is fixed (a bucket created, a policy corrected) without
        a restart. Runs are not held back: each fails on its own with the precise storage error.
        """
        storage = self.store.storage
        while True:
            try:
                storage.check()
            except StorageError as exc:
                problem = f"file storage ({storage.kind}): {exc.detail}"
                if problem != self._storage_problem:
                    log.error(
                        "files at %s cannot be used: %s (%s)", storage.location, exc.detail, exc.__cause__
                    )
                self._storage_problem = problem
            else:
                if self._storage_problem is not None or not self._storage_checked.is_set():
                    log.info("files at %s (%s)", storage.location, storage.kind)
                self._storage_problem = None
            self._storage_checked.set()
            if self._storage_problem is None or self._closed.wait(STORAGE_RECHECK_SECONDS):
                return

    def wait_loaded(self, timeout: float | None = None) -> bool:
        """Block until loading finished and the files were checked once (for tests and scripts)."""
        return self._loaded.wait(timeout) and self._storage_checked.wait(timeout)

    def close(self) -> None:
        self._closed.set()
        self._executor.shutdown(wait=False, cancel_futures=True)

    def not_ready_reason(self) -> str | None:
        """Why ``/readyz`` is 503, or None when the worker can serve."""
        if reason := self.backend.unavailable_reason():
            return reason
        if not self._loaded.is_set():
            return f"model loading ({self.backend.name} backend)"
        if self._load_error:
            return self._load_error
        if not self._storage_checked.is_set():
            return "checking the files storage"
        return self._storage_problem

    # -- info ------------------------------------------------------------------------------------------------

    def info(self) -> WorkerInfo:
        return WorkerInfo(
            capability=self.capability,
            backend=self.backend.name,
            model=self.backend.model,
            placeholder=self.backend.placeholder,
            inputs=self._inputs,
            options=self.backend.options(),
            outputs=self._outputs,
        )

    # -- running ---------------------------------------------------------------------------------------------

    async def run(self, request: RunRequest, *, traceparent: str | None = None) -> RunResponse:
        """Run once with the limits applied; raises :class:`WorkerError` on any failure.

        The run's log records carry its job and step ids; with tracing on, its span continues the caller's
        ``traceparent`` (the gateway's worker-call span)."""
        with (
            job_context(request.job_id, request.step_id),
            span(
                "modaline.worker",
                f"run {self.capability}",
                kind=SpanKind.SERVER,
                parent=_parent(traceparent),
                attributes=self._run_attributes(request),
            ) as current,
        ):
            try:
                response = await self._admit_and_run(request)
            except WorkerError as exc:
                self.metrics.failed(exc.slug)
                log.warning("%s run failed: %s (%s)", self.capability, exc.title, exc.slug)
                set_attributes(current, outcome=exc.slug)
                mark_failed(current, exc.slug)
                raise
            except Exception as exc:
                log.exception("%s run %s/%s crashed", self.capability, request.job_id, request.step_id)
                self.metrics.failed("internal")
                set_attributes(current, outcome="internal")
                mark_failed(current, "internal")
                raise WorkerError(
                    f"unexpected {type(exc).__name__} in the {self.backend.name} backend: {exc}"
                ) from exc
            self.metrics.succeeded(response.usage.seconds)
            log.info(
                "%s run succeeded in %.3f s (%s backend)",
                self.capability,
                response.usage.seconds,
                self.backend.name,
            )
            set_attributes(current, outcome="ok", model=response.usage.model)
            return response

    async def _admit_and_run(self, request: RunRequest) -> RunResponse:
        future = self._admit_and_submit(request, None, None)
        try:
            async with asyncio.timeout(self.settings.timeout_seconds):
                return await asyncio.wrap_future(future)
        except TimeoutError as exc:
            raise RunTimeout(f"the run took longer than {self.settings.timeout_seconds:g} s") from exc

    def _admit_and_submit(
        self,
        request: RunRequest,
        on_text: Callable[[str], None] | None,
        stopped: threading.Event | None,
        traceparent: str | None = None,
    ) -> Future[RunResponse]:
        """Take a slot (or raise why not) and start the run on a pool thread."""
        if reason := self.backend.unavailable_reason() or self._load_error:
            raise Misconfigured(reason)
        if not self._loaded.is_set():
            raise NotReady(f"model loading ({self.backend.name} backend)", retry_after=5)
        if not self._slots.acquire(blocking=False):
            raise Overloaded(
                f"{self.settings.max_concurrency} run(s) already in progress; retry shortly", retry_after=1
            )
        self.metrics.in_flight.inc()
        try:
            # The thread runs in a copy of this context: its log records and spans keep the job and the trace.
            target = (
                self._execute if on_text is None else functools.partial(self._execute_streamed, traceparent)
            )
            future = self._executor.submit(contextvars.copy_context().run, target, request, on_text, stopped)
        except BaseException:
            self._release(None)
            raise
        # The slot frees when the thread is done, even when the caller stopped waiting (timeout).
        future.add_done_callback(self._release)
        return future

    # -- streaming -------------------------------------------------------------------------------------------

    @property
    def streams(self) -> bool:
        """True when the backend can send its text output piece by piece (``Accept: text/event-stream``)."""
        return self.backend.streams

    def open_stream(
        self, request: RunRequest, *, traceparent: str | None = None
    ) -> AsyncGenerator[StreamItem, None]:
        """Admit and start a streamed run (raising :class:`WorkerError` when it cannot start), and return its
        events: ``delta`` pieces as the backend makes them, then one ``result`` or ``problem`` (the error).

        Pieces that pile up while the consumer is busy leave as one delta. Closing the iterator early (the
        caller went away) tells the backend to stop generating; the slot frees when its thread ends.
        """
        loop = asyncio.get_running_loop()
        pieces: asyncio.Queue[str | None] = asyncio.Queue()

        def put(item: str | None) -> None:
            with contextlib.suppress(RuntimeError):  # the loop closed: nobody listens any more
                loop.call_soon_threadsafe(pieces.put_nowait, item)

        stopped = threading.Event()
        try:
            future = self._admit_and_submit(request, put, stopped, traceparent)
        except WorkerError as exc:
            self.metrics.failed(exc.slug)
            raise
        future.add_done_callback(lambda _: put(None))
        return self._stream_events(request, future, pieces, stopped)

    async def _stream_events(
        self,
        request: RunRequest,
        future: Future[RunResponse],
        pieces: asyncio.Queue[str | None],
        stopped: threading.Event,
    ) -> AsyncGenerator[StreamItem, None]:
        deadline = asyncio.get_running_loop().time() + self.settings.timeout_seconds
        try:
            finished = False
            while not finished:
                left = deadline - asyncio.get_running_loop().time()
                try:
                    async with asyncio.timeout(max(left, 0.0)):  # not wait_for: it can swallow a cancel
                        item = await pieces.get()
                except TimeoutError:
                    raise RunTimeout(
                        f"the run took longer than {self.settings.timeout_seconds:g} s"
                    ) from None
                batch: list[str] = []
                while item is not None:
                    batch.append(item)
                    if pieces.empty():
                        break
                    item = pieces.get_nowait()
                finished = item is None
                if batch:
                    yield "delta", RunDelta(text="".join(batch))
            response = future.result()
        except WorkerError as exc:
            self.metrics.failed(exc.slug)
            yield "problem", exc
            return
        except Exception as exc:
            log.exception("%s run %s/%s crashed", self.capability, request.job_id, request.step_id)
            self.metrics.failed("internal")
            yield (
                "problem",
                WorkerError(f"unexpected {type(exc).__name__} in the {self.backend.name} backend: {exc}"),
            )
            return
        finally:
            stopped.set()  # a no-op when the run finished; stops the backend when the caller left early
        self.metrics.succeeded(response.usage.seconds)
        yield "result", response

    def _run_attributes(self, request: RunRequest) -> dict[str, str]:
        """A run span's attributes: which worker, backend and model ran which step (no user content)."""
        return {
            "modaline.worker": self.capability,
            "modaline.backend": self.backend.name,
            "modaline.model": self.backend.model,
            "modaline.step": request.step_id,
            "modaline.job_id": request.job_id,
        }

    def _execute_streamed(
        self,
        traceparent: str | None,
        request: RunRequest,
        on_text: Callable[[str], None] | None,
        stopped: threading.Event | None,
    ) -> RunResponse:
        """A streamed run's blocking part in the run's log context and span (the asyncio side only relays
        its pieces, so the span lives with the thread that does the work)."""
        with (
            job_context(request.job_id, request.step_id),
            span(
                "modaline.worker",
                f"run {self.capability}",
                kind=SpanKind.SERVER,
                parent=_parent(traceparent),
                attributes=self._run_attributes(request),
            ) as current,
        ):
            try:
                response = self._execute(request, on_text, stopped)
            except Exception as exc:
                outcome = exc.slug if isinstance(exc, WorkerError) else "internal"
                set_attributes(current, outcome=outcome)
                mark_failed(current, outcome)
                raise
            set_attributes(current, outcome="ok", model=response.usage.model)
            return response

    def _release(self, _future: Future[RunResponse] | None) -> None:
        self.metrics.in_flight.dec()
        self._slots.release()

    def _execute(
        self,
        request: RunRequest,
        on_text: Callable[[str], None] | None = None,
        stopped: threading.Event | None = None,
    ) -> RunResponse:
        """Blocking part of a run, on a pool thread: check inputs, call the backend, check outputs."""
        started = time.perf_counter()
        with self.store.run(request.job_id, request.step_id) as files:
            inputs = prepare_inputs(request.inputs, self._inputs, files=files, settings=self.settings)
            options = prepare_options(request.options, self.backend.options())
            call = Call(inputs=inputs, options=options, outputs=files.outputs, on_text=on_text)
            if stopped is not None:
                call.stopped = stopped
            result = self._call_backend(call)
        outputs = self._check_outputs(result)
        usage = Usage(
            provider=self.backend.provider,
            model=result.model or self.backend.model,
            seconds=round(time.perf_counter() - started, 6),
            input_tokens=result.input_tokens,
            output_tokens=result.output_tokens,
            cost_usd=result.cost_usd,
        )
        return RunResponse(outputs=outputs, usage=usage, placeholder=self.backend.placeholder)

    def _call_backend(self, call: Call) -> Result:
        """The backend's run (one provider request, or one local engine call): timed per backend, its
        errors counted by type, in a span of its own (a client span when the backend is remote)."""
        backend = self.backend
        local = backend.provider == "local"
        started = time.perf_counter()
        with span(
            "modaline.worker",
            f"{backend.provider} {self.capability}",
            kind=SpanKind.INTERNAL if local else SpanKind.CLIENT,
            attributes={
                "modaline.worker": self.capability,
                "modaline.backend": backend.name,
                "modaline.provider": backend.provider,
                "modaline.model": backend.model,
            },
        ) as current:
            try:
                result = backend.run(call)
            except Exception as exc:
                kind = exc.slug if isinstance(exc, WorkerError) else "internal"
                self.metrics.backend_call(time.perf_counter() - started, error=kind)
                set_attributes(current, outcome=kind)
                mark_failed(current, type(exc).__name__)
                raise
            self.metrics.backend_call(time.perf_counter() - started)
            set_attributes(current, outcome="ok", model=result.model or backend.model)
            return result

    def _check_outputs(self, result: Result) -> dict[str, object]:
        """The backend's outputs as JSON, or an internal error if it broke the capability's promise."""
        outputs: dict[str, object] = {}
        for name, spec in self._outputs.items():
            value = result.outputs.get(name)
            if value is None and spec.required:
                raise WorkerError(f"the {self.backend.name} backend returned no {name!r} output")
            outputs[name] = value.model_dump() if isinstance(value, FileRef) else value
        return outputs


def _parent(traceparent: str | None) -> otel_context.Context | None:
    """The caller's span context from its W3C ``traceparent`` header, if it sent one."""
    return extract({"traceparent": traceparent}) if traceparent else None
