"""Safe paths on the shared files volume: ids, the uploads layout, joins that cannot escape the root."""

from __future__ import annotations

import os
import secrets
import unicodedata
from pathlib import Path, PurePosixPath

UPLOADS_DIR = "uploads"
TMP_DIR = ".tmp"
_MAX_NAME_CHARS = 200


def new_file_id() -> str:
    """A fresh unguessable id (128 random bits, lowercase hex: safe in URLs, paths and shells)."""
    return secrets.token_hex(16)


def upload_path(file_id: str) -> str:
    """Where an upload lives, relative to the files root (docs/conventions.md: ``uploads/<id>``)."""
    return f"{UPLOADS_DIR}/{file_id}"


def resolve_under(files_root: Path, relative: str) -> Path:
    """Join ``relative`` onto ``files_root`` and return the resolved path, refusing any escape.

    Raises ``ValueError`` for an empty path, an absolute path, a NUL byte, a backslash, any ``..``
    component, or a path that leaves the root through a symlink.
    """
    if not relative or "\x00" in relative or "\\" in relative:
        raise ValueError(f"invalid file path {relative!r}")
    pure = PurePosixPath(relative)
    if pure.is_absolute() or os.path.isabs(relative):
        raise ValueError(f"file path {relative!r} must be relative to the files root")
    if ".." in pure.parts:
        raise ValueError(f"file path {relative!r} must not contain '..'")
    root = files_root.resolve()
    target = (root / pure).resolve()
    if not target.is_relative_to(root) or target == root:
        raise ValueError(f"file path {relative!r} escapes the files root")
    return target


def sanitise_name(name: str | None) -> str | None:
    """A client's file name reduced to metadata: base name only, no control characters, bounded length."""
    if name is None:
        return None
    base = name.replace("\\", "/").rsplit("/", 1)[-1]
    cleaned = "".join(ch for ch in unicodedata.normalize("NFC", base) if unicodedata.category(ch)[0] != "C")
    cleaned = cleaned.strip().lstrip(".")
    if len(cleaned) > _MAX_NAME_CHARS:
        _, dot, ext = cleaned.rpartition(".")
        keep = ext if dot and len(ext) <= 16 else ""
        cleaned = cleaned[: _MAX_NAME_CHARS - len(keep) - 1].rstrip() + ("." + keep if keep else "")
    return cleaned or None
