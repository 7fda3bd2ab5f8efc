"""``/v1/files``: upload one file, download any registered file (uploads and step outputs) with Range."""

from __future__ import annotations

from typing import Annotated, Any

import anyio.to_thread
from fastapi import APIRouter, Header, Query, Request, Response
from starlette.responses import RedirectResponse

from gateway.api.deps import EngineDep, SettingsDep, StorageDep, require_space
from gateway.api.problems import problems
from gateway.api.security import AUTH_PROBLEMS, FilesWrite, principal_for, sign_file_urls
from gateway.errors import ForbiddenError, InvalidInputError, NotFoundError
from gateway.files import (
    SUPPORTED,
    FileRule,
    FileStorage,
    InvalidKey,
    ObjectNotFound,
    delete_stored,
    receive_multipart,
    stored_file_response,
)
from gateway.janitor import drain_entries
from gateway.settings import Settings
from gateway.store import lifecycle
from gateway.store.files import add_file, get_file
from gateway.store.models import FilePublic
from gateway.store.render import file_public

router = APIRouter(prefix="/v1/files", tags=["files"])

#: Every media type a stored file can have: uploads are sniffed to one of these, and the workers' image and
#: audio outputs are of these formats too. Downloads are served with the stored type.
MEDIA_TYPES: tuple[str, ...] = tuple(dict.fromkeys(fmt.content_type for fmt in SUPPORTED))

#: The limits of every multipart form the API reads, passed to ``receive_multipart`` and stated in the
#: document: parts per form (``maxProperties``) and UTF-8 bytes per text field (in words: JSON Schema
#: counts characters).
MAX_PARTS = 64
MAX_TEXT_BYTES = 1_000_000
#: The schema of a form field the API does not name: any value sent as one part (a list would be sent as
#: repeated parts, which every form refuses with 422 "Duplicate field").
ONE_PART: dict[str, Any] = {"not": {"type": "array"}}

_UPLOAD_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["file"],
                    "properties": {
                        "file": {
                            "type": "string",
                            "format": "binary",
                            "minLength": 1,
                            "description": "An image or audio file; its format is read from its bytes, "
                            "not from its name or declared type",
                        }
                    },
                    "additionalProperties": {
                        **ONE_PART,
                        "description": f"Any other text field (at most {MAX_TEXT_BYTES} bytes) is ignored",
                    },
                    "maxProperties": MAX_PARTS,
                },
                "encoding": {"file": {"contentType": ", ".join(MEDIA_TYPES)}},
            }
        },
    }
}

_BINARY = {"schema": {"type": "string", "format": "binary"}}
_DOWNLOAD_HEADERS = {
    "ETag": {"description": "The file's SHA-256, quoted", "schema": {"type": "string"}},
    "Accept-Ranges": {"description": "Always `bytes`", "schema": {"type": "string", "enum": ["bytes"]}},
}


@router.post(
    "",
    status_code=201,
    response_model=FilePublic,
    name="uploadFile",
    openapi_extra=_UPLOAD_BODY,
    responses=problems(
        400,
        413,
        415,
        422,
        s400="the body is not well-formed multipart/form-data",
        s413="the file is larger than the gateway's upload limit, or the form has more than 64 parts",
        s415="the file's bytes are not one of the image or audio formats of its `encoding`, "
        "whatever its declared type",
        s422="the file is empty, there is no `file` part, or the declared type names another kind of media",
    )
    | AUTH_PROBLEMS
    | problems(
        507,
        s507="the files root has less free space than MODALINE_MIN_FREE_BYTES: delete jobs or files first",
    ),
)
async def upload_file(
    request: Request,
    response: Response,
    principal: FilesWrite,
    engine: EngineDep,
    settings: SettingsDep,
    storage: StorageDep,
) -> Any:
    """Store an image or audio file (multipart field ``file``) to use as a job input by its id.

    An upload no job uses is deleted after ``MODALINE_UPLOAD_TTL_HOURS`` (a day by default)."""
    require_space(storage, settings)
    form = await receive_multipart(
        request,
        storage=storage,
        max_bytes=settings.max_upload_bytes,
        file_rules={"file": FileRule()},
        max_fields=MAX_PARTS,
        max_field_bytes=MAX_TEXT_BYTES,
    )
    stored = form.files.get("file")
    if stored is None:
        raise InvalidInputError(
            "the form has no 'file' part", errors=[{"field": "file", "message": "is required"}]
        )
    try:
        await add_file(
            engine,
            tenant_id=principal.tenant_id,
            file_id=stored.id,
            path=stored.path,
            content_type=stored.content_type,
            kind=stored.kind,
            size=stored.bytes,
            sha256=stored.sha256,
            original_name=stored.original_name,
        )
    except BaseException:
        await delete_stored(storage, stored)
        raise
    response.headers["Location"] = f"/v1/files/{stored.id}"
    public = file_public(stored)
    return sign_file_urls(public, request.app.state.signer) if settings.auth_mode == "keys" else public


@router.get(
    "/{file_id}",
    name="getFile",
    response_class=Response,
    responses={
        200: {
            "description": "The whole file, served with the media type it was stored with",
            "headers": _DOWNLOAD_HEADERS,
            "content": dict.fromkeys(MEDIA_TYPES, _BINARY),
        },
        206: {
            "description": "One byte range of the file (a single `Range: bytes=…`)",
            "headers": {
                **_DOWNLOAD_HEADERS,
                "Content-Range": {"description": "`bytes first-last/size`", "schema": {"type": "string"}},
            },
            "content": dict.fromkeys(MEDIA_TYPES, _BINARY),
        },
        307: {
            "description": "Only with object storage and `MODALINE_FILES_DOWNLOAD=redirect`: the file is at "
            "`Location`, a presigned URL of the bucket valid for a few minutes (made after the access check)",
            "headers": {"Location": {"description": "The presigned URL", "schema": {"type": "string"}}},
        },
        **problems(
            404,
            416,
            422,
            503,
            s404="no file has this id, or its bytes are gone from the file storage",
            s416="the range starts past the end of the file",
            s503="the file storage failed or refused the gateway's credentials",
        ),
        **AUTH_PROBLEMS,
        403: {
            **AUTH_PROBLEMS[403],
            "description": "the key lacks `jobs:read`, or the signed URL was tampered with or has expired",
        },
    },
)
async def get_file_bytes(
    file_id: str,
    request: Request,
    engine: EngineDep,
    settings: SettingsDep,
    storage: StorageDep,
    range: Annotated[str | None, Header()] = None,
    expires: Annotated[int | None, Query(ge=0, le=2**40, description="Of a signed URL")] = None,
    signature: Annotated[
        str | None, Query(max_length=64, pattern="^[A-Za-z0-9_-]*$", description="Of a signed URL")
    ] = None,
) -> Response:
    """The file's bytes; honours a single ``Range: bytes=…`` (206, or 416 when unsatisfiable).

    A signed URL (``expires`` and ``signature``, as job answers give them) needs no key; without one the
    request needs a key of the tenant that owns the file."""
    if expires is not None or signature is not None:
        _check_signature(request, file_id, expires, signature)
        owner = None  # the signature, made after an access check, is the access
    else:
        owner = (await principal_for(request, "jobs:read")).tenant_id
    row = await get_file(engine, tenant_id=owner, file_id=file_id)
    try:
        if settings.files_download == "redirect":
            return await _presigned_redirect(storage, row.path, settings)
        return await stored_file_response(
            storage,
            row.path,
            content_type=row.content_type,
            range_header=range,
            etag=row.sha256,
            download_name=row.original_name,
        )
    except (ObjectNotFound, InvalidKey):
        raise NotFoundError(
            f"file {file_id} is registered but its bytes are gone from the file storage"
        ) from None


async def _presigned_redirect(storage: FileStorage, key: str, settings: Settings) -> Response:
    """307 to a short-lived presigned URL of the object; the caller's access was checked before this."""
    if await storage.astat(key) is None:  # a clear 404 problem here rather than the bucket's XML later
        raise ObjectNotFound(key)
    url = await anyio.to_thread.run_sync(
        lambda: storage.presign_get(key, seconds=settings.files_presign_seconds)
    )
    if url is None:  # a directory has no presigned URLs (the settings refuse that combination)
        raise RuntimeError("MODALINE_FILES_DOWNLOAD=redirect with a storage that cannot presign")
    return RedirectResponse(
        url, status_code=307, headers={"cache-control": "no-store", "referrer-policy": "no-referrer"}
    )


def _check_signature(request: Request, file_id: str, expires: int | None, signature: str | None) -> None:
    if expires is None or signature is None:
        raise ForbiddenError("a signed file URL needs both 'expires' and 'signature'")
    verdict = request.app.state.signer.verify(file_id, expires, signature)
    if verdict == "expired":
        raise ForbiddenError("this file link has expired; fetch the job again for a fresh one")
    if verdict != "ok":
        raise ForbiddenError("this file link's signature does not match")


@router.delete(
    "/{file_id}",
    status_code=204,
    response_class=Response,
    name="deleteFile",
    responses=problems(
        404,
        409,
        422,
        s404="no file with this id (also the answer to a second delete: the file is gone)",
        s409="a job uses the file as an input, or it is a step output: delete the job instead",
    )
    | AUTH_PROBLEMS,
)
async def delete_file(
    file_id: str, principal: FilesWrite, engine: EngineDep, storage: StorageDep
) -> Response:
    """Delete an upload that no job uses (a file used by a job goes with the last job that uses it)."""
    deleted = await lifecycle.delete_upload(engine, tenant_id=principal.tenant_id, file_id=file_id)
    await drain_entries(engine, storage, deleted.outbox)
    return Response(status_code=204)
