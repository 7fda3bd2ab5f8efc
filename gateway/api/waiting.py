"""Waiting for a job to end without holding anything but a timer: ``Prefer: wait`` and the OpenAI routes.

The wait sleeps on a :class:`~gateway.events.hub.JobWatch` of the process's event hub (which hears of every
commit in this process and, on PostgreSQL, of other processes' too) and also wakes every ``poll`` seconds. Each
wake costs one short status read; no database connection and no runner slot is held in between.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable

from sqlalchemy.ext.asyncio import AsyncEngine

from gateway.errors import BadRequestError
from gateway.events import EventHub
from gateway.store.jobs import job_status
from gateway.store.models import is_terminal

#: The longest ``Prefer: wait`` honoured; a larger value counts as this.
MAX_WAIT_SECONDS = 60

_WAIT = re.compile(r'^wait(?:\s*=\s*"?(?P<seconds>[0-9]{1,9})"?)?$', re.IGNORECASE)


def preferred_wait(header: str | None) -> int | None:
    """Seconds asked for by ``Prefer: wait=N`` (RFC 7240 §4.3), capped at :data:`MAX_WAIT_SECONDS`.

    A bare ``wait`` is the cap; preferences other than ``wait`` are ignored (RFC 7240 lets a server ignore
    what it does not support); ``None`` when no wait is asked for. A ``wait`` whose value is not a whole
    number of seconds is a 400: it is the client's mistake, and ignoring it would answer a script that
    wanted the result with a job still queued.
    """
    if not header:
        return None
    for preference in header.split(","):
        token = preference.split(";", 1)[0].strip()
        if not token.lower().startswith("wait"):
            continue
        name = re.split(r"[\s=]", token, maxsplit=1)[0]
        if name.lower() != "wait":
            continue  # another preference whose name merely starts with "wait"
        match = _WAIT.match(token)
        if match is None:
            raise BadRequestError(
                f"Prefer: {token!r} is not wait=N with N a whole number of seconds (at most "
                f"{MAX_WAIT_SECONDS} is honoured)"
            )
        seconds = match.group("seconds")
        return MAX_WAIT_SECONDS if seconds is None else min(int(seconds), MAX_WAIT_SECONDS)
    return None


async def wait_for_end(
    engine: AsyncEngine,
    hub: EventHub,
    *,
    tenant_id: str,
    job_id: str,
    within: float,
    poll: float,
    gone: Callable[[], Awaitable[bool]] | None = None,
) -> bool:
    """Wait until the job has ended (True) or ``within`` seconds passed (False).

    ``gone`` (e.g. ``request.is_disconnected``) is asked on every wake: a caller that hung up stops the
    wait early (False).
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    with hub.watch(tenant_id=tenant_id, job_id=job_id) as changed:
        while True:
            changed.clear()
            if is_terminal(await job_status(engine, tenant_id=tenant_id, job_id=job_id)):
                return True
            left = deadline - loop.time()
            if left <= 0 or (gone is not None and await gone()):
                return False
            await changed.wait(min(poll, left))
