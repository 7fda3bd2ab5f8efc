"""Where file bytes live, behind one interface: a directory (the default) or S3-compatible object storage.

The gateway (``gateway/files/``) and every worker (``workers/kit/files.py``) reach file bytes only through
:class:`FileStorage`, opened from the same two settings by :func:`open_storage`: ``MODALINE_FILES_URL``
(``s3://bucket/prefix``; unset = the directory) and ``MODALINE_FILES_ROOT``. A file reference
(``{file, content_type, bytes, sha256}``) names a key relative to the root, whatever holds the bytes.

This package imports nothing else of the kit or the gateway (import-linter keeps it so), which is why the
gateway may use it beside the contract models.
"""

from workers.kit.storage.base import CHUNK_BYTES, Fetched, FetchTooLarge, FileStorage, ObjectInfo
from workers.kit.storage.config import open_storage, parse_files_url
from workers.kit.storage.directory import TMP_DIR, DirectoryStorage
from workers.kit.storage.errors import (
    InvalidKey,
    ObjectNotFound,
    StorageAuthError,
    StorageConfigError,
    StorageError,
)
from workers.kit.storage.keys import check_key, check_prefix

__all__ = [
    "CHUNK_BYTES",
    "TMP_DIR",
    "DirectoryStorage",
    "FetchTooLarge",
    "Fetched",
    "FileStorage",
    "InvalidKey",
    "ObjectInfo",
    "ObjectNotFound",
    "StorageAuthError",
    "StorageConfigError",
    "StorageError",
    "check_key",
    "check_prefix",
    "open_storage",
    "parse_files_url",
]
