"""Fixtures shared by every Python suite. Keep it small: suites own their fixtures."""

import pytest


@pytest.fixture
def anyio_backend() -> str:
    """Async tests run on asyncio (uvicorn, aiohttp and SQLAlchemy's async engines all need it)."""
    return "asyncio"
