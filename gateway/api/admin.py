"""``/v1/me`` and ``/v1/admin/…``: who am I, tenants (operators) and API keys (operators: any tenant's;
a tenant's ``admin`` key: its own tenant's). A key's secret is answered once, when it is created."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, Field, StrictBool, field_validator

from gateway.api.deps import EngineDep, SettingsDep
from gateway.api.problems import problems
from gateway.api.security import Admin, AnyKey
from gateway.auth import Principal, Scope
from gateway.auth.keys import hash_secret, new_secret, visible_prefix
from gateway.errors import ConflictError, ForbiddenError, NotFoundError
from gateway.store import tenants as store
from gateway.store.lifecycle import set_tenant_retention
from gateway.store.models import utcnow
from gateway.store.tenants import KeyRecord, TenantRecord

router = APIRouter(tags=["admin"])

TENANT_ID = r"^[a-z0-9][a-z0-9_-]{0,63}$"
_AUTH_ERRORS = (401, 403, 429)
#: A JSON body FastAPI cannot parse at all (not UTF-8, not JSON) is a 400 before any field is checked.
_BODY_ERRORS = (400, 422)
_NOT_JSON = "the body is not JSON"


def _json_integer(value: object) -> object:
    """A request body's ``integer`` (or null) as JSON Schema reads it: a number without a fraction (``3`` or
    ``3.0``), never ``false`` or ``"3"``, which pydantic's lax mode would coerce, accepting requests the
    document calls invalid. A ``mode="before"`` field validator, so the fields' schemas stay as they are."""
    if value is not None and (isinstance(value, bool) or not isinstance(value, int | float)):
        raise ValueError("must be an integer")
    return value


class Me(BaseModel):
    tenant: str
    key_id: str | None
    scopes: list[str]
    operator: bool
    auth: str = Field(description="keys | off")


class Limits(BaseModel):
    """Per-minute/day limits and the cap on running jobs; null = the gateway's default, 0 = unlimited."""

    requests_per_minute: int | None = Field(default=None, ge=0)
    submits_per_minute: int | None = Field(default=None, ge=0)
    jobs_per_day: int | None = Field(default=None, ge=0)
    running_jobs: int | None = Field(default=None, ge=0)

    _integers = field_validator(
        "requests_per_minute", "submits_per_minute", "jobs_per_day", "running_jobs", mode="before"
    )(_json_integer)


class TenantPublic(BaseModel):
    id: str
    created_at: datetime
    limits: Limits = Field(description="The tenant's overrides")
    effective_limits: Limits = Field(description="What applies: the overrides, else the defaults")


class TenantCreate(BaseModel):
    id: str = Field(pattern=TENANT_ID, description="Lower-case letters, digits, '-' and '_'")
    limits: Limits = Field(default_factory=Limits)


class KeyPublic(BaseModel):
    id: str
    tenant: str
    prefix: str = Field(description="The key's first characters, to tell keys apart")
    name: str | None
    scopes: list[str]
    operator: bool
    created_at: datetime
    expires_at: datetime | None
    last_used_at: datetime | None
    revoked_at: datetime | None


class KeyCreated(KeyPublic):
    secret: str = Field(description="The key itself: shown this once, stored only as a hash")


class KeyCreate(BaseModel):
    scopes: list[Scope] = Field(min_length=1)
    tenant: str | None = Field(default=None, pattern=TENANT_ID, description="Operators only; default: yours")
    name: str | None = Field(default=None, max_length=200)
    expires_in_days: int | None = Field(default=None, ge=1, le=3650)
    operator: StrictBool = Field(default=False, description="Operators only: a key that manages every tenant")

    _integers = field_validator("expires_in_days", mode="before")(_json_integer)


class KeyList(BaseModel):
    items: list[KeyPublic]


class TenantList(BaseModel):
    items: list[TenantPublic]


def _key(record: KeyRecord) -> KeyPublic:
    return KeyPublic(
        id=record.id,
        tenant=record.tenant_id,
        prefix=record.prefix,
        name=record.name,
        scopes=list(record.scopes),
        operator=record.operator,
        created_at=record.created_at,
        expires_at=record.expires_at,
        last_used_at=record.last_used_at,
        revoked_at=record.revoked_at,
    )


def _tenant(record: TenantRecord, request: Request) -> TenantPublic:
    settings = request.app.state.settings
    effective = {
        name: value if value is not None else getattr(settings, f"limit_{name}")
        for name, value in record.limits.items()
    }
    return TenantPublic(
        id=record.id,
        created_at=record.created_at,
        limits=Limits(**record.limits),
        effective_limits=Limits(**effective),
    )


def _operator(principal: Principal) -> None:
    if not principal.operator:
        raise ForbiddenError("only an operator key may do this")


def _scope_tenant(principal: Principal, tenant: str | None) -> str | None:
    """The tenant a request acts on: an operator's choice (None: all), else the caller's own."""
    if principal.operator:
        return tenant
    if tenant is not None and tenant != principal.tenant_id:
        raise NotFoundError(f"no tenant {tenant!r}")
    return principal.tenant_id


@router.get("/v1/me", response_model=Me, name="getMe", responses=problems(*_AUTH_ERRORS))
async def me(principal: AnyKey, settings: SettingsDep) -> Me:
    """The tenant and scopes of the key this request carries."""
    return Me(
        tenant=principal.tenant_id,
        key_id=principal.key_id,
        scopes=sorted(principal.scopes),
        operator=principal.operator,
        auth=settings.auth_mode,
    )


@router.get(
    "/v1/admin/tenants", response_model=TenantList, name="listTenants", responses=problems(*_AUTH_ERRORS)
)
async def list_tenants(principal: Admin, engine: EngineDep, request: Request) -> TenantList:
    """Every tenant (operators), or just the caller's."""
    if principal.operator:
        records = await store.list_tenants(engine)
    else:
        records = [await store.get_tenant(engine, tenant_id=principal.tenant_id)]
    return TenantList(items=[_tenant(record, request) for record in records])


@router.post(
    "/v1/admin/tenants",
    status_code=201,
    response_model=TenantPublic,
    name="createTenant",
    responses=problems(*_AUTH_ERRORS, 409, *_BODY_ERRORS, s400=_NOT_JSON),
)
async def create_tenant(
    body: TenantCreate, principal: Admin, engine: EngineDep, request: Request
) -> TenantPublic:
    """Create a tenant (operators)."""
    _operator(principal)
    if not await store.ensure_tenant(engine, tenant_id=body.id):
        raise ConflictError(f"tenant {body.id!r} already exists")
    record = await store.set_tenant_limits(engine, tenant_id=body.id, limits=body.limits.model_dump())
    request.app.state.limiter.forget_overrides()
    return _tenant(record, request)


@router.put(
    "/v1/admin/tenants/{tenant_id}/limits",
    response_model=TenantPublic,
    name="setTenantLimits",
    responses=problems(*_AUTH_ERRORS, 404, *_BODY_ERRORS, s400=_NOT_JSON),
)
async def set_limits(
    tenant_id: str, body: Limits, principal: Admin, engine: EngineDep, request: Request
) -> TenantPublic:
    """Replace a tenant's limit overrides (operators; null = the default). Other replicas apply them
    within a few seconds."""
    _operator(principal)
    record = await store.set_tenant_limits(engine, tenant_id=tenant_id, limits=body.model_dump())
    request.app.state.limiter.forget_overrides()
    return _tenant(record, request)


class TenantRetention(BaseModel):
    """How long a tenant's data is kept; null = the gateway's setting (MODALINE_RETENTION_DAYS,
    MODALINE_UPLOAD_TTL_HOURS)."""

    retention_days: float | None = Field(
        default=None,
        gt=0,
        le=36_500,
        description="Finished jobs and their files are deleted this long after finishing",
    )
    upload_ttl_hours: float | None = Field(
        default=None, gt=0, le=876_000, description="Uploads no job uses are deleted this long after upload"
    )

    @field_validator("retention_days", "upload_ttl_hours", mode="before")
    @classmethod
    def _json_number(cls, value: object) -> object:
        if value is not None and (isinstance(value, bool) or not isinstance(value, int | float)):
            raise ValueError("must be a number")
        return value


@router.put(
    "/v1/admin/tenants/{tenant_id}/retention",
    response_model=TenantRetention,
    name="setTenantRetention",
    responses=problems(*_AUTH_ERRORS, 404, *_BODY_ERRORS, s400=_NOT_JSON),
)
async def set_retention(
    tenant_id: str, body: TenantRetention, principal: Admin, engine: EngineDep
) -> TenantRetention:
    """Replace a tenant's retention overrides (operators; null = the gateway's setting). The janitor and
    the jobs' ``expires_at`` use them within a few seconds."""
    _operator(principal)
    await set_tenant_retention(
        engine,
        tenant_id=tenant_id,
        retention_days=body.retention_days,
        upload_ttl_hours=body.upload_ttl_hours,
    )
    return body


@router.get(
    "/v1/admin/keys", response_model=KeyList, name="listKeys", responses=problems(*_AUTH_ERRORS, 404, 422)
)
async def list_keys(
    principal: Admin,
    engine: EngineDep,
    tenant: Annotated[str | None, Query(pattern=TENANT_ID)] = None,
) -> KeyList:
    """Keys, newest first: the caller's tenant's (operators: every tenant's, or ``tenant``'s)."""
    records = await store.list_keys(engine, tenant_id=_scope_tenant(principal, tenant))
    return KeyList(items=[_key(record) for record in records])


@router.post(
    "/v1/admin/keys",
    status_code=201,
    response_model=KeyCreated,
    name="createKey",
    responses=problems(*_AUTH_ERRORS, 404, *_BODY_ERRORS, s400=_NOT_JSON),
)
async def create_key(body: KeyCreate, principal: Admin, engine: EngineDep) -> KeyCreated:
    """Create a key; its secret is in this answer only."""
    if body.operator:
        _operator(principal)
    tenant = _scope_tenant(principal, body.tenant) or principal.tenant_id
    if principal.operator:
        await store.ensure_tenant(engine, tenant_id=tenant)
    secret = new_secret()
    expires = utcnow() + timedelta(days=body.expires_in_days) if body.expires_in_days else None
    record = await store.add_key(
        engine,
        tenant_id=tenant,
        prefix=visible_prefix(secret),
        secret_hash=hash_secret(secret),
        scopes=body.scopes,
        operator=body.operator,
        name=body.name,
        expires_at=expires,
    )
    return KeyCreated(**_key(record).model_dump(), secret=secret)


@router.delete(
    "/v1/admin/keys/{key_id}",
    response_model=KeyPublic,
    name="revokeKey",
    responses=problems(*_AUTH_ERRORS, 404, 422),
)
async def revoke_key(key_id: str, principal: Admin, engine: EngineDep, request: Request) -> KeyPublic:
    """Revoke a key (idempotent): at once on this replica, within ``MODALINE_AUTH_CACHE_SECONDS`` on others."""
    record = await store.revoke_key(engine, key_id=key_id, tenant_id=_scope_tenant(principal, None))
    request.app.state.authenticator.forget(key_id)
    return _key(record)
