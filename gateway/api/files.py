"""``/v1/files``: upload one file, download any registered file (uploads and step outputs) with Range."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Header, Request, Response

from gateway.api.deps import EngineDep, SettingsDep
from gateway.api.problems import problems
from gateway.errors import InvalidInputError, NotFoundError
from gateway.files import FileRule, delete_stored, file_response, receive_multipart, resolve_under
from gateway.store.files import add_file, get_file
from gateway.store.models import FilePublic
from gateway.store.render import file_public

router = APIRouter(prefix="/v1/files", tags=["files"])

_UPLOAD_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["file"],
                    "properties": {"file": {"type": "string", "format": "binary"}},
                }
            }
        },
    }
}


@router.post(
    "",
    status_code=201,
    response_model=FilePublic,
    name="uploadFile",
    openapi_extra=_UPLOAD_BODY,
    responses=problems(400, 413, 415, 422),
)
async def upload_file(request: Request, response: Response, engine: EngineDep, settings: SettingsDep) -> Any:
    """Store an image or audio file (multipart field ``file``) to use as a job input by its id."""
    form = await receive_multipart(
        request,
        files_root=settings.files_root,
        max_bytes=settings.max_upload_bytes,
        file_rules={"file": FileRule()},
    )
    stored = form.files.get("file")
    if stored is None:
        raise InvalidInputError(
            "the form has no 'file' part", errors=[{"field": "file", "message": "is required"}]
        )
    try:
        await add_file(
            engine,
            file_id=stored.id,
            path=stored.path,
            content_type=stored.content_type,
            kind=stored.kind,
            size=stored.bytes,
            sha256=stored.sha256,
            original_name=stored.original_name,
        )
    except BaseException:
        delete_stored(settings.files_root, stored)
        raise
    response.headers["Location"] = f"/v1/files/{stored.id}"
    return file_public(stored)


@router.get(
    "/{file_id}",
    name="getFile",
    response_class=Response,
    responses={
        200: {"content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}}},
        206: {"description": "Partial content (Range)"},
        **problems(404, 416),
    },
)
async def get_file_bytes(
    file_id: str, engine: EngineDep, settings: SettingsDep, range: Annotated[str | None, Header()] = None
) -> Response:
    """The file's bytes; honours a single ``Range: bytes=…`` (206, or 416 when unsatisfiable)."""
    row = await get_file(engine, file_id=file_id)
    try:
        path = resolve_under(settings.files_root, row.path)
        return file_response(
            path,
            content_type=row.content_type,
            range_header=range,
            etag=row.sha256,
            download_name=row.original_name,
        )
    except (FileNotFoundError, ValueError):
        raise NotFoundError(
            f"file {file_id} is registered but its bytes are gone from the files volume"
        ) from None
