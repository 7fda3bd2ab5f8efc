"""``python -m workers <capability>``: serve one worker with uvicorn.

Listens on ``WORKER_HOST`` (default ``127.0.0.1``; use ``0.0.0.0`` in containers) and ``PORT`` (default 8080).
"""

from __future__ import annotations

import argparse
import os

import uvicorn

from workers.kit.contract import CAPABILITIES
from workers.kit.telemetry import (
    UVICORN_LOG_CONFIG,
    configure_logging,
    configure_tracing,
    log_format,
    shutdown,
)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m workers", description="Serve one Modaline worker.")
    parser.add_argument("capability", choices=CAPABILITIES)
    parser.add_argument("--host", default=os.environ.get("WORKER_HOST", "127.0.0.1"))
    parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8080")))
    args = parser.parse_args(argv)
    os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")  # before huggingface_hub is imported
    try:
        fmt = log_format()
    except ValueError as exc:
        parser.error(str(exc))
    # JSON lines (MODALINE_LOG_FORMAT=text for a terminal), tagged with the worker's name.
    configure_logging(f"worker-{args.capability}", fmt, level=os.environ.get("LOG_LEVEL", "INFO").upper())
    configure_tracing(f"modaline-{args.capability}")
    try:
        uvicorn.run(
            f"workers.{args.capability}.app:create_app",
            factory=True,
            host=args.host,
            port=args.port,
            proxy_headers=False,
            access_log=False,
            log_config=UVICORN_LOG_CONFIG,
        )
    finally:
        shutdown()  # export the spans still buffered


if __name__ == "__main__":
    main()
