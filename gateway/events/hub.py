"""One event hub per process: reads new events once for every subscriber, fans them out in memory.

The hub reads the global feed (``seq > top`` or a gap, on the primary key; ``horizon.py``) when it is
woken — by this process's writers (:meth:`EventHub.wake`), by ``NOTIFY modaline_events`` from any process
on PostgreSQL (``listen.py``) — and at the latest every ``poll_seconds`` (``MODALINE_SSE_POLL_SECONDS``, the
safety net). Subscribers never query the database; each has a bounded queue, and one that falls
``max_pending`` events behind is closed with the reason ``"behind"`` (it resumes from the log after the
last event it took, as an SSE client does with ``Last-Event-ID``).

Subscribing (:meth:`EventHub.subscribe`): one job of one tenant, every job of one tenant
(``job_id=None``), or every job of every tenant (``tenant_id=None``, for in-process dispatchers such as
webhooks). The hub delivers each subscription every event committed after it subscribed (and possibly
a few committed just before, above :attr:`EventHub.settled`), each job's in ``seq`` order, each event
once; to start from an earlier point, subscribe first, then read the log
(``gateway.store.events.events_after``) and skip what the subscription repeats (same ``seq``).
Event types are not interpreted: whatever the log holds is delivered.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from gateway.events.horizon import Horizon
from gateway.events.listen import Listener, libpq_dsn
from gateway.store.events import StoredEvent, last_seq, read_events, read_feed, stored_event

log = logging.getLogger(__name__)

#: On start the hub looks this far back in ``seq`` for transactions still to commit (see ``horizon.py``).
_START_LOOKBACK = 1_000


class Subscription:
    """Events for one consumer, queued by the hub; ``async for event in subscription`` or
    :meth:`wait` + :meth:`drain`. Closed by :meth:`close`, by the hub's stop (``"shutdown"``), or when it
    falls ``max_pending`` events behind (``"behind"``: the queued events are dropped)."""

    __slots__ = (
        "_hub",
        "_pending",
        "_waiter",
        "closed_reason",
        "job_id",
        "max_pending",
        "on_close",
        "tenant_id",
    )

    def __init__(self, hub: EventHub, *, tenant_id: str | None, job_id: str | None, max_pending: int) -> None:
        self._hub = hub
        self.tenant_id = tenant_id
        self.job_id = job_id
        self.max_pending = max_pending
        self._pending: list[StoredEvent] = []  # a list: an empty deque costs ~600 bytes per idle stream
        self._waiter: asyncio.Future[None] | None = None
        self.closed_reason: str | None = None
        #: Called once when the subscription closes, with the reason (e.g. to cut a stalled stream off).
        self.on_close: Callable[[str], None] | None = None

    @property
    def closed(self) -> bool:
        return self.closed_reason is not None

    def drain(self) -> list[StoredEvent]:
        """Every queued event, oldest first (empty when none)."""
        events, self._pending = self._pending, []
        return events

    async def wait(self, within: float | None = None) -> bool:
        """Return True once events are queued or the subscription closed; False after ``within`` seconds."""
        if self._pending or self.closed_reason is not None:
            return True
        loop = asyncio.get_running_loop()
        waiter = self._waiter = loop.create_future()
        timer = None if within is None else loop.call_later(within, _expire, waiter)
        try:
            await waiter
        finally:
            self._waiter = None
            if timer is not None:
                timer.cancel()
        return bool(self._pending) or self.closed_reason is not None

    def close(self, reason: str = "closed") -> None:
        """Stop receiving; the queued events stay readable (unless it fell behind)."""
        if self.closed_reason is not None:
            return
        self.closed_reason = reason
        self._hub._remove(self)
        self._wake()
        if self.on_close is not None:
            self.on_close(reason)

    def __enter__(self) -> Subscription:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __aiter__(self) -> Subscription:
        return self

    async def __anext__(self) -> StoredEvent:
        while not self._pending:
            if self.closed_reason is not None:
                raise StopAsyncIteration
            await self.wait()
        return self._pending.pop(0)

    def _push(self, event: StoredEvent) -> None:
        if self.closed_reason is not None:
            return
        if len(self._pending) >= self.max_pending:
            self._pending = []
            self.close("behind")
            return
        self._pending.append(event)
        self._wake()

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)


def _expire(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_result(None)


class JobWatch:
    """A wake-up for code that re-reads a job itself (``Prefer: wait``, the OpenAI chat stream): set when
    an event of the job is committed. Built on a :class:`Subscription`; if that falls behind or closes, the
    watch keeps working as a plain timer, so its owner's own poll still finds the change."""

    __slots__ = ("_sub",)

    def __init__(self, sub: Subscription) -> None:
        self._sub = sub

    def clear(self) -> None:
        """Forget what arrived so far (the owner is about to read the job)."""
        self._sub.drain()

    async def wait(self, within: float) -> None:
        """Return when an event of the job arrives, or after ``within`` seconds."""
        if self._sub.closed:
            await asyncio.sleep(within)
            return
        await self._sub.wait(within)


class EventHub:
    """Reads new events once per process and hands them to the subscriptions watching their jobs."""

    def __init__(
        self,
        engine: AsyncEngine,
        *,
        poll_seconds: float,
        max_pending: int = 1_000,
        listen: bool = True,
        batch: int = 1_000,
        gap_min_age: float = 1.0,
    ) -> None:
        self._engine = engine
        self._poll = poll_seconds
        self.max_pending = max_pending
        self._batch = batch
        self._gap_min_age = gap_min_age
        self._listen = listen and engine.dialect.name == "postgresql"
        self._jobs: dict[str, set[Subscription]] = {}
        self._wide: set[Subscription] = set()
        self._per_tenant: dict[str | None, int] = {}
        self._count = 0
        self._wake = asyncio.Event()
        self._horizon = Horizon(0, min_age=gap_min_age)
        self._tasks: list[asyncio.Task[None]] = []
        self.listener: Listener | None = None
        self.reads = 0  # feed reads so far (for tests and the bench)
        self.delivered = 0  # events handed to subscriptions

    # --- lifecycle -----------------------------------------------------------------------------------

    async def start(self) -> None:
        """Find the end of the log (and what may still commit just below it), then follow it."""
        top = await last_seq(self._engine)
        self._horizon = Horizon(max(0, top - _START_LOOKBACK), min_age=self._gap_min_age)
        while await self._read():
            pass
        self._tasks.append(asyncio.create_task(self._run(), name="event-hub"))
        if self._listen:
            self.listener = Listener(libpq_dsn(self._engine.url), on_notify=self.wake, on_connect=self.wake)
            self._tasks.append(asyncio.create_task(self.listener.run(), name="event-hub-listen"))

    async def stop(self) -> None:
        """Stop reading and close every subscription (``"shutdown"``)."""
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()
        for sub in [*self._wide, *(s for subs in self._jobs.values() for s in subs)]:
            sub.close("shutdown")

    def wake(self, _job_ids: Iterable[str] | None = None) -> None:
        """Something was committed: read the feed now (a writer's ``on_commit`` hook; ids are ignored)."""
        self._wake.set()

    # --- subscribers ---------------------------------------------------------------------------------

    def subscribe(
        self, *, tenant_id: str | None, job_id: str | None = None, max_pending: int | None = None
    ) -> Subscription:
        """Events committed from now on of ``job_id`` (None: every job) of ``tenant_id`` (None: every
        tenant; a ``job_id`` needs a tenant). Close it when done (or use it as a context manager)."""
        if job_id is not None and tenant_id is None:
            raise ValueError("a job's subscription needs its tenant")
        sub = Subscription(
            self, tenant_id=tenant_id, job_id=job_id, max_pending=max_pending or self.max_pending
        )
        if job_id is None:
            self._wide.add(sub)
        else:
            self._jobs.setdefault(job_id, set()).add(sub)
        self._count += 1
        self._per_tenant[tenant_id] = self._per_tenant.get(tenant_id, 0) + 1
        return sub

    @contextlib.contextmanager
    def watch(self, *, tenant_id: str, job_id: str) -> Iterator[JobWatch]:
        """A :class:`JobWatch` of the tenant's job for as long as the ``with`` block runs."""
        with self.subscribe(tenant_id=tenant_id, job_id=job_id) as sub:
            yield JobWatch(sub)

    def end_jobs(self, job_ids: Iterable[str], reason: str = "deleted") -> None:
        """Close every subscription of these jobs (they were deleted in this process: nothing more will
        come). A job deleted by another process has ended before (only finished jobs are deleted), so its
        streams have already closed on its terminal event."""
        for job_id in job_ids:
            for sub in list(self._jobs.get(job_id, ())):
                sub.close(reason)

    def subscribers(self, tenant_id: str | None = None) -> int:
        """Open subscriptions: all of them, or one tenant's."""
        return self._count if tenant_id is None else self._per_tenant.get(tenant_id, 0)

    @property
    def settled(self) -> int:
        """Every event with ``seq`` up to this was read (or will never come): a subscriber that replays
        the log after subscribing meets the hub's deliveries only above it."""
        return self._horizon.settled

    @property
    def listening(self) -> bool:
        """True while the PostgreSQL LISTEN connection is up."""
        return self.listener is not None and self.listener.connected

    def _remove(self, sub: Subscription) -> None:
        if sub.job_id is None:
            if sub not in self._wide:
                return
            self._wide.discard(sub)
        else:
            subs = self._jobs.get(sub.job_id)
            if subs is None or sub not in subs:
                return
            subs.discard(sub)
            if not subs:
                del self._jobs[sub.job_id]
        self._count -= 1
        left = self._per_tenant[sub.tenant_id] - 1
        if left:
            self._per_tenant[sub.tenant_id] = left
        else:
            del self._per_tenant[sub.tenant_id]

    # --- reading -------------------------------------------------------------------------------------

    async def _run(self) -> None:
        while True:
            # asyncio.timeout, not wait_for: on 3.11 wait_for swallows a cancel that lands as the event is
            # set (cpython gh-86296), and stop() then waited for this task forever.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self._poll):
                    await self._wake.wait()
            self._wake.clear()
            try:
                while await self._read():
                    pass
            except Exception:
                log.exception("event hub: reading new events failed; retrying")
                await asyncio.sleep(self._poll)

    async def _read(self) -> bool:
        """One read of the feed; True when it was a full batch (more may wait).

        Taking the read into the horizon and handing its events out happen in one step (no await in
        between): a subscriber's :attr:`settled` then bounds exactly what the hub may still hand it."""
        horizon = self._horizon
        wanted = bool(self._count)
        feed = await read_feed(
            self._engine, after=horizon.top, also=horizon.gaps, limit=self._batch, full=wanted
        )
        self.reads += 1
        seqs = [row.seq for row in feed.rows]
        rows: list[Any] = feed.rows
        if not wanted and self._count:
            # Only seq was read while nobody listened; someone subscribed meanwhile: fetch the new rows.
            new = horizon.new_of(seqs)
            rows = await read_events(self._engine, sorted(new)) if new else []
        now = asyncio.get_running_loop().time()
        fresh = horizon.advance(seqs, now=now, xmin=feed.xmin, xmax=feed.xmax)
        if fresh and self._count:
            self._fan_out([row for row in rows if row.seq in fresh])
        return len(seqs) >= self._batch

    def _fan_out(self, rows: list[Any]) -> None:
        wide = self._wide
        for row in rows:
            subs = self._jobs.get(row.job_id)
            if not subs and not wide:
                continue
            event = stored_event(row)
            if subs:
                for sub in list(subs):
                    if sub.tenant_id == event.tenant_id:  # a job id never crosses tenants; belt and braces
                        sub._push(event)
                        self.delivered += 1
            for sub in list(wide):
                if sub.tenant_id is None or sub.tenant_id == event.tenant_id:
                    sub._push(event)
                    self.delivered += 1
