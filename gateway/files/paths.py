"""Safe paths of stored files: ids, the uploads layout, joins that cannot escape the root."""

from __future__ import annotations

import secrets
import unicodedata
from pathlib import Path

from workers.kit.storage import TMP_DIR, DirectoryStorage

__all__ = ["TMP_DIR", "UPLOADS_DIR", "new_file_id", "resolve_under", "sanitise_name", "upload_path"]

UPLOADS_DIR = "uploads"
_MAX_NAME_CHARS = 200


def new_file_id() -> str:
    """A fresh unguessable id (128 random bits, lowercase hex: safe in URLs, paths and shells)."""
    return secrets.token_hex(16)


def upload_path(file_id: str) -> str:
    """Where an upload lives, relative to the files root (docs/conventions.md: ``uploads/<id>``)."""
    return f"{UPLOADS_DIR}/{file_id}"


def resolve_under(files_root: Path, relative: str) -> Path:
    """Join ``relative`` onto ``files_root`` and return the resolved path, refusing any escape.

    Raises ``ValueError`` (``InvalidKey``) for an empty path, an absolute path, a NUL byte, a backslash, any
    ``..`` component, or a path that leaves the root through a symlink: the directory storage's own rules.
    """
    return DirectoryStorage(files_root).path_of(relative)


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
