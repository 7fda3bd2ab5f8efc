"""Alembic environment: always runs on a connection handed over by gateway.store.migrate."""

from __future__ import annotations

from alembic import context

from gateway.store.models import SQLModel

target_metadata = SQLModel.metadata


def run_migrations() -> None:
    """Run on the caller's connection; works for sqlite+aiosqlite and postgresql+psycopg alike."""
    connection = context.config.attributes.get("connection")
    if connection is None:
        raise RuntimeError(
            "run migrations through `python -m gateway migrate`, which supplies the connection"
        )
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
    )
    with context.begin_transaction():
        context.run_migrations()


run_migrations()
