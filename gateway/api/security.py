"""The one authentication dependency: every route that is not public takes a :class:`Principal` through
one of these aliases; no route reads the ``Authorization`` header itself.

It checks the key (``gateway/auth/authenticator.py``), the scope, and the tenant's requests-per-minute
limit. With ``MODALINE_AUTH=off`` every request is the default tenant with every scope.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from gateway.api.problems import problems
from gateway.auth import Authenticator, Limiter, Principal, Scope, UrlSigner
from gateway.errors import ForbiddenError
from gateway.store.models import JobPublic

_bearer = HTTPBearer(
    auto_error=False,
    scheme_name="apiKey",
    description="An API key: `Authorization: Bearer mdl_…` (see docs/auth.md)",
)


def require(scope: Scope | None) -> Callable[..., Awaitable[Principal]]:
    """A dependency yielding the caller's principal, which must hold ``scope`` (None: any valid key)."""

    async def principal(
        request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
    ) -> Principal:
        authenticator: Authenticator = request.app.state.authenticator
        found = await authenticator.principal(credentials.credentials if credentials else None)
        if scope is not None and not found.can(scope):
            raise ForbiddenError(f"this API key does not have the {scope!r} scope")
        limiter: Limiter = request.app.state.limiter
        await limiter.check(found, "requests_per_minute")
        return found

    principal.__name__ = f"principal_{(scope or 'any').replace(':', '_')}"
    return principal


AnyKey = Annotated[Principal, Depends(require(None))]


async def principal_for(request: Request, scope: Scope) -> Principal:
    """The principal of ``request`` (for a route that authenticates only on some paths)."""
    return await require(scope)(request, await _bearer(request))


JobsRead = Annotated[Principal, Depends(require("jobs:read"))]
JobsWrite = Annotated[Principal, Depends(require("jobs:write"))]
FilesWrite = Annotated[Principal, Depends(require("files:write"))]
Admin = Annotated[Principal, Depends(require("admin"))]
MetricsRead = Annotated[Principal, Depends(require("metrics:read"))]


#: The answers every authenticated route may give, for its ``responses=``.
AUTH_PROBLEMS = problems(
    401,
    403,
    429,
    s401="no API key, or one that is unknown, revoked or expired (with `WWW-Authenticate: Bearer`)",
    s403="the API key lacks the scope this route needs",
    s429="the tenant's requests-per-minute limit is used up (`Retry-After`, `RateLimit`)",
)


def sign_file_urls(value: Any, signer: UrlSigner) -> Any:
    """Give every file inside ``value`` (a job's inputs, outputs or step outputs) a signed, expiring URL,
    so ``<img>``/``<audio>`` and shared links work without a header. Only for what the caller may see.
    Returns ``value`` itself when it holds no file."""
    if isinstance(value, dict):
        if isinstance(value.get("url"), str) and value["url"].startswith("/v1/files/") and "id" in value:
            return {**value, "url": signer.url(value["id"])}
        signed = {key: sign_file_urls(item, signer) for key, item in value.items()}
        return value if all(signed[key] is value[key] for key in value) else signed
    if isinstance(value, list):
        items = [sign_file_urls(item, signer) for item in value]
        return value if all(new is old for new, old in zip(items, value, strict=True)) else items
    return value


def signed_job(job: JobPublic, request: Request) -> JobPublic:
    """``job`` with signed file URLs while auth is on (unchanged while it is off, or when it has no file)."""
    if request.app.state.settings.auth_mode != "keys":
        return job
    signer: UrlSigner = request.app.state.signer
    update: dict[str, Any] = {}
    for name in ("inputs", "outputs"):
        value = getattr(job, name)
        if (signed := sign_file_urls(value, signer)) is not value:
            update[name] = signed
    steps = [(step, sign_file_urls(step.outputs, signer)) for step in job.steps]
    if any(outputs is not step.outputs for step, outputs in steps):
        update["steps"] = [step.model_copy(update={"outputs": outputs}) for step, outputs in steps]
    return job.model_copy(update=update) if update else job
