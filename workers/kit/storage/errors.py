"""The storage error tree. Every backend raises only these; callers map them at their own edge.

```
StorageError                 retryable      object storage failed in a way a retry may fix (5xx, network)
├── ObjectNotFound           not retryable  no object at this key (also a FileNotFoundError)
├── InvalidKey               not retryable  the key is not a safe relative path (also a ValueError)
├── StorageAuthError         not retryable  the store refused the credentials or the permission
└── StorageConfigError       not retryable  the bucket does not exist, the URL or endpoint is wrong
```

``detail`` is safe to show to an API caller: it names the error code the store answered with, never a
credential, an endpoint or the bucket (those go to the log through ``str()`` of the original exception).
"""

from __future__ import annotations


class StorageError(Exception):
    """Base of every storage failure; ``retryable`` says whether trying again later can help."""

    retryable: bool = True

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class ObjectNotFound(StorageError, FileNotFoundError):
    """No object (or file) at this key."""

    retryable = False

    def __init__(self, key: str) -> None:
        super().__init__(f"no stored file at {key!r}")
        self.key = key


class InvalidKey(StorageError, ValueError):
    """A key that is empty, absolute, has ``..``, a NUL or a backslash, or leaves the root by a symlink."""

    retryable = False


class StorageAuthError(StorageError):
    """The object store refused the credentials (unknown key, wrong secret) or the permission."""

    retryable = False


class StorageConfigError(StorageError):
    """The storage settings cannot work: no such bucket, a malformed ``MODALINE_FILES_URL``."""

    retryable = False
