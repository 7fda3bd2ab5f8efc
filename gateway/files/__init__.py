"""Upload streaming, type sniffing and ranged downloads for the gateway's file routes.

A library with no routes and no database: the API layer calls :func:`store_stream` or
:func:`receive_multipart` to land uploads under ``<files root>/uploads/<id>``, :func:`file_response` to
serve them, and :func:`resolve_under` to turn any stored relative path into a safe absolute one.
Every client mistake is an :class:`UploadError` carrying its HTTP status (400/413/415/422).
"""

from gateway.files.download import ByteRange, RangeNotSatisfiable, file_response, parse_range
from gateway.files.errors import UploadError
from gateway.files.multipart import FileRule, MultipartForm, receive_multipart
from gateway.files.paths import new_file_id, resolve_under, sanitise_name, upload_path
from gateway.files.policy import normalise_type
from gateway.files.sniff import SNIFF_BYTES, SUPPORTED, FileKind, Sniffed, sniff
from gateway.files.spool import StoredFile, delete_stored, store_stream

__all__ = [
    "SNIFF_BYTES",
    "SUPPORTED",
    "ByteRange",
    "FileKind",
    "FileRule",
    "MultipartForm",
    "RangeNotSatisfiable",
    "Sniffed",
    "StoredFile",
    "UploadError",
    "delete_stored",
    "file_response",
    "new_file_id",
    "normalise_type",
    "parse_range",
    "receive_multipart",
    "resolve_under",
    "sanitise_name",
    "sniff",
    "store_stream",
    "upload_path",
]
