"""A streamed step's text, as ``step.delta`` events: pieces coalesced, written through the job writer.

A worker may send one piece per token (~100 a second for a small local model); one event per token would
hammer the event log and the group-commit writer. :class:`DeltaSink` gathers pieces and writes one event
once ``flush_chars`` characters wait or ``flush_seconds`` after the first of them arrived, whichever comes
first. Writes are lazy (:meth:`JobWriter.submit`): they ride along with the next transaction of any job,
so streaming adds events, not commits, on a busy runner. Each event carries the step's attempt, so a
reader can tell a retried step's new text from the old one.
"""

from __future__ import annotations

import asyncio

from gateway.store.job_writer import JobWriter, Write
from gateway.store.models import utcnow
from gateway.store.rows import event_row


class DeltaSink:
    """Receives one attempt's text pieces (``sink(piece)``) and writes them as coalesced ``step.delta``s."""

    __slots__ = (
        "_attempt",
        "_flush_chars",
        "_flush_seconds",
        "_job_id",
        "_pending",
        "_size",
        "_step_id",
        "_tenant_id",
        "_timer",
        "_writer",
        "events",
    )

    def __init__(
        self,
        writer: JobWriter,
        *,
        job_id: str,
        tenant_id: str,
        step_id: str,
        attempt: int,
        flush_chars: int,
        flush_seconds: float,
    ) -> None:
        self._writer = writer
        self._job_id = job_id
        self._tenant_id = tenant_id
        self._step_id = step_id
        self._attempt = attempt
        self._flush_chars = flush_chars
        self._flush_seconds = flush_seconds
        self._pending: list[str] = []
        self._size = 0
        self._timer: asyncio.TimerHandle | None = None
        self.events = 0  # step.delta events written so far

    def __call__(self, piece: str) -> None:
        if not piece:
            return
        self._pending.append(piece)
        self._size += len(piece)
        if self._size >= self._flush_chars:
            self.flush()
        elif self._timer is None:
            self._timer = asyncio.get_running_loop().call_later(self._flush_seconds, self.flush)

    def flush(self) -> None:
        """Write what waits as one event (nothing when nothing waits)."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if not self._pending:
            return
        text = "".join(self._pending)
        self._pending.clear()
        self._size = 0
        delta = event_row(
            "step.delta",
            utcnow(),
            status="running",
            step_id=self._step_id,
            attempt=self._attempt,
            detail=text,
        )
        self._writer.submit(Write(self._job_id, tenant_id=self._tenant_id, events=[delta]))
        self.events += 1

    def discard(self) -> None:
        """Drop what waits (the attempt failed: its text will not be the output)."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._pending.clear()
        self._size = 0
