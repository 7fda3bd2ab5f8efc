"""In-memory mirror of one step row, and the pure helpers that turn worker answers into rows and events."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import PurePosixPath
from typing import Any

from gateway.store.models import StepStatus
from gateway.store.render import file_kind, step_fields
from gateway.store.rows import FileRow, NewStepRow, StepErrorData, StepRow
from workers.kit.contract import FileRef


@dataclass(slots=True)
class StepRecord:
    """What the runner knows about one step; ``row()`` is the full steps update for the job writer."""

    id: str
    worker: str
    parent: str | None = None  # a map item's step
    index: int | None = None  # a map item's 0-based index
    status: StepStatus = "pending"
    attempts: int = 0
    started_at: datetime | None = None
    finished_at: datetime | None = None
    duration_ms: float | None = None
    backend: str | None = None
    model: str | None = None
    placeholder: bool = False
    fallback: bool = False
    outputs: dict[str, Any] = field(default_factory=dict)
    error: StepErrorData | None = None
    usage: dict[str, Any] | None = None

    @classmethod
    def from_row(cls, row: Any) -> StepRecord:
        return cls(**step_fields(row))

    @property
    def usable(self) -> bool:
        """Its outputs can feed later steps: it succeeded, or failed with on_error outputs in their place."""
        return self.status == "succeeded" or (self.status == "failed" and self.fallback)

    def new_row(self, position: int) -> NewStepRow:
        """The insert of a map item's row (its state follows in :meth:`row` updates)."""
        assert self.parent is not None and self.index is not None
        return {
            "step_id": self.id,
            "position": position,
            "worker": self.worker,
            "parent": self.parent,
            "item_index": self.index,
            "is_map": False,
            "status": "pending",
            "attempts": 0,
            "placeholder": False,
            "fallback": False,
            "outputs": {},
        }

    def row(self) -> StepRow:
        return {
            "step_id": self.id,
            "status": self.status,
            "attempts": self.attempts,
            "started_at": self.started_at,
            "finished_at": self.finished_at,
            "duration_ms": self.duration_ms,
            "backend": self.backend,
            "model": self.model,
            "placeholder": self.placeholder,
            "fallback": self.fallback,
            "outputs": self.outputs,
            "error": self.error,
            "usage": self.usage,
        }


def safe_relative(path: str) -> bool:
    """True for a path that stays inside the files root (relative, no ``..``)."""
    pure = PurePosixPath(path)
    return bool(path) and not pure.is_absolute() and ".." not in pure.parts and "\\" not in path


def output_files(
    tenant_id: str,
    job_id: str,
    step_id: str,
    outputs: dict[str, Any],
    now: datetime,
    *,
    only_under: str | None = None,
) -> list[FileRow]:
    """files rows registering every file reference a worker returned, so each gets a /v1/files id.

    With ``only_under`` (a transform's own key prefix), references elsewhere are files it passed through
    (an earlier step's, registered already) and are left as they are. ValueError when a reference points
    outside the files root.
    """
    rows: list[FileRow] = []
    for name, value in _file_refs(outputs):
        if not safe_relative(str(value["file"])):
            raise ValueError(f"output {name!r} points outside the files root: {value['file']!r}")
        if only_under is not None and not str(value["file"]).startswith(only_under.rstrip("/") + "/"):
            continue
        rows.append(
            {
                "id": uuid.uuid4().hex,
                "tenant_id": tenant_id,
                "path": value["file"],
                "content_type": value["content_type"],
                "kind": file_kind(value["content_type"]),
                "bytes": value["bytes"],
                "sha256": value["sha256"],
                "original_name": None,
                "job_id": job_id,
                "step_id": step_id,
                "created_at": now,
            }
        )
    return rows


def _file_refs(value: Any, name: str = "") -> list[tuple[str, dict[str, Any]]]:
    """Every file reference inside ``value`` (a transform may return lists and records holding files)."""
    if FileRef.looks_like(value):
        return [(name, value)]
    if isinstance(value, dict):
        return [
            found
            for key, item in value.items()
            for found in _file_refs(item, key if not name else f"{name}.{key}")
        ]
    if isinstance(value, list):
        return [found for i, item in enumerate(value) for found in _file_refs(item, f"{name}[{i}]")]
    return []


def total_usage(steps: list[StepRecord]) -> dict[str, Any]:
    """The job's usage: the sum of its steps' seconds, tokens and cost."""
    totals = {"seconds": 0.0, "input_tokens": 0, "output_tokens": 0, "cost_usd": 0.0}
    for step in steps:
        for key in totals:
            value = (step.usage or {}).get(key)
            if value:
                totals[key] += value
    totals["seconds"] = round(totals["seconds"], 6)
    return totals
