"""``python -m gateway serve | migrate | openapi``."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import sys


def _limit_malloc_arenas() -> None:
    """glibc gives each thread (aiosqlite runs one per connection) its own malloc arena, and freed memory
    stays spread over them; two arenas keep the gateway's RSS close to what it really uses."""
    import ctypes
    import ctypes.util

    name = ctypes.util.find_library("c")
    if sys.platform.startswith("linux") and name:
        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL(name).mallopt(-8, 2)  # M_ARENA_MAX


def _raise_open_files_limit() -> None:
    """Each in-flight worker call holds a socket: lift the soft descriptor limit to the hard one."""
    with contextlib.suppress(ImportError, ValueError, OSError):
        import resource

        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        if hard == resource.RLIM_INFINITY or hard > soft:
            resource.setrlimit(
                resource.RLIMIT_NOFILE, (hard if hard != resource.RLIM_INFINITY else 65536, hard)
            )


def _serve() -> None:
    _limit_malloc_arenas()
    _raise_open_files_limit()
    import uvicorn

    from gateway.app import create_app
    from gateway.settings import load_settings
    from workers.kit.telemetry import UVICORN_LOG_CONFIG, configure_tracing, shutdown

    settings = load_settings()
    configure_tracing("modaline-gateway")
    try:
        uvicorn.run(
            create_app(settings),
            host=settings.host,
            port=settings.port,
            log_level="info",
            log_config=UVICORN_LOG_CONFIG,  # uvicorn's records go through our handler (JSON or text)
            access_log=False,
            timeout_graceful_shutdown=10,
        )
    finally:
        shutdown()  # export the spans still buffered


def _migrate() -> None:
    from gateway.app import wait_for_database
    from gateway.settings import load_settings
    from gateway.store import create_engine, migrate

    async def run() -> None:
        engine = create_engine(load_settings().database_url)
        try:
            await wait_for_database(engine)
            await migrate(engine)
        finally:
            await engine.dispose()

    asyncio.run(run())
    print("database is at the newest schema revision")


def _openapi() -> None:
    # The schema does not depend on the environment; build it without touching any database.
    from pathlib import Path

    from gateway.app import create_app
    from gateway.settings import Settings

    app = create_app(Settings(ui_dir=Path("/nonexistent")))
    json.dump(app.openapi(), sys.stdout, indent=2)
    sys.stdout.write("\n")


def main(argv: list[str] | None = None) -> None:
    from gateway import keys_cli

    parser = argparse.ArgumentParser(prog="python -m gateway", description="The Modaline gateway.")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("serve", help="run the API and/or the runner (MODALINE_ROLE)")
    commands.add_parser("migrate", help="bring the database to the newest schema")
    commands.add_parser("openapi", help="print the OpenAPI document")
    keys_cli.add_parser(commands)
    args = parser.parse_args(argv)
    # Logs go to stderr (JSON lines unless MODALINE_LOG_FORMAT=text); `keys create` keeps stdout for the key.
    from workers.kit.telemetry import configure_logging, log_format

    try:
        fmt = log_format()
    except ValueError as exc:
        parser.error(str(exc))
    configure_logging("gateway", fmt)
    # Alembic logs one line per plugin at every start: keep only its migration messages.
    logging.getLogger("alembic.runtime.plugins").setLevel(logging.WARNING)
    if args.command == "keys":
        logging.getLogger("alembic").setLevel(logging.WARNING)
        sys.exit(keys_cli.run(args))
    {"serve": _serve, "migrate": _migrate, "openapi": _openapi}[args.command]()


if __name__ == "__main__":
    main()
