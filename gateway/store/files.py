"""File records: uploads and registered step outputs, addressed by id, stored under the files root."""

from __future__ import annotations

from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncEngine

from gateway.errors import NotFoundError
from gateway.store.db import write_tx
from gateway.store.models import FILES, utcnow


async def add_file(
    engine: AsyncEngine,
    *,
    tenant_id: str,
    file_id: str,
    path: str,
    content_type: str,
    kind: str,
    size: int,
    sha256: str,
    original_name: str | None = None,
) -> None:
    """Record an upload that is already on disk."""
    async with write_tx(engine) as conn:
        await conn.execute(
            insert(FILES),
            {
                "id": file_id,
                "tenant_id": tenant_id,
                "path": path,
                "content_type": content_type,
                "kind": kind,
                "bytes": size,
                "sha256": sha256,
                "original_name": original_name,
                "created_at": utcnow(),
            },
        )


async def get_file(engine: AsyncEngine, *, tenant_id: str | None, file_id: str) -> Any:
    """The tenant's files row; :class:`NotFoundError` when it has none with that id.

    ``tenant_id=None`` only after a signed URL for this file id was verified (the signature is the access).
    """
    query = select(FILES).where(FILES.c.id == file_id)
    if tenant_id is not None:
        query = query.where(FILES.c.tenant_id == tenant_id)
    async with engine.connect() as conn:
        row = (await conn.execute(query)).first()
    if row is None:
        raise NotFoundError(f"no file with id {file_id!r}")
    return row


async def get_files(engine: AsyncEngine, *, tenant_id: str, file_ids: list[str]) -> dict[str, Any]:
    """The tenant's rows for these ids (unknown ids and other tenants' are simply absent)."""
    if not file_ids:
        return {}
    query = select(FILES).where(FILES.c.id.in_(file_ids), FILES.c.tenant_id == tenant_id)
    async with engine.connect() as conn:
        rows = (await conn.execute(query)).all()
    return {row.id: row for row in rows}
