"""``modaline`` against a gateway with keys on: the key from MODALINE_API_KEY or --key, what a missing,
wrong or revoked key says, ``keys create|list|revoke``, and that the key is never printed."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from conftest import Gateway

from workers.kit.testing import png_bytes

pytestmark = pytest.mark.slow


def test_no_key_says_to_set_modaline_api_key(keyed_gateway: Gateway) -> None:
    refused = keyed_gateway.cli("pipelines")
    assert refused.code == 4 and refused.out == ""
    assert "set MODALINE_API_KEY" in refused.err
    run = keyed_gateway.cli("run", "echo", "--text", "x")  # the pipeline's schema needs a key too
    assert run.code == 4 and "set MODALINE_API_KEY" in run.err


def test_a_wrong_key_is_refused_without_being_printed(keyed_gateway: Gateway) -> None:
    wrong = "mdl_" + "w" * 43
    refused = keyed_gateway.cli("jobs", "list", key=wrong)
    assert refused.code == 4 and "refused the API key" in refused.err and "MODALINE_API_KEY" in refused.err
    flagged = keyed_gateway.cli("jobs", "list", "--key", wrong, "--json")
    assert flagged.code == 4 and '"status": 401' in flagged.err
    for result in (refused, flagged):
        assert wrong not in result.both
    helped = keyed_gateway.cli("--help", key=wrong)
    assert (
        "MODALINE_API_KEY" in helped.out and wrong not in helped.both
    )  # the env var's name, never its value


def test_a_keyed_run_uploads_waits_and_downloads(keyed_gateway: Gateway, tmp_path: Path) -> None:
    key = keyed_gateway.admin_key
    assert key
    photo = tmp_path / "photo.png"
    photo.write_bytes(png_bytes(20, 20))
    ran = keyed_gateway.cli(
        "run", "image_to_image", "--image", str(photo), "--out", str(tmp_path / "o"), key=key
    )
    assert ran.code == 0, ran.err
    assert (tmp_path / "o" / "image.png").read_bytes() == photo.read_bytes()
    job_id = ran.err.splitlines()[0].split()[1]
    shown = keyed_gateway.cli("jobs", "show", job_id, "--json", key=key).json()
    got = keyed_gateway.cli(
        "files", "get", shown["outputs"]["image"]["id"], "-o", str(tmp_path / "b.png"), key=key
    )
    assert got.code == 0 and (tmp_path / "b.png").read_bytes() == photo.read_bytes()
    for result in (ran, got):
        assert key not in result.both


def test_keys_create_list_revoke(keyed_gateway: Gateway) -> None:
    admin = keyed_gateway.admin_key
    assert admin
    made = keyed_gateway.cli("keys", "create", "--scope", "jobs:read", "--name", "ci reader", key=admin)
    assert made.code == 0, made.err
    secret = made.out.strip()
    assert made.out == f"{secret}\n" and re.fullmatch(r"mdl_[A-Za-z0-9_-]{43}", secret)  # alone on stdout
    assert "shown this once" in made.err and secret not in made.err and admin not in made.both
    key_id = re.search(r"created key ([0-9a-f]{32})", made.err)
    assert key_id, made.err

    reader = keyed_gateway.cli("jobs", "list", "--json", key=secret)
    assert reader.code == 0 and "items" in reader.json()
    cannot = keyed_gateway.cli("run", "echo", "--text", "x", key=secret)
    assert cannot.code == 4 and "not allowed" in cannot.err and "jobs:write" in cannot.err

    listed = keyed_gateway.cli("keys", "list", key=admin)
    assert listed.code == 0, listed.err
    row = next(line for line in listed.out.splitlines() if key_id.group(1) in line)
    assert secret[:12] in row and "ci reader" in row and "jobs:read" in row
    assert secret not in listed.out and admin not in listed.out  # only prefixes
    as_json = keyed_gateway.cli("keys", "list", "--json", key=admin).json()
    mine = next(k for k in as_json["items"] if k["id"] == key_id.group(1))
    assert mine["revoked_at"] is None and "secret" not in mine

    revoked = keyed_gateway.cli("keys", "revoke", key_id.group(1), key=admin)
    assert revoked.code == 0 and revoked.out.startswith(f"revoked key {key_id.group(1)} ")
    after = keyed_gateway.cli("jobs", "list", key=secret)
    assert after.code == 4 and "refused the API key" in after.err
    as_json = keyed_gateway.cli("keys", "list", "--json", key=admin).json()
    assert next(k for k in as_json["items"] if k["id"] == key_id.group(1))["revoked_at"]

    no_admin = keyed_gateway.cli("keys", "list", key=secret)
    assert no_admin.code == 4
    bad_scope = keyed_gateway.cli("keys", "create", "--scope", "everything", key=admin)
    assert bad_scope.code == 2 and "scopes" in bad_scope.err


def test_keys_create_json_answers_the_secret_once(keyed_gateway: Gateway) -> None:
    admin = keyed_gateway.admin_key
    assert admin
    made = keyed_gateway.cli(
        "keys",
        "create",
        "--scope",
        "jobs:write",
        "--scope",
        "jobs:read",
        "--expires-in-days",
        "1",
        "--json",
        key=admin,
    )
    assert made.code == 0 and made.err == ""
    body = made.json()
    assert body["secret"].startswith(body["prefix"]) and sorted(body["scopes"]) == ["jobs:read", "jobs:write"]
    assert body["expires_at"] and body["tenant"] == "acme"
    job = keyed_gateway.cli("run", "echo", "--text", "k", "--wait", "--json", key=body["secret"])
    assert job.code == 0 and job.json()["outputs"] == {"text": "k>say"}
