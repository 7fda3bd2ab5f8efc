"""Following a job's event stream to its end, reopening it with ``Last-Event-ID`` when it drops.

The gateway's ``GET /v1/jobs/{id}/events`` replays every event after the ``Last-Event-ID`` it is sent and
ends after the job's terminal event. A connection that drops (a proxy's idle cut, a gateway restarting
or being replaced) is reopened from the last event seen, so nothing is shown twice or missed. Event types
this CLI does not know (newer gateways add some) pass through untouched for the caller to skip.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from typing import Any

from modaline_cli.client import Client
from modaline_cli.errors import Unreachable

TERMINAL_EVENTS = frozenset({"job.succeeded", "job.failed", "job.canceled"})

#: How long to keep reopening a stream that dropped before giving up (the job itself goes on regardless).
RECONNECT_FOR_SECONDS = 120.0
#: First wait before reopening, doubled after each failure up to the cap (a server's ``retry:`` overrides).
FIRST_RETRY_SECONDS = 0.25
MAX_RETRY_SECONDS = 5.0


def follow_events(
    client: Client,
    job_id: str,
    *,
    after: int = 0,
    on_reconnect: Callable[[int], None] | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> Iterator[dict[str, Any]]:
    """Yield the job's events (EventPublic dicts) after ``after`` until its terminal event.

    The first connection's failure is raised at once (a wrong URL or key, an unknown job). After that, a
    dropped stream is reopened from the last event's ``seq`` for up to ``RECONNECT_FOR_SECONDS``;
    ``on_reconnect(last_seq)`` is told before each attempt.
    """
    last = after
    connected_once = False
    lost_since: float | None = None
    first_delay = delay = FIRST_RETRY_SECONDS
    while True:
        try:
            with client.events(job_id, after=last) as source:
                connected_once = True
                for message in source.iter_sse():
                    if message.retry is not None:
                        first_delay = delay = max(message.retry / 1000, 0.05)
                    event = _parse(message.data)
                    seq = event.get("seq") if event else None
                    if event is None or not isinstance(seq, int) or seq <= last:
                        continue  # not an event (or one already seen): nothing to show
                    last, lost_since, delay = seq, None, first_delay
                    yield event
                    if event.get("type") in TERMINAL_EVENTS:
                        return
        except Unreachable:
            if not connected_once:
                raise
        # The stream ended or dropped before the job's end: reopen it where it stopped.
        now = time.monotonic()
        lost_since = lost_since if lost_since is not None else now
        if now - lost_since > RECONNECT_FOR_SECONDS:
            raise Unreachable(
                f"lost the event stream of job {job_id} from {client.url} and could not reopen it for "
                f"{RECONNECT_FOR_SECONDS:.0f} s; the job goes on: follow it later with "
                f"`modaline jobs watch {job_id}`"
            )
        if on_reconnect is not None:
            on_reconnect(last)
        sleep(delay)
        delay = min(delay * 2, MAX_RETRY_SECONDS)


def _parse(data: str) -> dict[str, Any] | None:
    try:
        value = json.loads(data)
    except json.JSONDecodeError:
        return None
    return value if isinstance(value, dict) else None
