"""Auth across real processes: one submit limit shared by three gateways on one PostgreSQL, the
``keys create`` command, the bootstrap key, and the refusal to start without a signing key."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from gateway_helpers import GatewayProcess
from test_gateway_processes import process_env

pytestmark = [pytest.mark.anyio, pytest.mark.slow]

SIGNING = {"MODALINE_AUTH": "keys", "MODALINE_SIGNING_KEY": "processes-signing-key"}


def keys_create(database_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {"DATABASE_URL": database_url, "PATH": "/usr/bin:/bin"}
    return subprocess.run(
        [sys.executable, "-m", "gateway", "keys", "create", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def log_text(gateway: GatewayProcess) -> str:
    return Path(gateway.log_path).read_text(errors="replace")


@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)
async def test_three_gateways_on_one_postgresql_share_one_submit_limit(
    database_url, files_root, fake_worker, tmp_path
):
    made = keys_create(database_url, "--tenant", "acme", "--scope", "jobs:write", "--scope", "jobs:read")
    assert made.returncode == 0, made.stderr
    key = made.stdout.strip().splitlines()[-1]
    env = process_env(
        database_url, files_root, fake_worker, **SIGNING, MODALINE_LIMIT_SUBMITS_PER_MINUTE="10"
    )
    gateways = [GatewayProcess(env, tmp_path / f"gw{i}.log") for i in range(3)]
    try:
        await asyncio.gather(*(g.start() for g in gateways))
        clients = [
            httpx.AsyncClient(base_url=g.url, headers={"Authorization": f"Bearer {key}"}) for g in gateways
        ]
        body = {"pipeline": "chain", "inputs": {"text": "x"}}
        answers = await asyncio.gather(*(clients[i % 3].post("/v1/jobs", json=body) for i in range(30)))
        for client in clients:
            await client.aclose()
    finally:
        for gateway in gateways:
            gateway.stop()
    statuses = [answer.status_code for answer in answers]
    assert statuses.count(202) == 10 and statuses.count(429) == 20, statuses
    assert {
        answers[i].status_code for i in range(30) if answers[i].status_code == 202
    }  # some replica took each
    assert all(a.headers["retry-after"].isdigit() for a in answers if a.status_code == 429)


async def test_keys_create_prints_only_the_key_last_and_the_key_works(
    database_url, files_root, fake_worker, tmp_path
):
    made = keys_create(database_url, "--tenant", "acme", "--scope", "admin", "--scope", "jobs:read")
    assert made.returncode == 0, made.stderr
    lines = made.stdout.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("mdl_") and len(lines[0]) == 47
    assert "created tenant 'acme'" in made.stderr and lines[0] not in made.stderr  # the secret only on stdout
    again = keys_create(database_url, "--tenant", "acme", "--scope", "jobs:read")
    assert again.returncode == 0 and "created tenant" not in again.stderr  # the tenant is reused
    wrong = keys_create(database_url, "--tenant", "Bad Name", "--scope", "jobs:read")
    assert wrong.returncode == 2 and "lower-case" in wrong.stderr
    gateway = GatewayProcess(
        process_env(database_url, files_root, fake_worker, **SIGNING), tmp_path / "gw.log"
    )
    try:
        await gateway.start()
        async with httpx.AsyncClient(base_url=gateway.url) as client:
            me = await client.get("/v1/me", headers={"Authorization": f"Bearer {lines[0]}"})
            assert me.status_code == 200 and me.json()["tenant"] == "acme"
            assert (await client.get("/v1/me")).status_code == 401
    finally:
        gateway.stop()
    assert lines[0] not in log_text(gateway)  # never logged


async def test_the_bootstrap_key_is_an_operator_stored_hashed(
    database_url, files_root, fake_worker, tmp_path
):
    secret = "mdl_" + "b" * 43
    env = process_env(database_url, files_root, fake_worker, **SIGNING, MODALINE_BOOTSTRAP_ADMIN_KEY=secret)
    gateway = GatewayProcess(env, tmp_path / "gw.log")
    try:
        await gateway.start()
        async with httpx.AsyncClient(
            base_url=gateway.url, headers={"Authorization": f"Bearer {secret}"}
        ) as client:
            me = (await client.get("/v1/me")).json()
            assert me["operator"] is True
            made = await client.post("/v1/admin/tenants", json={"id": "newco"})
            assert made.status_code == 201
    finally:
        gateway.stop()
    assert secret not in log_text(gateway)


async def test_auth_on_without_a_signing_key_refuses_to_start(
    database_url, files_root, fake_worker, tmp_path
):
    env = process_env(database_url, files_root, fake_worker, MODALINE_AUTH="keys", MODALINE_SIGNING_KEY="")
    gateway = GatewayProcess(env, tmp_path / "gw.log")
    gateway.spawn()
    assert gateway.proc.wait(60) != 0
    assert "MODALINE_SIGNING_KEY is unset" in gateway.log_tail()
