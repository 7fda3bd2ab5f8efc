"""Gateway transforms: pure, in-process pipeline steps (``transform: split``) that the runner executes itself
instead of calling a worker.

A transform is data in, data out: it declares its inputs, options and outputs with the worker contract's
field types (plus :class:`ListOf` and :class:`Record` for lists and their items), and an async function that
takes a :class:`TransformCall` (resolved inputs, options with their defaults, the gateway's file storage and
where its files go) and returns its outputs. Files it makes are stored under ``jobs/<job>/<step>/<name>.<ext>``
and returned as file references, which the runner registers like a worker's outputs.

One module per transform in this package, each defining ``TRANSFORM = Transform(...)``; they are found by
:func:`registry` (no list to edit). This package imports only the worker contract and the storage interface.
"""

from __future__ import annotations

import hashlib
import importlib
import pkgutil
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from workers.kit.contract import FieldSpec
from workers.kit.storage import FileStorage


@dataclass(frozen=True)
class Record:
    """A JSON object with named fields, e.g. a segment ``{index, text}``."""

    fields: dict[str, Port]
    description: str = ""
    required: bool = True


@dataclass(frozen=True)
class ListOf:
    """A list whose items are one type: a contract field (``image``), a :class:`Record` or another list."""

    item: Port
    description: str = ""
    required: bool = True


#: The type of one input, option or output: a worker-contract field, a list or a record.
Port = FieldSpec | ListOf | Record


def port_type(port: Port) -> str:
    """``text``/``image``/… for a contract field, else ``list`` or ``record``."""
    if isinstance(port, ListOf):
        return "list"
    if isinstance(port, Record):
        return "record"
    return port.type


def describe(port: Port) -> Any:
    """A JSON description of a type: ``"text"``, ``{"list": "image"}``, ``{"record": {"text": "text"}}``."""
    if isinstance(port, ListOf):
        return {"list": describe(port.item)}
    if isinstance(port, Record):
        return {"record": {name: describe(p) for name, p in port.fields.items()}}
    return port.type


class TransformError(Exception):
    """The transform cannot make its outputs from these inputs (the step fails; retrying will not help)."""

    def __init__(self, title: str, detail: str) -> None:
        super().__init__(f"{title}: {detail}")
        self.title = title
        self.detail = detail


@dataclass(frozen=True)
class TransformCall:
    """One run of a transform: its resolved inputs and options, and where its files go."""

    job_id: str
    step_id: str
    inputs: dict[str, Any]
    options: dict[str, Any]
    storage: FileStorage

    def key(self, name: str, ext: str) -> str:
        """The storage key of output ``name``: ``jobs/<job>/<step>/<name>.<ext>``."""
        return f"jobs/{self.job_id}/{self.step_id}/{name}.{ext.lstrip('.')}"

    async def save_bytes(self, name: str, ext: str, data: bytes, *, content_type: str) -> dict[str, Any]:
        """Store ``data`` as output ``name``; its file reference (``{file, content_type, bytes, sha256}``)."""
        key = self.key(name, ext)
        await _in_thread(lambda: self.storage.put_bytes(key, data, content_type=content_type))
        return file_ref(key, content_type, len(data), hashlib.sha256(data).hexdigest())

    async def save_file(self, name: str, ext: str, source: Path, *, content_type: str) -> dict[str, Any]:
        """Store the local file ``source`` (moved) as output ``name``; its file reference."""
        digest, size = hashlib.sha256(), 0
        with source.open("rb") as handle:
            while chunk := handle.read(1 << 20):
                digest.update(chunk)
                size += len(chunk)
        key = self.key(name, ext)
        await self.storage.aput_file(key, source, content_type=content_type, move=True)
        return file_ref(key, content_type, size, digest.hexdigest())

    async def read_bytes(self, ref: dict[str, Any]) -> bytes:
        """The bytes of a file reference given as an input (read whole: for small files)."""
        chunks = await self.storage.aread_chunks(str(ref["file"]))
        return b"".join([chunk async for chunk in chunks])


def file_ref(key: str, content_type: str, size: int, sha256: str) -> dict[str, Any]:
    """A worker-contract file reference."""
    return {"file": key, "content_type": content_type, "bytes": size, "sha256": sha256}


async def _in_thread(work: Callable[[], None]) -> None:
    import anyio.to_thread

    await anyio.to_thread.run_sync(work)


@dataclass(frozen=True)
class Transform:
    """A pure step the gateway runs itself; ``run`` gets a :class:`TransformCall`, returns the outputs."""

    name: str
    description: str
    inputs: dict[str, Port]
    outputs: dict[str, Port]
    run: Callable[[TransformCall], Awaitable[dict[str, Any]]]
    options: dict[str, FieldSpec] = field(default_factory=dict)

    def prepare_options(self, options: dict[str, Any]) -> dict[str, Any]:
        """``options`` (resolved) with defaults filled in; TransformError naming a value that does not fit."""
        out = {k: spec.default for k, spec in self.options.items() if spec.default is not None}
        for key, value in options.items():
            spec = self.options.get(key)
            if spec is None:
                raise TransformError("Invalid option", f"{self.name} has no option {key!r}")
            if (problem := option_problem(spec, value)) is not None:
                raise TransformError("Invalid option", f"{self.name} option {key!r}: {problem}")
            out[key] = value
        return out


def option_problem(spec: FieldSpec, value: Any) -> str | None:
    """Why ``value`` does not fit the option ``spec``, or None."""
    if spec.type == "choice":
        return None if value in (spec.choices or []) else f"{value!r} is not one of {spec.choices}"
    if spec.type in ("integer", "number"):
        numeric = (int,) if spec.type == "integer" else (int, float)
        if isinstance(value, bool) or not isinstance(value, numeric):
            return f"{value!r} is not an {spec.type}"
        if spec.minimum is not None and value < spec.minimum:
            return f"{value} is below {spec.minimum:g}"
        if spec.maximum is not None and value > spec.maximum:
            return f"{value} is above {spec.maximum:g}"
        return None
    if spec.type == "boolean":
        return None if isinstance(value, bool) else f"{value!r} is not true or false"
    return None if isinstance(value, str) else f"{value!r} is not text"


_REGISTRY: dict[str, Transform] = {}


def registry() -> dict[str, Transform]:
    """Every transform by name: each module of this package that defines ``TRANSFORM`` (found once)."""
    if not _REGISTRY:
        for module in pkgutil.iter_modules(__path__):
            found = getattr(importlib.import_module(f"{__name__}.{module.name}"), "TRANSFORM", None)
            if isinstance(found, Transform):
                _REGISTRY[found.name] = found
    return _REGISTRY


def get(name: str) -> Transform:
    """The transform called ``name``; KeyError when there is none."""
    return registry()[name]


__all__ = [
    "ListOf",
    "Port",
    "Record",
    "Transform",
    "TransformCall",
    "TransformError",
    "describe",
    "file_ref",
    "get",
    "option_problem",
    "port_type",
    "registry",
]
