"""Free space on a directory files root: below ``MODALINE_MIN_FREE_BYTES`` new files are refused (507).

Object storage has no "free space"; only a directory is checked. The check is one ``statvfs`` call.
"""

from __future__ import annotations

import shutil

from gateway.files.errors import human_bytes
from workers.kit.storage import FileStorage


def free_bytes(storage: FileStorage) -> int | None:
    """Bytes free where a directory storage keeps its files; None for object storage (or an unreadable root)."""
    if storage.kind != "directory":
        return None
    root = getattr(storage, "root", None)
    if root is None:
        return None
    try:
        return shutil.disk_usage(root).free
    except OSError:
        return None


def low_space(storage: FileStorage, min_free_bytes: int) -> str | None:
    """A sentence naming the condition when free space is below ``min_free_bytes``, else None."""
    if min_free_bytes <= 0:
        return None
    free = free_bytes(storage)
    if free is None or free >= min_free_bytes:
        return None
    return (
        f"only {human_bytes(free)} free on the files root, below MODALINE_MIN_FREE_BYTES "
        f"({human_bytes(min_free_bytes)}): new jobs and uploads are refused; delete jobs or files to free space"
    )
