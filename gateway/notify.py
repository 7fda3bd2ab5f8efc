"""In-process wake-ups: the runner's writer announces committed job changes; SSE streams and waiting
requests wait on them.

This only shortens waits inside one process. Waiters still poll the database, so changes written by a
runner in another process arrive too, one poll interval later at most.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterable, Iterator


class Notifier:
    """Job id → waiting streams; :meth:`publish` wakes every stream watching those jobs."""

    def __init__(self) -> None:
        self._waiters: dict[str, set[asyncio.Event]] = {}

    def publish(self, job_ids: Iterable[str]) -> None:
        if not self._waiters:
            return
        for job_id in job_ids:
            for waiter in self._waiters.get(job_id, ()):
                waiter.set()

    @contextlib.contextmanager
    def watch(self, job_id: str) -> Iterator[asyncio.Event]:
        """An event set whenever the job changes in this process, for as long as the block runs.

        Register first, then read the job: a change committed between the read and the wait still sets
        the event, so no wake-up is lost. Clear the event before each read.
        """
        waiter = asyncio.Event()
        self._waiters.setdefault(job_id, set()).add(waiter)
        try:
            yield waiter
        finally:
            waiters = self._waiters.get(job_id)
            if waiters is not None:
                waiters.discard(waiter)
                if not waiters:
                    del self._waiters[job_id]

    async def wait(self, job_id: str, within: float) -> None:
        """Return when the job changes in this process, or after ``within`` seconds."""
        with self.watch(job_id) as waiter, contextlib.suppress(TimeoutError):
            await asyncio.wait_for(waiter.wait(), within)
