"""Persistence: tables, migrations and the data functions the API and runner use."""

from gateway.store.db import create_engine
from gateway.store.migrate import migrate

__all__ = ["create_engine", "migrate"]
