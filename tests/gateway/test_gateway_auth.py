"""API keys, tenants and signed file URLs, on both databases: who may do what, and nothing of one tenant
reaching another through any answer."""

from __future__ import annotations

import asyncio
import time
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from gateway_fakes import Behaviour
from gateway_helpers import wait_for_job

from gateway.auth.keys import hash_secret, new_secret, visible_prefix
from gateway.store import create_engine
from gateway.store import tenants as store_tenants
from gateway.store.models import utcnow
from workers.kit.testing import png_bytes

pytestmark = pytest.mark.anyio

ALL = ("jobs:read", "jobs:write", "files:write", "admin")


async def new_key(
    database_url: str, tenant: str, *scopes: str, operator: bool = False, expired: bool = False
) -> str:
    """A key made straight in the store, as ``python -m gateway keys create`` makes it."""
    engine = create_engine(database_url)
    try:
        await store_tenants.ensure_tenant(engine, tenant_id=tenant)
        secret = new_secret()
        await store_tenants.add_key(
            engine,
            tenant_id=tenant,
            prefix=visible_prefix(secret),
            secret_hash=hash_secret(secret),
            scopes=scopes or ALL,
            operator=operator,
            expires_at=utcnow() if expired else None,
        )
        return secret
    finally:
        await engine.dispose()


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


@pytest.fixture
async def secured(make_gateway):
    """A gateway with auth on (API + runner)."""
    return await make_gateway(auth="keys", signing_key="test-signing-key-1", auth_cache_seconds=0.2)


async def submit_as(client: httpx.AsyncClient, key: str, text: str = "x", **extra) -> dict:
    response = await client.post(
        "/v1/jobs", json={"pipeline": "chain", "inputs": {"text": text}}, headers=bearer(key), **extra
    )
    assert response.status_code == 202, response.text
    return response.json()


async def test_missing_bad_and_wrong_scope_credentials(secured, database_url):
    missing = await secured.get("/v1/jobs")
    assert missing.status_code == 401 and missing.headers["www-authenticate"].startswith("Bearer")
    assert missing.headers["content-type"] == "application/problem+json"
    assert "API key" in missing.json()["detail"]
    not_a_key = await secured.get("/v1/jobs", headers={"Authorization": "Bearer hunter2"})
    assert not_a_key.status_code == 401 and "mdl_" in not_a_key.json()["detail"]
    unknown = await secured.get("/v1/jobs", headers=bearer(new_secret()))
    assert unknown.status_code == 401 and unknown.json()["detail"] == "unknown API key"
    reader = await new_key(database_url, "acme", "jobs:read")
    assert (await secured.get("/v1/jobs", headers=bearer(reader))).status_code == 200
    denied = await secured.post(
        "/v1/jobs", json={"pipeline": "chain", "inputs": {"text": "x"}}, headers=bearer(reader)
    )
    assert denied.status_code == 403 and "jobs:write" in denied.json()["detail"]
    expired = await new_key(database_url, "acme", "jobs:read", expired=True)
    answer = await secured.get("/v1/jobs", headers=bearer(expired))
    assert answer.status_code == 401 and "expired" in answer.json()["detail"]


async def test_a_revoked_key_stops_working_at_once_here_and_within_the_cache_time_elsewhere(
    secured, make_gateway, database_url
):
    other_replica = await make_gateway(
        role="api", auth="keys", signing_key="test-signing-key-1", auth_cache_seconds=0.2
    )
    admin = await new_key(database_url, "acme", "admin", "jobs:read")
    created = await secured.post("/v1/admin/keys", json={"scopes": ["jobs:read"]}, headers=bearer(admin))
    assert created.status_code == 201
    key = created.json()
    assert key["secret"].startswith(key["prefix"]) and key["tenant"] == "acme"
    assert (await other_replica.get("/v1/jobs", headers=bearer(key["secret"]))).status_code == 200
    revoked = await secured.delete(f"/v1/admin/keys/{key['id']}", headers=bearer(admin))
    assert revoked.status_code == 200 and revoked.json()["revoked_at"] is not None
    now_here = await secured.get("/v1/jobs", headers=bearer(key["secret"]))
    assert now_here.status_code == 401 and "revoked" in now_here.json()["detail"]
    await asyncio.sleep(0.3)  # the other replica's cache time
    assert (await other_replica.get("/v1/jobs", headers=bearer(key["secret"]))).status_code == 401
    listed = (await secured.get("/v1/admin/keys", headers=bearer(admin))).json()["items"]
    assert {k["prefix"] for k in listed} >= {key["prefix"]} and all("secret" not in k for k in listed)


async def test_tenants_never_see_each_others_jobs_files_or_events(secured, database_url, fake_worker):
    acme = await new_key(database_url, "acme")
    globex = await new_key(database_url, "globex")
    upload = await secured.post(
        "/v1/files", files={"file": ("p.png", png_bytes(), "image/png")}, headers=bearer(acme)
    )
    assert upload.status_code == 201
    file_id = upload.json()["id"]
    job = await submit_as(secured, acme, "acme secret text")
    done = await wait_for_job_as(secured, acme, job["id"])
    assert done["status"] == "succeeded"
    for path in (f"/v1/jobs/{job['id']}", f"/v1/jobs/{job['id']}/events", f"/v1/files/{file_id}"):
        answer = await secured.get(path, headers=bearer(globex))
        assert answer.status_code == 404, path
        assert "acme" not in answer.text and "secret text" not in answer.text
    assert (await secured.post(f"/v1/jobs/{job['id']}/cancel", headers=bearer(globex))).status_code == 404
    assert (await secured.get("/v1/jobs", headers=bearer(globex))).json()["items"] == []
    assert [j["id"] for j in (await secured.get("/v1/jobs", headers=bearer(acme))).json()["items"]] == [
        job["id"]
    ]
    uses_acme_file = await secured.post(
        "/v1/jobs",
        json={"pipeline": "image_to_image", "inputs": {"image": file_id, "style": "style-00"}},
        headers=bearer(globex),
    )
    assert uses_acme_file.status_code == 422
    assert f"no uploaded file with id {file_id!r}" in uses_acme_file.json()["detail"]


async def wait_for_job_as(client: httpx.AsyncClient, key: str, job_id: str) -> dict:
    async with httpx.AsyncClient(
        transport=client._transport, base_url=str(client.base_url), headers=bearer(key)
    ) as keyed:
        return await wait_for_job(keyed, job_id)


async def test_idempotency_keys_are_per_tenant(secured, database_url):
    acme = await new_key(database_url, "acme")
    globex = await new_key(database_url, "globex")
    same = {"headers": {}}
    first = await secured.post(
        "/v1/jobs",
        json={"pipeline": "chain", "inputs": {"text": "x"}},
        headers={**bearer(acme), "Idempotency-Key": "k-1"},
    )
    again = await secured.post(
        "/v1/jobs",
        json={"pipeline": "chain", "inputs": {"text": "x"}},
        headers={**bearer(acme), "Idempotency-Key": "k-1"},
    )
    other = await secured.post(
        "/v1/jobs",
        json={"pipeline": "chain", "inputs": {"text": "x"}},
        headers={**bearer(globex), "Idempotency-Key": "k-1"},
    )
    assert same and first.json()["id"] == again.json()["id"]
    assert other.status_code == 202 and other.json()["id"] != first.json()["id"]


async def test_job_outputs_carry_signed_urls_that_work_without_a_key(secured, database_url, fake_worker):
    acme = await new_key(database_url, "acme")
    globex = await new_key(database_url, "globex")
    job = await secured.post(
        "/v1/jobs", json={"pipeline": "text_to_image", "inputs": {"text": "a red fox"}}, headers=bearer(acme)
    )
    assert job.status_code == 202, job.text
    done = await wait_for_job_as(secured, acme, job.json()["id"])
    image = done["outputs"]["image"]
    url = urlsplit(image["url"])
    query = parse_qs(url.query)
    assert url.path == f"/v1/files/{image['id']}" and {"expires", "signature"} <= set(query)
    opened = await secured.get(image["url"])  # no key: the signature is the access (an <img> can do this)
    assert opened.status_code == 200 and opened.content.startswith(b"\x89PNG")
    signature = query["signature"][0]
    # Change its first character (to one it is not: a signature starting with "A" stayed valid, 1 run in 64)
    tampered = image["url"].replace(signature, ("B" if signature[0] == "A" else "A") + signature[1:])
    bad = await secured.get(tampered)
    assert bad.status_code == 403 and "signature" in bad.json()["detail"]
    expired_url = secured.app.state.signer.url(image["id"], now=time.time() - 10 * 86_400)
    expired = await secured.get(expired_url)
    assert expired.status_code == 403 and "expired" in expired.json()["detail"]
    other_file = expired_url.replace(image["id"], "0" * 32)  # a signature for one file opens no other
    assert (await secured.get(other_file)).status_code == 403
    unsigned = f"/v1/files/{image['id']}"
    assert (await secured.get(unsigned)).status_code == 401
    assert (await secured.get(unsigned, headers=bearer(globex))).status_code == 404
    assert (await secured.get(unsigned, headers=bearer(acme))).status_code == 200


async def test_submits_past_the_tenant_limit_get_429_with_retry_after_and_ratelimit_headers(
    make_gateway, database_url
):
    gateway = await make_gateway(auth="keys", signing_key="k", limit_submits_per_minute=3)
    acme = await new_key(database_url, "acme")
    globex = await new_key(database_url, "globex")
    statuses = []
    for _ in range(5):
        answer = await gateway.post(
            "/v1/jobs", json={"pipeline": "chain", "inputs": {"text": "x"}}, headers=bearer(acme)
        )
        statuses.append(answer.status_code)
    assert statuses == [202, 202, 202, 429, 429]
    assert 1 <= int(answer.headers["retry-after"]) <= 60
    assert answer.headers["ratelimit-policy"] == '"submits-per-minute";q=3;w=60'
    assert answer.headers["ratelimit"].startswith('"submits-per-minute";r=0;t=')
    assert answer.headers["content-type"] == "application/problem+json"
    # Another tenant has its own limit: accepted, and handed straight to the runner.
    assert (await submit_as(gateway, globex))["status"] == "running"


async def test_a_tenant_at_its_running_cap_waits_and_does_not_starve_others(
    make_gateway, database_url, fake_worker
):
    release = asyncio.Event()
    fake_worker.plan["one"] = Behaviour(block=release)
    gateway = await make_gateway(auth="keys", signing_key="k", limit_running_jobs=1)
    acme = await new_key(database_url, "acme")
    globex = await new_key(database_url, "globex")
    acme_jobs = [await submit_as(gateway, acme, f"a{i}") for i in range(3)]
    globex_job = await submit_as(gateway, globex, "g")
    await asyncio.sleep(0.5)  # claims and hand-offs have had every chance to start more
    states = {
        j["id"]: (await gateway.get(f"/v1/jobs/{j['id']}", headers=bearer(key))).json()["status"]
        for j, key in [*((j, acme) for j in acme_jobs), (globex_job, globex)]
    }
    assert [states[j["id"]] for j in acme_jobs].count("running") == 1
    assert [states[j["id"]] for j in acme_jobs].count("queued") == 2
    assert states[globex_job["id"]] == "running"  # not starved behind acme's queue
    release.set()
    for job in acme_jobs:
        assert (await wait_for_job_as(gateway, acme, job["id"]))["status"] == "succeeded"


async def test_operators_manage_tenants_and_tenant_admins_only_their_own(secured, database_url):
    operator = await new_key(database_url, "ops", operator=True)
    created = await secured.post(
        "/v1/admin/tenants",
        json={"id": "initech", "limits": {"submits_per_minute": 5}},
        headers=bearer(operator),
    )
    assert created.status_code == 201, created.text
    assert created.json()["limits"]["submits_per_minute"] == 5
    assert created.json()["effective_limits"]["running_jobs"] == 20  # the default where none is set
    made = await secured.post(
        "/v1/admin/keys",
        json={"tenant": "initech", "scopes": ["admin", "jobs:read"]},
        headers=bearer(operator),
    )
    initech_admin = made.json()["secret"]
    acme_admin = await new_key(database_url, "acme", "admin")
    acme_key = (
        await secured.post("/v1/admin/keys", json={"scopes": ["jobs:read"]}, headers=bearer(acme_admin))
    ).json()
    # A tenant admin sees and revokes only its own tenant's keys, and cannot act as an operator.
    theirs = (await secured.get("/v1/admin/keys", headers=bearer(initech_admin))).json()["items"]
    assert {k["tenant"] for k in theirs} == {"initech"}
    assert (
        await secured.delete(f"/v1/admin/keys/{acme_key['id']}", headers=bearer(initech_admin))
    ).status_code == 404
    escalate = await secured.post(
        "/v1/admin/keys", json={"scopes": ["admin"], "operator": True}, headers=bearer(initech_admin)
    )
    assert escalate.status_code == 403
    cross = await secured.post(
        "/v1/admin/keys", json={"scopes": ["admin"], "tenant": "acme"}, headers=bearer(initech_admin)
    )
    assert cross.status_code == 404
    assert (
        await secured.post("/v1/admin/tenants", json={"id": "x"}, headers=bearer(initech_admin))
    ).status_code == 403
    me = (await secured.get("/v1/me", headers=bearer(initech_admin))).json()
    assert me == {
        "tenant": "initech",
        "key_id": made.json()["id"],
        "scopes": ["admin", "jobs:read"],
        "operator": False,
        "auth": "keys",
    }


async def test_metrics_need_a_metrics_key_and_carry_no_tenant_data(secured, database_url):
    acme = await new_key(database_url, "acme-corp-unique")
    await submit_as(secured, acme, "private words")
    assert (await secured.get("/metrics")).status_code == 401
    assert (await secured.get("/metrics", headers=bearer(acme))).status_code == 403
    scraper = await new_key(database_url, "ops", "metrics:read")
    text = (await secured.get("/metrics", headers=bearer(scraper))).text
    assert "modaline_jobs" in text
    assert "acme-corp-unique" not in text and "private words" not in text


def _api_routes(routes, prefix: str = ""):
    """Every APIRoute the app serves, through FastAPI's included routers, with its full path."""
    from fastapi.routing import APIRoute

    for route in routes:
        if isinstance(route, APIRoute):
            yield prefix, route
        elif (router := getattr(route, "original_router", None)) is not None:
            yield from _api_routes(router.routes, prefix + route.include_context.prefix)


PUBLIC = {"/healthz", "/readyz", "/docs", "/docs/oauth2-redirect", "/redoc", "/openapi.json"}


async def test_every_route_needs_a_key_and_answers_404_for_another_tenants_ids(
    secured, database_url, fake_worker
):
    acme = await new_key(database_url, "acme")
    globex = await new_key(database_url, "globex")  # jobs, files and admin scopes of its own tenant
    job = await submit_as(secured, acme)
    await wait_for_job_as(secured, acme, job["id"])
    upload = await secured.post(
        "/v1/files", files={"file": ("p.png", png_bytes(), "image/png")}, headers=bearer(acme)
    )
    acme_key = (await secured.get("/v1/admin/keys", headers=bearer(acme))).json()["items"][0]["id"]
    ids = {
        "job_id": job["id"],
        "file_id": upload.json()["id"],
        "key_id": acme_key,
        "tenant_id": "acme",
        "name": "chain",
        "model": "default",
    }
    unknown = {name: "f" * 32 if name != "tenant_id" else "nosuchtenant" for name in ids}
    unknown["name"] = "chain"
    unknown["model"] = "default"
    routes = list(_api_routes(secured.app.routes))
    paths = {prefix + route.path for prefix, route in routes}
    assert paths >= {"/v1/jobs", "/v1/files/{file_id}", "/metrics", "/v1/admin/keys"}
    checked = 0
    for prefix, route in routes:
        if prefix + route.path in PUBLIC:
            continue
        path = (prefix + route.path).format(**{name: ids[name] for name in route.param_convertors})
        for method in route.methods - {"HEAD"}:
            anonymous = await secured.request(method, path)
            assert anonymous.status_code == 401, (method, route.path, anonymous.text)
            assert anonymous.headers["www-authenticate"].startswith("Bearer")
            if route.param_convertors.keys() & {"job_id", "file_id", "key_id", "tenant_id"}:
                # Another tenant's id answers exactly as an id that does not exist.
                other = await secured.request(method, path, headers=bearer(globex), json={})
                unknown_path = (prefix + route.path).format(
                    **{name: unknown[name] for name in route.param_convertors}
                )
                unknown_answer = await secured.request(method, unknown_path, headers=bearer(globex), json={})
                assert other.status_code in (403, 404), (method, route.path, other.status_code)
                assert other.status_code == unknown_answer.status_code, (method, route.path)
                masked = other.text
                for name in route.param_convertors:
                    masked = masked.replace(ids[name], unknown[name])
                assert masked == unknown_answer.text, (method, route.path)
            checked += 1
    assert checked >= 15
    for path in PUBLIC - {"/docs/oauth2-redirect"}:
        assert (await secured.get(path)).status_code == 200, path


async def test_cors_allows_only_the_configured_origins(make_gateway, database_url):
    closed = await make_gateway(role="api")
    preflight = {"Origin": "https://app.example", "Access-Control-Request-Method": "POST"}
    answer = await closed.options("/v1/jobs", headers=preflight)
    assert "access-control-allow-origin" not in answer.headers  # none by default
    opened = await make_gateway(role="api", cors_origins="https://app.example, https://other.example")
    allowed = await opened.options("/v1/jobs", headers=preflight)
    assert allowed.headers["access-control-allow-origin"] == "https://app.example"
    other = await opened.options("/v1/jobs", headers={**preflight, "Origin": "https://evil.example"})
    assert "access-control-allow-origin" not in other.headers


async def test_auth_off_on_an_open_address_says_so_on_readyz(make_gateway, caplog):
    exposed = await make_gateway(role="api", host="0.0.0.0", auth="off")
    assert (await exposed.get("/readyz")).json()["auth"] == "off (exposed)"
    assert "AUTH IS OFF on 0.0.0.0" in caplog.text


async def test_a_key_records_when_it_was_last_used(secured, database_url):
    admin = await new_key(database_url, "acme", "admin")
    for _ in range(50):
        keys = (await secured.get("/v1/admin/keys", headers=bearer(admin))).json()["items"]
        if keys[0]["last_used_at"] is not None:
            break
        await asyncio.sleep(0.05)
    assert keys[0]["last_used_at"] is not None and keys[0]["created_at"] <= keys[0]["last_used_at"]
