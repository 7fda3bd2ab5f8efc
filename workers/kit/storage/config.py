"""``MODALINE_FILES_URL`` → a :class:`~workers.kit.storage.base.FileStorage`, the same way in every process.

Unset (or empty): the directory ``MODALINE_FILES_ROOT``. ``s3://bucket`` or ``s3://bucket/prefix``: that
bucket, every key under the prefix; endpoint, region and credentials from the AWS variables.
"""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import urlsplit

from workers.kit.storage.base import FileStorage
from workers.kit.storage.errors import StorageConfigError
from workers.kit.storage.keys import check_prefix

#: S3 bucket naming rules (3-63 characters of lowercase letters, digits, dots and hyphens).
_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")


def parse_files_url(url: str) -> tuple[str, str]:
    """``s3://bucket/prefix`` → ``("bucket", "prefix")``; :class:`StorageConfigError` for anything else."""
    parts = urlsplit(url.strip())
    hint = "MODALINE_FILES_URL must be s3://bucket or s3://bucket/prefix (unset: the directory MODALINE_FILES_ROOT)"
    if parts.scheme != "s3":
        raise StorageConfigError(f"{hint}; got scheme {parts.scheme or 'none'!r}")
    if parts.query or parts.fragment or parts.username or parts.password or parts.port:
        raise StorageConfigError(f"{hint}; no user, port, query or fragment")
    bucket = parts.hostname or ""
    if not _BUCKET.match(bucket) or ".." in bucket:
        raise StorageConfigError(f"{hint}; {bucket!r} is not a valid bucket name")
    prefix = parts.path.strip("/")
    if prefix:
        try:
            prefix = check_prefix(prefix)
        except ValueError as exc:
            raise StorageConfigError(f"{hint}; the prefix is not a safe path: {exc}") from None
    return bucket, prefix


def open_storage(files_url: str | None, files_root: Path) -> FileStorage:
    """The storage these settings name (nothing is contacted yet: call ``check()`` for that)."""
    if files_url is None or not files_url.strip():
        from workers.kit.storage.directory import DirectoryStorage

        return DirectoryStorage(files_root)
    from workers.kit.storage.s3 import S3Storage

    bucket, prefix = parse_files_url(files_url)
    return S3Storage(bucket, prefix)
