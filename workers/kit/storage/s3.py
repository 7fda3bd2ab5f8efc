"""S3-compatible object storage (AWS S3, MinIO, Ceph RGW, R2…) through ``obstore`` (Rust ``object_store``).

Chosen by measurement (``python -m bench storage``; docs/design-changes.md): against the same moto server it
moved 1 MiB files with 2-4x less client CPU per MB than boto3 and its async wrapper, and streams large ones
without holding them. Only its blocking calls are used, from worker threads (the gateway's asyncio face is
the base class's thread hop): its asyncio calls let the process abort at exit about one time in two when a
call finished just before (pyo3's runtime touching a finalising interpreter).

Endpoint, region and credentials are read the AWS SDKs' way from the environment: ``AWS_ENDPOINT_URL`` (or
``AWS_ENDPOINT_URL_S3``), ``AWS_REGION``/``AWS_DEFAULT_REGION``, ``AWS_ACCESS_KEY_ID``/``AWS_SECRET_ACCESS_KEY``/
``AWS_SESSION_TOKEN``, web identity (IRSA: ``AWS_WEB_IDENTITY_TOKEN_FILE`` + ``AWS_ROLE_ARN``), the ECS/EKS
container credentials endpoint, else the instance metadata service. An ``http://`` endpoint (MinIO inside a
cluster) is allowed when it is the one configured.

Every obstore error is translated in :func:`_translated`, the one place that knows its exception family.
"""

from __future__ import annotations

import contextlib
import os
import re
import tempfile
from collections.abc import Iterator, Mapping
from datetime import timedelta
from pathlib import Path
from typing import Any

from workers.kit.storage.base import CHUNK_BYTES, FileStorage, ObjectInfo
from workers.kit.storage.errors import (
    ObjectNotFound,
    StorageAuthError,
    StorageConfigError,
    StorageError,
)
from workers.kit.storage.keys import check_key, check_prefix

#: S3 error codes that mean "these credentials (or this permission) are refused".
_AUTH_CODES = frozenset(
    {
        "AccessDenied",
        "AllAccessDisabled",
        "AuthorizationHeaderMalformed",
        "ExpiredToken",
        "InvalidAccessKeyId",
        "InvalidToken",
        "SignatureDoesNotMatch",
        "TokenRefreshRequired",
    }
)
_CODE = re.compile(r"<Code>([A-Za-z]+)</Code>")
#: A prefix no key of ours starts with: listing it is the cheapest call that proves bucket and credentials.
_CHECK_PREFIX = ".modaline-check"
_DELETE_BATCH = 1000


def _endpoint(env: Mapping[str, str]) -> str | None:
    return env.get("AWS_ENDPOINT_URL_S3") or env.get("AWS_ENDPOINT_URL") or env.get("AWS_ENDPOINT")


class S3Storage(FileStorage):
    """Objects under ``s3://<bucket>/<prefix>/``; a key ``uploads/<id>`` is the object ``<prefix>/uploads/<id>``."""

    kind = "s3"

    def __init__(
        self,
        bucket: str,
        prefix: str = "",
        *,
        env: Mapping[str, str] | None = None,
        max_retries: int = 3,
        timeout_seconds: float = 60.0,
    ) -> None:
        from obstore.store import S3Store

        env = os.environ if env is None else env
        self.bucket = bucket
        self.prefix = prefix.strip("/")
        endpoint = _endpoint(env)
        self._store = S3Store(
            bucket,
            prefix=self.prefix or None,
            client_options={
                "allow_http": bool(endpoint and endpoint.startswith("http://")),
                "connect_timeout": timedelta(seconds=5),
                "timeout": timedelta(seconds=timeout_seconds),
            },
            retry_config={
                "max_retries": max_retries,
                "retry_timeout": timedelta(seconds=timeout_seconds),
                "backoff": {"init_backoff": timedelta(milliseconds=100), "max_backoff": timedelta(seconds=5)},
            },
        )

    @property
    def location(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}" if self.prefix else f"s3://{self.bucket}"

    @property
    def scratch_dir(self) -> Path:
        return Path(tempfile.gettempdir()) / "modaline-files"

    # -- reads ---------------------------------------------------------------------------------------------

    def stat(self, key: str) -> ObjectInfo | None:
        import obstore

        key = check_key(key)
        try:
            with _translated(key):
                meta = obstore.head(self._store, key)
        except ObjectNotFound:
            return None
        except StorageAuthError:
            self.check()  # a HEAD's 403 has no body: a LIST names the reason (InvalidAccessKeyId…)
            raise
        return ObjectInfo(key=key, size=int(meta["size"]))

    def read_chunks(self, key: str, *, start: int = 0, length: int | None = None) -> Iterator[bytes]:
        import obstore

        key = check_key(key)
        options: dict[str, Any] = {}
        if length is not None:
            options["range"] = (start, start + length)
        elif start:
            options["range"] = {"offset": start}
        with _translated(key):
            result = obstore.get(self._store, key, options=options or None)  # type: ignore[arg-type]
        return _stream(result.stream(min_chunk_size=CHUNK_BYTES), key)

    def list_keys(self, prefix: str) -> Iterator[str]:
        import obstore

        prefix = check_prefix(prefix) + "/"
        with _translated(prefix):
            for batch in obstore.list(self._store, prefix=prefix):
                for meta in batch:
                    yield str(meta["path"])

    def list_objects(self, prefix: str) -> Iterator[ObjectInfo]:
        import obstore

        prefix = check_prefix(prefix) + "/"
        with _translated(prefix):
            for batch in obstore.list(self._store, prefix=prefix):
                for meta in batch:
                    yield ObjectInfo(
                        key=str(meta["path"]), size=int(meta["size"]), modified=meta.get("last_modified")
                    )

    # -- writes --------------------------------------------------------------------------------------------

    def put_file(
        self,
        key: str,
        source: Path,
        *,
        content_type: str,
        download_name: str | None = None,
        move: bool = False,
    ) -> None:
        import obstore

        key = check_key(key)
        with _translated(key):
            obstore.put(self._store, key, Path(source), attributes=_attributes(content_type, download_name))
        if move:
            Path(source).unlink(missing_ok=True)

    def put_bytes(self, key: str, data: bytes, *, content_type: str) -> None:
        import obstore

        key = check_key(key)
        with _translated(key):
            obstore.put(self._store, key, data, attributes=_attributes(content_type, None))

    def delete(self, key: str) -> None:
        import obstore

        key = check_key(key)
        with _translated(key):
            obstore.delete(self._store, key)  # S3 answers 204 for a missing key too

    def delete_prefix(self, prefix: str) -> int:
        import obstore

        keys = list(self.list_keys(prefix))
        for first in range(0, len(keys), _DELETE_BATCH):
            with _translated(prefix):
                obstore.delete(self._store, keys[first : first + _DELETE_BATCH])
        return len(keys)

    # -- the rest ------------------------------------------------------------------------------------------

    def check(self) -> None:
        import obstore

        with _translated(_CHECK_PREFIX):
            obstore.list_with_delimiter(self._store, prefix=_CHECK_PREFIX)

    def presign_get(self, key: str, *, seconds: int) -> str:
        import obstore

        key = check_key(key)
        with _translated(key):
            return str(obstore.sign(self._store, "GET", key, timedelta(seconds=seconds)))


def _attributes(content_type: str, download_name: str | None) -> dict[str, str]:
    attributes = {"Content-Type": content_type}
    if download_name:
        from urllib.parse import quote

        ascii_name = "".join(ch if 32 <= ord(ch) < 127 and ch not in '"\\' else "_" for ch in download_name)
        attributes["Content-Disposition"] = (
            f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(download_name, safe='')}"
        )
    return attributes


def _stream(chunks: Any, key: str) -> Iterator[bytes]:
    with _translated(key):
        for chunk in chunks:
            yield bytes(chunk)


@contextlib.contextmanager
def _translated(key: str) -> Iterator[None]:
    """obstore's exceptions (and the built-ins it raises) as :mod:`~workers.kit.storage.errors` errors."""
    from obstore import exceptions as obx

    try:
        yield
    except StorageError:
        raise
    except FileNotFoundError as exc:
        if _code(exc) == "NoSuchBucket":
            raise StorageConfigError("the bucket named in MODALINE_FILES_URL does not exist") from exc
        raise ObjectNotFound(key) from exc
    except (obx.PermissionDeniedError, obx.UnauthenticatedError) as exc:
        raise StorageAuthError(_auth_detail(exc)) from exc
    except obx.BaseError as exc:
        code = _code(exc)
        if code in _AUTH_CODES or " 403 Forbidden" in str(exc):
            raise StorageAuthError(_auth_detail(exc)) from exc
        if code == "NoSuchBucket":
            raise StorageConfigError("the bucket named in MODALINE_FILES_URL does not exist") from exc
        raise StorageError(f"object storage failed: {code or type(exc).__name__}") from exc
    except (OSError, ValueError, RuntimeError) as exc:  # connection refused, timeouts, bad configuration
        raise StorageError(f"object storage unreachable: {type(exc).__name__}") from exc


def _code(exc: BaseException) -> str | None:
    match = _CODE.search(str(exc))
    return match.group(1) if match else None


def _auth_detail(exc: BaseException) -> str:
    code = _code(exc) or "403 Forbidden"
    return (
        f"object storage refused the credentials ({code}): check AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY "
        "(or the pod's role) and the bucket policy"
    )
