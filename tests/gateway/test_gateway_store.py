"""The schema: migrations are idempotent and match the models, on both databases."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory

from gateway.store import create_engine, migrate
from gateway.store.migrate import alembic_config
from gateway.store.models import SQLModel

pytestmark = pytest.mark.anyio


async def test_migrations_are_idempotent_and_match_the_models(database_url):
    engine = create_engine(database_url)
    try:
        await migrate(engine)
        await migrate(engine)  # a second start must be a no-op
        async with engine.connect() as conn:
            diff = await conn.run_sync(
                lambda sync: compare_metadata(MigrationContext.configure(sync), SQLModel.metadata)
            )
            version = (await conn.exec_driver_sql("SELECT version_num FROM alembic_version")).scalar()
    finally:
        await engine.dispose()
    assert diff == []  # a model change without a migration fails here
    assert version == ScriptDirectory.from_config(alembic_config()).get_current_head()  # the newest revision
