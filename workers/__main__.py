"""``python -m workers <capability>``: serve one worker with uvicorn.

Listens on ``WORKER_HOST`` (default ``127.0.0.1``; use ``0.0.0.0`` in containers) and ``PORT`` (default 8080).
"""

from __future__ import annotations

import argparse
import logging
import os

import uvicorn

from workers.kit.contract import CAPABILITIES


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m workers", description="Serve one Modaline worker.")
    parser.add_argument("capability", choices=CAPABILITIES)
    parser.add_argument("--host", default=os.environ.get("WORKER_HOST", "127.0.0.1"))
    parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8080")))
    args = parser.parse_args(argv)
    os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")  # before huggingface_hub is imported
    logging.basicConfig(
        level=os.environ.get("LOG_LEVEL", "INFO").upper(), format="%(levelname)s %(name)s: %(message)s"
    )
    uvicorn.run(
        f"workers.{args.capability}.app:create_app",
        factory=True,
        host=args.host,
        port=args.port,
        proxy_headers=False,
        access_log=False,
    )


if __name__ == "__main__":
    main()
