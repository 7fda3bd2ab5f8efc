"""When a job expires: the retention policy (settings plus tenants' overrides, re-read every few seconds)
applied to the jobs the API shows (``expires_at``)."""

from __future__ import annotations

import time

from fastapi import Request
from sqlalchemy.ext.asyncio import AsyncEngine

from gateway.settings import Settings
from gateway.store.lifecycle import Retention, tenant_overrides
from gateway.store.models import JobPublic

REFRESH_SECONDS = 5.0


class RetentionView:
    """The retention policy as the API shows it; tenants' overrides cached for :data:`REFRESH_SECONDS`."""

    def __init__(self, engine: AsyncEngine, settings: Settings) -> None:
        self._engine = engine
        self._settings = settings
        self._policy: Retention | None = None
        self._read_at = float("-inf")

    async def policy(self) -> Retention:
        if self._policy is None or time.monotonic() - self._read_at > REFRESH_SECONDS:
            days, ttl = await tenant_overrides(self._engine)
            self._policy = Retention(
                self._settings.retention_days, self._settings.upload_ttl_hours, days, ttl
            )
            self._read_at = time.monotonic()
        return self._policy


async def with_expiry(jobs: list[JobPublic], request: Request, tenant_id: str) -> list[JobPublic]:
    """The jobs with ``expires_at`` set where the policy deletes them (finished jobs only)."""
    view: RetentionView = request.app.state.retention
    policy = await view.policy()
    if policy.days_for(tenant_id) is None:
        return jobs
    return [
        job.model_copy(update={"expires_at": policy.expires_at(tenant_id, job.finished_at)}) for job in jobs
    ]
