"""Upload streaming, type sniffing, ranged downloads and the one storage interface of the gateway.

A library with no routes and no database. File bytes live behind :class:`FileStorage` (a directory, the
default, or S3-compatible object storage: ``MODALINE_FILES_URL``), opened once per process with
:func:`open_storage` (the worker kit's own implementation, so the gateway and the workers agree on every
key). The API layer calls :func:`store_stream` or :func:`receive_multipart` to land uploads as
``uploads/<id>``, :func:`stored_file_response` to serve any stored file, and the storage's ``delete`` /
``delete_prefix`` / ``stat`` / ``exists`` for everything else (janitors, assembled outputs).
Every client mistake is an :class:`UploadError` carrying its HTTP status (400/413/415/422).
"""

from gateway.files.download import ByteRange, RangeNotSatisfiable, parse_range, stored_file_response
from gateway.files.errors import UploadError
from gateway.files.multipart import FileRule, MultipartForm, receive_multipart
from gateway.files.paths import new_file_id, resolve_under, sanitise_name, upload_path
from gateway.files.policy import normalise_type
from gateway.files.sniff import SNIFF_BYTES, SUPPORTED, FileKind, Sniffed, sniff
from gateway.files.spool import StoredFile, delete_stored, store_stream
from workers.kit.storage import (
    FileStorage,
    InvalidKey,
    ObjectNotFound,
    StorageAuthError,
    StorageConfigError,
    StorageError,
    open_storage,
)

__all__ = [
    "SNIFF_BYTES",
    "SUPPORTED",
    "ByteRange",
    "FileKind",
    "FileRule",
    "FileStorage",
    "InvalidKey",
    "MultipartForm",
    "ObjectNotFound",
    "RangeNotSatisfiable",
    "Sniffed",
    "StorageAuthError",
    "StorageConfigError",
    "StorageError",
    "StoredFile",
    "UploadError",
    "delete_stored",
    "new_file_id",
    "normalise_type",
    "open_storage",
    "parse_range",
    "receive_multipart",
    "resolve_under",
    "sanitise_name",
    "sniff",
    "store_stream",
    "stored_file_response",
    "upload_path",
]
