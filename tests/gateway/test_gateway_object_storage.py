"""The gateway with its files in a bucket of a real S3 server (moto, MODALINE_FILES_URL=s3://…), on both
databases: uploads land in the bucket and nowhere else, downloads stream with Range or redirect to a
presigned URL only after the access check, a missing object is a 404 problem, refused credentials a 503
problem that says so."""

from __future__ import annotations

import hashlib
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from s3_server import MotoServer
from test_gateway_auth import bearer, new_key

from workers.kit.storage import parse_files_url
from workers.kit.testing import png_bytes, wav_bytes

pytestmark = pytest.mark.anyio

PNG = png_bytes(120, 90)
WAV = wav_bytes(1.5)


def bucket_of(env: dict[str, str]) -> tuple[str, str]:
    return parse_files_url(env["MODALINE_FILES_URL"])


async def upload(client: httpx.AsyncClient, data: bytes, name: str, **headers: str) -> dict:
    answer = await client.post("/v1/files", files={"file": (name, data)}, headers=headers)
    assert answer.status_code == 201, answer.text
    return answer.json()


def files_on_disk(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file()]


async def test_an_upload_lands_in_the_bucket_and_downloads_stream_back_with_range(
    make_gateway, s3_env, moto: MotoServer, files_root: Path
):
    gateway = await make_gateway(files_url=s3_env["MODALINE_FILES_URL"])
    assert (await gateway.get("/readyz")).json()["files"] == "s3"
    stored = await upload(gateway, WAV, "Voix été.wav")
    bucket, prefix = bucket_of(s3_env)
    assert moto.keys(bucket) == [f"{prefix}/uploads/{stored['id']}"]
    head = moto.client().head_object(Bucket=bucket, Key=f"{prefix}/uploads/{stored['id']}")
    assert (head["ContentType"], head["ContentLength"]) == ("audio/wav", len(WAV))
    assert files_on_disk(files_root) == []  # neither the file nor its spool copy is on the local root

    whole = await gateway.get(stored["url"])
    assert whole.status_code == 200 and whole.content == WAV
    assert whole.headers["etag"] == f'"{hashlib.sha256(WAV).hexdigest()}"'
    assert whole.headers["content-type"] == "audio/wav" and whole.headers["accept-ranges"] == "bytes"
    assert "filename*=UTF-8''Voix%20%C3%A9t%C3%A9.wav" in whole.headers["content-disposition"]
    part = await gateway.get(stored["url"], headers={"Range": "bytes=44-1043"})
    assert part.status_code == 206 and part.content == WAV[44:1044]
    assert part.headers["content-range"] == f"bytes 44-1043/{len(WAV)}"
    tail = await gateway.get(stored["url"], headers={"Range": "bytes=-10"})
    assert tail.status_code == 206 and tail.content == WAV[-10:]
    past = await gateway.get(stored["url"], headers={"Range": f"bytes={len(WAV)}-"})
    assert past.status_code == 416 and past.headers["content-range"] == f"bytes */{len(WAV)}"


async def test_a_job_submitted_with_files_keeps_them_in_the_bucket_and_a_refused_one_leaves_none(
    make_gateway, s3_env, moto: MotoServer
):
    gateway = await make_gateway(files_url=s3_env["MODALINE_FILES_URL"])
    bucket, prefix = bucket_of(s3_env)
    refused = await gateway.post(
        "/v1/jobs", data={"pipeline": "no_such_pipeline"}, files={"photo": ("p.png", PNG)}
    )
    assert refused.status_code == 404
    assert moto.keys(bucket) == []  # the upload that came with it was deleted again
    job = await gateway.post(
        "/v1/jobs", data={"pipeline": "image_to_image", "style": "style-02"}, files={"image": ("p.png", PNG)}
    )
    assert job.status_code == 202, job.text
    stored = moto.keys(bucket, f"{prefix}/uploads/")
    assert len(stored) == 1
    body = moto.client().get_object(Bucket=bucket, Key=stored[0])["Body"].read()
    assert body == PNG


async def test_a_registered_file_whose_object_is_gone_is_a_404_problem(
    make_gateway, s3_env, moto: MotoServer
):
    gateway = await make_gateway(files_url=s3_env["MODALINE_FILES_URL"])
    stored = await upload(gateway, PNG, "p.png")
    bucket, prefix = bucket_of(s3_env)
    moto.client().delete_object(Bucket=bucket, Key=f"{prefix}/uploads/{stored['id']}")
    gone = await gateway.get(stored["url"])
    assert gone.status_code == 404
    assert gone.headers["content-type"] == "application/problem+json"
    assert (
        gone.json()["detail"]
        == f"file {stored['id']} is registered but its bytes are gone from the file storage"
    )
    assert (await gateway.get(stored["url"], headers={"Range": "bytes=0-9"})).status_code == 404


async def test_wrong_credentials_are_a_clear_503_and_readyz_says_why(
    make_gateway, moto_auth: MotoServer, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
):
    bucket = moto_auth.new_bucket()
    for name, value in moto_auth.env(AWS_SECRET_ACCESS_KEY="not-the-secret").items():
        monkeypatch.setenv(name, value)
    monkeypatch.setattr("tempfile.tempdir", str(tmp_path / "scratch"))
    gateway = await make_gateway(files_url=f"s3://{bucket}/modaline")
    ready = await gateway.get("/readyz")
    assert ready.status_code == 503
    assert (
        "file storage (s3): object storage refused the credentials (SignatureDoesNotMatch)"
        in ready.json()["detail"]
    )
    refused = await gateway.post("/v1/files", files={"file": ("p.png", PNG)})
    assert refused.status_code == 503
    problem = refused.json()
    assert refused.headers["content-type"] == "application/problem+json"
    assert problem["title"] == "File storage unavailable" and problem["retryable"] is False
    assert "refused the credentials (SignatureDoesNotMatch)" in problem["detail"]
    assert "not-the-secret" not in refused.text and moto_auth.secret_key not in refused.text
    assert files_on_disk(tmp_path / "scratch") == []  # the spooled upload was removed
    assert moto_auth.keys(bucket) == []


async def test_the_right_credentials_work_with_authentication_on(
    make_gateway, moto_auth: MotoServer, monkeypatch: pytest.MonkeyPatch
):
    bucket = moto_auth.new_bucket()
    for name, value in moto_auth.env().items():
        monkeypatch.setenv(name, value)
    gateway = await make_gateway(files_url=f"s3://{bucket}/modaline")
    assert (await gateway.get("/readyz")).status_code == 200
    stored = await upload(gateway, PNG, "p.png")
    assert (await gateway.get(stored["url"])).content == PNG


async def test_redirect_mode_sends_a_presigned_url_only_after_the_access_check(
    make_gateway, s3_env, database_url
):
    gateway = await make_gateway(
        files_url=s3_env["MODALINE_FILES_URL"],
        files_download="redirect",
        files_presign_seconds=120,
        auth="keys",
        signing_key="test-signing-key-1",
        auth_cache_seconds=0.2,
    )
    acme = await new_key(database_url, "acme")
    globex = await new_key(database_url, "globex")
    stored = await upload(gateway, PNG, "p.png", **bearer(acme))
    signed = urlsplit(stored["url"])
    query = parse_qs(signed.query)
    assert {"expires", "signature"} <= set(query)  # the API's own signed URL, as before

    moved = await gateway.get(stored["url"])  # the HMAC signature is the access, then the bucket's URL
    assert moved.status_code == 307
    location = moved.headers["location"]
    assert "X-Amz-Signature=" in location and "X-Amz-Expires=120" in location
    assert moved.headers["cache-control"] == "no-store"
    async with httpx.AsyncClient() as anyone:  # no key, not through the gateway
        fetched = await anyone.get(location, headers={"Range": "bytes=0-15"})
        assert fetched.status_code == 206 and fetched.content == PNG[:16]
        assert (await anyone.get(location)).content == PNG

    signature = query["signature"][0]
    # Change its first character (to one it is not: a signature starting with "A" stayed valid, 1 run in 64)
    tampered = stored["url"].replace(signature, ("B" if signature[0] == "A" else "A") + signature[1:])
    bad = await gateway.get(tampered)
    assert bad.status_code == 403 and "location" not in bad.headers
    unsigned = f"/v1/files/{stored['id']}"
    assert (await gateway.get(unsigned)).status_code == 401
    other = await gateway.get(unsigned, headers=bearer(globex))
    assert other.status_code == 404 and "location" not in other.headers
    assert (await gateway.get(unsigned, headers=bearer(acme))).status_code == 307


async def test_redirect_mode_answers_a_missing_object_with_a_404_problem_not_a_redirect(
    make_gateway, s3_env, moto: MotoServer
):
    gateway = await make_gateway(files_url=s3_env["MODALINE_FILES_URL"], files_download="redirect")
    stored = await upload(gateway, PNG, "p.png")
    bucket, prefix = bucket_of(s3_env)
    moto.client().delete_object(Bucket=bucket, Key=f"{prefix}/uploads/{stored['id']}")
    gone = await gateway.get(stored["url"])
    assert gone.status_code == 404 and "location" not in gone.headers
    assert gone.headers["content-type"] == "application/problem+json"


async def test_deletes_and_the_janitor_remove_objects_from_the_bucket(make_gateway, s3_env, moto: MotoServer):
    from gateway_helpers import wait_for_job

    gateway = await make_gateway(files_url=s3_env["MODALINE_FILES_URL"], janitor_interval_seconds=3600)
    bucket, prefix = bucket_of(s3_env)
    loose = await upload(gateway, PNG, "loose.png")
    assert (await gateway.delete(f"/v1/files/{loose['id']}")).status_code == 204
    assert moto.keys(bucket) == []
    job = await gateway.post(
        "/v1/jobs", data={"pipeline": "image_to_image", "style": "style-02"}, files={"image": ("p.png", PNG)}
    )
    assert job.status_code == 202, job.text
    await wait_for_job(gateway, job.json()["id"])
    assert len(moto.keys(bucket, f"{prefix}/uploads/")) == 1
    assert (await gateway.delete(f"/v1/jobs/{job.json()['id']}")).status_code == 204
    assert moto.keys(bucket, f"{prefix}/uploads/") == []  # the job's own upload went with it
    moto.client().put_object(Bucket=bucket, Key=f"{prefix}/jobs/ghost/s/out.png", Body=b"x")
    janitor = gateway.app.state.janitor  # type: ignore[attr-defined]
    janitor.stray_grace_seconds = (
        0.0  # a bucket's write times cannot be set back: take everything unreferenced
    )
    assert (await janitor.run_once(sweep=True)).strays == 1
    assert moto.keys(bucket) == []
