"""The baseline for ``POST /v1/jobs``: a bare FastAPI JSON endpoint, same body, no database.

Served by ``uvicorn bench.bare_app:app`` with the same server settings as the gateway (uvloop, httptools,
one process, no access log).
"""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import FastAPI
from pydantic import BaseModel

app = FastAPI()


class JobIn(BaseModel):
    pipeline: str
    inputs: dict[str, Any] = {}


@app.get("/healthz")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@app.post("/v1/jobs", status_code=202)
async def create(job: JobIn) -> dict[str, Any]:
    return {"id": uuid.uuid4().hex, "pipeline": job.pipeline, "status": "queued", "inputs": job.inputs}
