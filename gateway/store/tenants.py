"""Tenants and their API keys: the rows behind ``gateway/auth`` (which hashes secrets; only hashes get here)."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Row, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from gateway.errors import NotFoundError
from gateway.store.db import write_tx
from gateway.store.models import API_KEYS, TENANTS, as_utc, utcnow

#: The limits a tenant can override, by their column in ``tenants``.
LIMIT_NAMES = ("requests_per_minute", "submits_per_minute", "jobs_per_day", "running_jobs")


@dataclass(frozen=True, slots=True)
class KeyRecord:
    """One API key as stored (never its secret)."""

    id: str
    tenant_id: str
    prefix: str
    secret_hash: str
    name: str | None
    scopes: tuple[str, ...]
    operator: bool
    created_at: datetime
    expires_at: datetime | None
    last_used_at: datetime | None
    revoked_at: datetime | None

    @classmethod
    def from_row(cls, row: Row[Any]) -> KeyRecord:
        return cls(
            id=row.id,
            tenant_id=row.tenant_id,
            prefix=row.prefix,
            secret_hash=row.secret_hash,
            name=row.name,
            scopes=tuple(row.scopes or ()),
            operator=bool(row.operator),
            created_at=as_utc(row.created_at) or utcnow(),
            expires_at=as_utc(row.expires_at),
            last_used_at=as_utc(row.last_used_at),
            revoked_at=as_utc(row.revoked_at),
        )


@dataclass(frozen=True, slots=True)
class TenantRecord:
    """A tenant and its limit overrides (None: the settings' default)."""

    id: str
    created_at: datetime
    limits: dict[str, int | None]


def _tenant(row: Row[Any]) -> TenantRecord:
    return TenantRecord(
        id=row.id,
        created_at=as_utc(row.created_at) or utcnow(),
        limits={name: getattr(row, f"limit_{name}") for name in LIMIT_NAMES},
    )


async def ensure_tenant(engine: AsyncEngine, *, tenant_id: str) -> bool:
    """Create the tenant unless it exists; True when it was created now."""
    async with write_tx(engine) as conn:
        exists = (await conn.execute(select(TENANTS.c.id).where(TENANTS.c.id == tenant_id))).first()
        if exists is not None:
            return False
        try:
            async with conn.begin_nested():
                await conn.execute(insert(TENANTS).values(id=tenant_id, created_at=utcnow()))
        except IntegrityError:  # created by another process in between
            return False
    return True


async def get_tenant(engine: AsyncEngine, *, tenant_id: str) -> TenantRecord:
    async with engine.connect() as conn:
        row = (await conn.execute(select(TENANTS).where(TENANTS.c.id == tenant_id))).first()
    if row is None:
        raise NotFoundError(f"no tenant {tenant_id!r}")
    return _tenant(row)


async def list_tenants(engine: AsyncEngine) -> list[TenantRecord]:
    async with engine.connect() as conn:
        rows = (await conn.execute(select(TENANTS).order_by(TENANTS.c.id))).all()
    return [_tenant(row) for row in rows]


async def tenant_limits(engine: AsyncEngine) -> dict[str, dict[str, int | None]]:
    """Every tenant's overrides (for the limiter's cache)."""
    return {tenant.id: tenant.limits for tenant in await list_tenants(engine)}


async def set_tenant_limits(
    engine: AsyncEngine, *, tenant_id: str, limits: dict[str, int | None]
) -> TenantRecord:
    """Replace the given overrides (None: back to the default)."""
    values = {f"limit_{name}": value for name, value in limits.items() if name in LIMIT_NAMES}
    async with write_tx(engine) as conn:
        if values:
            done = await conn.execute(update(TENANTS).where(TENANTS.c.id == tenant_id).values(**values))
            if not done.rowcount:
                raise NotFoundError(f"no tenant {tenant_id!r}")
    return await get_tenant(engine, tenant_id=tenant_id)


async def add_key(
    engine: AsyncEngine,
    *,
    tenant_id: str,
    prefix: str,
    secret_hash: str,
    scopes: Iterable[str],
    operator: bool = False,
    name: str | None = None,
    expires_at: datetime | None = None,
) -> KeyRecord:
    """Store a new key (the tenant must exist)."""
    key_id = uuid.uuid4().hex
    row: dict[str, Any] = {
        "id": key_id,
        "tenant_id": tenant_id,
        "prefix": prefix,
        "secret_hash": secret_hash,
        "name": name,
        "scopes": sorted(set(scopes)),
        "operator": operator,
        "created_at": utcnow(),
        "expires_at": expires_at,
        "last_used_at": None,
        "revoked_at": None,
    }
    async with write_tx(engine) as conn:
        await conn.execute(insert(API_KEYS), row)
    return await get_key(engine, key_id=key_id)


async def add_key_unless_present(engine: AsyncEngine, **key: Any) -> bool:
    """:func:`add_key` unless a key with the same hash exists (the bootstrap key on every start)."""
    if await key_by_hash(engine, secret_hash=key["secret_hash"]) is not None:
        return False
    try:
        await add_key(engine, **key)
    except IntegrityError:  # another replica stored it first
        return False
    return True


async def get_key(engine: AsyncEngine, *, key_id: str, tenant_id: str | None = None) -> KeyRecord:
    """One key; with ``tenant_id`` only if it belongs to that tenant (404 otherwise)."""
    query = select(API_KEYS).where(API_KEYS.c.id == key_id)
    if tenant_id is not None:
        query = query.where(API_KEYS.c.tenant_id == tenant_id)
    async with engine.connect() as conn:
        row = (await conn.execute(query)).first()
    if row is None:
        raise NotFoundError(f"no key with id {key_id!r}")
    return KeyRecord.from_row(row)


async def key_by_hash(engine: AsyncEngine, *, secret_hash: str) -> KeyRecord | None:
    async with engine.connect() as conn:
        row = (await conn.execute(select(API_KEYS).where(API_KEYS.c.secret_hash == secret_hash))).first()
    return KeyRecord.from_row(row) if row is not None else None


async def list_keys(engine: AsyncEngine, *, tenant_id: str | None) -> list[KeyRecord]:
    """Keys, newest first; every tenant's when ``tenant_id`` is None (operators)."""
    query = select(API_KEYS).order_by(API_KEYS.c.created_at.desc(), API_KEYS.c.id)
    if tenant_id is not None:
        query = query.where(API_KEYS.c.tenant_id == tenant_id)
    async with engine.connect() as conn:
        return [KeyRecord.from_row(row) for row in (await conn.execute(query)).all()]


async def revoke_key(engine: AsyncEngine, *, key_id: str, tenant_id: str | None) -> KeyRecord:
    """Revoke a key (idempotent); with ``tenant_id`` only that tenant's (404 otherwise)."""
    stmt = update(API_KEYS).where(API_KEYS.c.id == key_id, API_KEYS.c.revoked_at.is_(None))
    if tenant_id is not None:
        stmt = stmt.where(API_KEYS.c.tenant_id == tenant_id)
    async with write_tx(engine) as conn:
        await conn.execute(stmt.values(revoked_at=utcnow()))
    return await get_key(engine, key_id=key_id, tenant_id=tenant_id)


async def touch_keys(engine: AsyncEngine, *, key_ids: Iterable[str], at: datetime) -> None:
    """Record that these keys were used at ``at``."""
    ids = sorted(set(key_ids))
    if ids:
        async with write_tx(engine) as conn:
            await conn.execute(update(API_KEYS).where(API_KEYS.c.id.in_(ids)).values(last_used_at=at))
