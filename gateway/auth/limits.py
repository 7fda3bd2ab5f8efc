"""Per-tenant limits, counted in the database so every replica enforces one limit.

Requests, submits per minute and jobs per day are fixed windows counted by ``store/limits.py``; past a
limit the answer is ``429`` with ``Retry-After`` and the IETF httpapi ``RateLimit-Policy`` / ``RateLimit``
headers. Running jobs are not refused: the runner's claim and the submit hand-off skip a tenant at its
cap (:meth:`Limiter.running_caps`). Tenants' overrides (admin API) are re-read every few seconds.
Limits apply while auth is on; with auth off there are no tenants to tell apart.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import Literal

from sqlalchemy.ext.asyncio import AsyncEngine

from gateway.auth.principal import Principal
from gateway.errors import RateLimitedError
from gateway.settings import Settings
from gateway.store import tenants as store
from gateway.store.limits import CounterWriter, Hit, prune_counters
from gateway.store.queue import NO_CAPS, RunningCaps

log = logging.getLogger(__name__)

Window = Literal["requests_per_minute", "submits_per_minute", "jobs_per_day"]
_SECONDS: dict[Window, int] = {"requests_per_minute": 60, "submits_per_minute": 60, "jobs_per_day": 86_400}
REFRESH_SECONDS = 5.0
_PRUNE_EVERY = 120  # refreshes (~10 minutes)


class Limiter:
    """Counts a tenant's requests against its limits."""

    def __init__(self, engine: AsyncEngine, settings: Settings, *, enabled: bool) -> None:
        self._engine = engine
        self._settings = settings
        self.enabled = enabled
        self._counters = CounterWriter(engine)
        self._overrides: dict[str, dict[str, int | None]] = {}
        self._caps = NO_CAPS
        self._refresh_now = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        if not self.enabled:
            return
        self._counters.start()
        await self._refresh()
        self._task = asyncio.create_task(self._refresh_forever(), name="limits-refresh")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self._counters.stop()

    def forget_overrides(self) -> None:
        """Re-read the tenants' overrides now (after they changed here)."""
        self._refresh_now.set()

    def limit(self, tenant_id: str, name: str) -> int:
        """The tenant's limit (its override, else the setting); 0 means unlimited."""
        override = self._overrides.get(tenant_id, {}).get(name)
        return override if override is not None else int(getattr(self._settings, f"limit_{name}"))

    def running_caps(self) -> RunningCaps:
        """Each tenant's cap on running jobs, for claims and the hand-off (none while auth is off)."""
        return self._caps

    async def check(self, principal: Principal, name: Window) -> None:
        """Count one hit; :class:`RateLimitedError` when it is past the tenant's limit."""
        if not self.enabled:
            return
        limit = self.limit(principal.tenant_id, name)
        if limit <= 0:
            return
        seconds = _SECONDS[name]
        now = time.time()
        window = int(now // seconds * seconds)
        ordinal = await self._counters.hit(Hit(principal.tenant_id, name, window))
        if ordinal <= limit:
            return
        reset = max(1, int(window + seconds - now + 0.999))
        policy = name.replace("_", "-")
        raise RateLimitedError(
            f"the tenant's limit of {limit} {name.replace('_', ' ')} is used up; try again in {reset} s",
            headers={
                "Retry-After": str(reset),
                "RateLimit-Policy": f'"{policy}";q={limit};w={seconds}',
                "RateLimit": f'"{policy}";r=0;t={reset}',
            },
        )

    async def _refresh(self) -> None:
        self._overrides = await store.tenant_limits(self._engine)
        per_tenant = {
            tenant: value
            for tenant, limits in self._overrides.items()
            if (value := limits.get("running_jobs")) is not None
        }
        self._caps = RunningCaps(self._settings.limit_running_jobs, per_tenant)

    async def _refresh_forever(self) -> None:
        rounds = 0
        while True:
            # asyncio.timeout, not wait_for: on 3.11 wait_for can swallow a cancel that lands as the
            # event is set, and this loop would then never stop.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(REFRESH_SECONDS):
                    await self._refresh_now.wait()
            self._refresh_now.clear()
            rounds += 1
            try:
                await self._refresh()
                if rounds % _PRUNE_EVERY == 0:
                    await prune_counters(self._engine, before=int(time.time()) - 2 * 86_400)
            except Exception:
                log.exception("could not re-read the tenants' limits; keeping the last ones")
