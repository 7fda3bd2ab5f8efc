"""Keys: a file's path relative to the files root (``uploads/<id>``, ``jobs/<job>/<step>/<name>.<ext>``).

The same string names a file under the directory and an object under the bucket's prefix, so a file
reference keeps its shape whatever holds the bytes. :func:`check_key` is the one gate every backend calls.
"""

from __future__ import annotations

import os
from pathlib import PurePosixPath

from workers.kit.storage.errors import InvalidKey


def check_key(relative: str) -> str:
    """``relative`` normalised (``a/./b`` → ``a/b``), or :class:`InvalidKey` when it could leave the root.

    Refused: an empty path, a NUL byte, a backslash, an absolute path, any ``..`` component.
    """
    if not isinstance(relative, str) or not relative or "\x00" in relative or "\\" in relative:
        raise InvalidKey(f"invalid file path {relative!r}")
    pure = PurePosixPath(relative)
    if pure.is_absolute() or os.path.isabs(relative):
        raise InvalidKey(f"file path {relative!r} must be relative to the files root")
    if ".." in pure.parts:
        raise InvalidKey(f"file path {relative!r} must not contain '..'")
    key = str(pure)
    if key in ("", "."):
        raise InvalidKey(f"file path {relative!r} names the files root itself")
    return key


def check_prefix(prefix: str) -> str:
    """A key prefix (``jobs/<id>``) for listing or deleting; the same rules as :func:`check_key`."""
    return check_key(prefix.rstrip("/"))
