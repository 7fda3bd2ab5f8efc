"""The storage interface (workers/kit/storage) on a directory and on a bucket of a real moto S3 server, and a
worker whose files all live in that bucket: inputs read from it, outputs written to it, refusals that say why.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from s3_server import MotoServer
from worker_helpers import AppMaker, assert_problem, fake_backends, run_body, runtime, wait_until

from workers.kit.storage import (
    CHUNK_BYTES,
    DirectoryStorage,
    FetchTooLarge,
    FileStorage,
    InvalidKey,
    ObjectNotFound,
    StorageAuthError,
    StorageConfigError,
    StorageError,
    open_storage,
    parse_files_url,
)
from workers.kit.testing import png_bytes, put_file

DATA = os.urandom(3 * CHUNK_BYTES + 17)


def read_all(storage: FileStorage, key: str, **window: int) -> bytes:
    return b"".join(storage.read_chunks(key, **window))


# ---------------------------------------------------------------- the interface, on both backends


def test_bytes_go_in_and_come_out_whole_and_by_range(storage: FileStorage) -> None:
    storage.put_bytes("jobs/j1/s1/audio.wav", DATA, content_type="audio/wav")
    assert storage.stat("jobs/j1/s1/audio.wav").size == len(DATA)  # type: ignore[union-attr]
    assert storage.exists("jobs/j1/s1/audio.wav") and not storage.exists("jobs/j1/s1/other.wav")
    assert read_all(storage, "jobs/j1/s1/audio.wav") == DATA
    assert (
        read_all(storage, "jobs/j1/s1/audio.wav", start=CHUNK_BYTES - 5, length=10)
        == DATA[CHUNK_BYTES - 5 : CHUNK_BYTES + 5]
    )
    assert read_all(storage, "jobs/j1/s1/audio.wav", start=len(DATA) - 3) == DATA[-3:]
    assert read_all(storage, "./jobs/j1/s1/audio.wav") == DATA  # the same key, normalised


def test_a_missing_file_is_known_before_any_byte_is_read(storage: FileStorage) -> None:
    assert storage.stat("uploads/none") is None
    with pytest.raises(ObjectNotFound) as caught:
        storage.read_chunks("uploads/none")  # no iteration: opening alone says so
    assert isinstance(caught.value, FileNotFoundError)


def test_a_rewrite_replaces_the_whole_file(storage: FileStorage) -> None:
    storage.put_bytes("jobs/j/s/x.bin", DATA, content_type="application/octet-stream")
    storage.put_bytes("jobs/j/s/x.bin", b"short", content_type="application/octet-stream")
    assert read_all(storage, "jobs/j/s/x.bin") == b"short"


@pytest.mark.parametrize("move", [True, False])
def test_a_local_file_is_stored_and_moved_or_kept(storage: FileStorage, tmp_path: Path, move: bool) -> None:
    source = tmp_path / "made-locally.wav"
    source.write_bytes(DATA)
    storage.put_file("jobs/j/s/audio.wav", source, content_type="audio/wav", move=move)
    assert read_all(storage, "jobs/j/s/audio.wav") == DATA
    assert source.exists() is not move


def test_delete_list_and_delete_a_prefix(storage: FileStorage) -> None:
    for key in ("jobs/a/s1/x.png", "jobs/a/s2/y.png", "jobs/ab/s1/z.png", "uploads/u1"):
        storage.put_bytes(key, b"1", content_type="image/png")
    assert sorted(storage.list_keys("jobs/a")) == ["jobs/a/s1/x.png", "jobs/a/s2/y.png"]
    storage.delete("jobs/a/s1/x.png")
    storage.delete("jobs/a/s1/x.png")  # already gone: not an error
    assert storage.stat("jobs/a/s1/x.png") is None
    assert storage.delete_prefix("jobs/a") == 1
    assert list(storage.list_keys("jobs/a")) == []
    assert sorted(storage.list_keys("jobs")) == ["jobs/ab/s1/z.png"]  # a longer name is another prefix
    assert storage.exists("uploads/u1")


def test_a_listing_gives_sizes_and_write_times_and_async_deletes_a_prefix(storage: FileStorage) -> None:
    before = datetime.now(UTC) - timedelta(minutes=5)
    storage.put_bytes("jobs/j/s/a.png", b"12345", content_type="image/png")
    storage.put_bytes("uploads/u2", b"1", content_type="image/png")
    [info] = storage.list_objects("jobs/j")
    assert info.key == "jobs/j/s/a.png" and info.size == 5
    assert info.modified is not None and before < info.modified < datetime.now(UTC) + timedelta(minutes=5)

    async def delete() -> tuple[int, list[str]]:
        removed = await storage.adelete_prefix("jobs/j")
        return removed, [obj.key for obj in await storage.alist_objects("uploads")]

    assert asyncio.run(delete()) == (1, ["uploads/u2"])
    assert list(storage.list_keys("jobs")) == []


@pytest.mark.parametrize("key", ["../x", "a/../../x", "/etc/passwd", "", ".", "a\\..\\x", "a/\x00b"])
def test_keys_that_could_leave_the_root_are_refused(storage: FileStorage, key: str) -> None:
    with pytest.raises(InvalidKey):
        storage.put_bytes(key, b"x", content_type="text/plain")
    with pytest.raises(ValueError):
        storage.stat(key)


def test_fetch_copies_hashes_and_stops_past_a_limit(storage: FileStorage, tmp_path: Path) -> None:
    storage.put_bytes("uploads/big", DATA, content_type="audio/wav")
    fetched = storage.fetch("uploads/big", tmp_path / "copy")
    assert (fetched.size, fetched.sha256) == (len(DATA), hashlib.sha256(DATA).hexdigest())
    assert (tmp_path / "copy").read_bytes() == DATA
    with pytest.raises(FetchTooLarge):
        storage.fetch("uploads/big", tmp_path / "capped", max_bytes=CHUNK_BYTES)
    assert not (tmp_path / "capped").exists()


def test_the_asyncio_face_reads_the_same_bytes(storage: FileStorage) -> None:
    storage.put_bytes("uploads/a", DATA, content_type="audio/wav")

    async def read() -> tuple[int, bytes]:
        info = await storage.astat("uploads/a")
        assert info is not None
        chunks = await storage.aread_chunks("uploads/a", start=10, length=CHUNK_BYTES * 2)
        return info.size, b"".join([chunk async for chunk in chunks])

    size, body = asyncio.run(read())
    assert size == len(DATA) and body == DATA[10 : 10 + CHUNK_BYTES * 2]
    storage.check()


# ---------------------------------------------------------------- object storage only


def test_objects_live_under_the_prefix_with_their_type_and_name(
    moto: MotoServer, s3_env: dict[str, str]
) -> None:
    storage = open_storage(s3_env["MODALINE_FILES_URL"], Path("unused"))
    bucket, prefix = parse_files_url(s3_env["MODALINE_FILES_URL"])
    source = Path(storage.scratch_dir) / "voice.part"
    source.parent.mkdir(parents=True, exist_ok=True)
    source.write_bytes(DATA)
    storage.put_file("uploads/u1", source, content_type="audio/wav", download_name="Voix été.wav", move=True)
    head = moto.client().head_object(Bucket=bucket, Key=f"{prefix}/uploads/u1")
    assert head["ContentType"] == "audio/wav" and head["ContentLength"] == len(DATA)
    assert head["ContentDisposition"] == (
        "attachment; filename=\"Voix _t_.wav\"; filename*=UTF-8''Voix%20%C3%A9t%C3%A9.wav"
    )
    assert moto.keys(bucket) == [f"{prefix}/uploads/u1"]


def test_a_presigned_url_needs_no_credentials_and_honours_range(s3_env: dict[str, str]) -> None:
    """The URL is fetched with no credentials at all. (moto checks no signature with auth off, and answers
    500 to a query-string signature with auth on, so the signature itself is left to S3 and MinIO.)"""
    storage = open_storage(s3_env["MODALINE_FILES_URL"], Path("unused"))
    storage.put_bytes("jobs/j/s/image.png", DATA, content_type="image/png")
    url = storage.presign_get("jobs/j/s/image.png", seconds=60)
    assert url is not None and "X-Amz-Signature=" in url and "X-Amz-Expires=60" in url
    assert s3_env["AWS_SECRET_ACCESS_KEY"] not in url
    whole = httpx.get(url)
    assert whole.status_code == 200 and whole.content == DATA
    assert whole.headers["content-type"] == "image/png"
    part = httpx.get(url, headers={"Range": "bytes=5-14"})
    assert part.status_code == 206 and part.content == DATA[5:15]


def test_a_directory_has_no_presigned_urls(files_root: Path) -> None:
    assert DirectoryStorage(files_root).presign_get("uploads/x", seconds=60) is None


def test_a_missing_bucket_is_a_configuration_error(moto: MotoServer, s3_env: dict[str, str]) -> None:
    storage = open_storage("s3://no-such-bucket-here/x", Path("unused"))
    with pytest.raises(
        StorageConfigError, match="bucket named in MODALINE_FILES_URL does not exist"
    ) as caught:
        storage.check()
    assert caught.value.retryable is False


@pytest.mark.parametrize(
    ("which", "code"), [("secret", "SignatureDoesNotMatch"), ("key", "InvalidAccessKeyId")]
)
def test_wrong_credentials_are_a_clear_error_naming_the_code_and_no_secret(
    moto_auth: MotoServer, monkeypatch: pytest.MonkeyPatch, which: str, code: str
) -> None:
    bucket = moto_auth.new_bucket()
    wrong = (
        {"AWS_SECRET_ACCESS_KEY": "not-the-secret"}
        if which == "secret"
        else {"AWS_ACCESS_KEY_ID": "AKIANOTAKEY"}
    )
    for name, value in moto_auth.env(**wrong).items():
        monkeypatch.setenv(name, value)
    storage = open_storage(f"s3://{bucket}/p", Path("unused"))
    for attempt in (storage.check, lambda: storage.put_bytes("uploads/x", b"1", content_type="image/png")):
        with pytest.raises(StorageAuthError) as caught:
            attempt()
        assert f"refused the credentials ({code})" in caught.value.detail
        assert caught.value.retryable is False
        assert moto_auth.secret_key not in caught.value.detail and "not-the-secret" not in caught.value.detail


def test_the_right_credentials_work_with_auth_on(
    moto_auth: MotoServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    bucket = moto_auth.new_bucket()
    for name, value in moto_auth.env().items():
        monkeypatch.setenv(name, value)
    storage = open_storage(f"s3://{bucket}", Path("unused"))
    storage.check()
    storage.put_bytes("uploads/x", b"123", content_type="image/png")
    assert read_all(storage, "uploads/x") == b"123"


def test_an_unreachable_store_is_a_retryable_error(monkeypatch: pytest.MonkeyPatch) -> None:
    import socket

    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{port}")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "x")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "y")
    from workers.kit.storage.s3 import S3Storage

    storage = S3Storage("some-bucket", max_retries=0, timeout_seconds=5)
    with pytest.raises(StorageError) as caught:
        storage.stat("uploads/x")
    assert caught.value.retryable is True


@pytest.mark.parametrize(
    ("url", "bucket", "prefix"),
    [
        ("s3://b-1.example", "b-1.example", ""),
        ("s3://bucket/a/b/", "bucket", "a/b"),
        ("s3://abc/x", "abc", "x"),
    ],
)
def test_files_urls_that_work(url: str, bucket: str, prefix: str) -> None:
    assert parse_files_url(url) == (bucket, prefix)


@pytest.mark.parametrize(
    "url",
    ["/data/files", "file:///data", "s3://", "s3://Bad_Bucket", "s3://ab", "s3://b/../x", "s3://u:p@bkt/x"],
)
def test_files_urls_that_do_not(url: str) -> None:
    with pytest.raises(StorageConfigError, match=r"s3://bucket or s3://bucket/prefix"):
        parse_files_url(url)


# ---------------------------------------------------------------- a worker on object storage


def test_a_worker_reads_its_input_from_the_bucket_and_writes_its_output_there(
    make_client: AppMaker, moto: MotoServer, s3_env: dict[str, str], files_root: Path
) -> None:
    client = make_client("cyclegan", fake_backends("cyclegan"), files_url=s3_env["MODALINE_FILES_URL"])
    storage = runtime(client.app).store.storage
    photo = png_bytes(40, 30)
    ref = put_file(storage, "uploads/photo", photo, "image/png")
    answer = client.post("/v1/run", json=run_body({"image": ref}, job_id="j-9", step_id="paint"))
    assert answer.status_code == 200, answer.text
    out = answer.json()["outputs"]["image"]
    assert out["file"] == "jobs/j-9/paint/image.png"
    made = read_all(storage, out["file"])
    assert (len(made), hashlib.sha256(made).hexdigest()) == (out["bytes"], out["sha256"])
    bucket, prefix = parse_files_url(s3_env["MODALINE_FILES_URL"])
    assert moto.keys(bucket) == [f"{prefix}/jobs/j-9/paint/image.png", f"{prefix}/uploads/photo"]
    assert list(files_root.rglob("*")) == []  # nothing on the local files root
    assert [p for p in storage.scratch_dir.rglob("*") if p.is_file()] == []  # the input's copy is gone


def test_a_worker_refuses_a_missing_or_altered_input_in_the_bucket(
    make_client: AppMaker, s3_env: dict[str, str]
) -> None:
    client = make_client("cyclegan", fake_backends("cyclegan"), files_url=s3_env["MODALINE_FILES_URL"])
    storage = runtime(client.app).store.storage
    ref = put_file(storage, "uploads/photo", png_bytes(), "image/png")
    altered = {**ref, "sha256": "0" * 64}
    assert_problem(
        client.post("/v1/run", json=run_body({"image": altered})), 422, retryable=False, detail="sha256"
    )
    storage.delete("uploads/photo")
    assert_problem(
        client.post("/v1/run", json=run_body({"image": ref})), 422, retryable=False, detail="does not exist"
    )
    assert [p for p in storage.scratch_dir.rglob("*") if p.is_file()] == []


def test_a_worker_with_wrong_credentials_is_not_ready_and_says_why(
    make_client: AppMaker, moto_auth: MotoServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    bucket = moto_auth.new_bucket()
    for name, value in moto_auth.env(AWS_SECRET_ACCESS_KEY="not-the-secret").items():
        monkeypatch.setenv(name, value)
    client = make_client("cyclegan", fake_backends("cyclegan"), files_url=f"s3://{bucket}/m")
    ready = client.get("/readyz")
    assert ready.status_code == 503
    assert "refused the credentials (SignatureDoesNotMatch)" in ready.json()["reason"]
    ref = {"file": "uploads/x", "content_type": "image/png", "bytes": 1, "sha256": "0" * 64}
    assert_problem(
        client.post("/v1/run", json=run_body({"image": ref})),
        503,
        retryable=False,
        detail="refused the credentials (SignatureDoesNotMatch)",
    )


def test_a_worker_turns_ready_once_its_bucket_exists_without_a_restart(
    make_client: AppMaker, moto: MotoServer, s3_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import workers.kit.runtime as worker_runtime

    monkeypatch.setattr(worker_runtime, "STORAGE_RECHECK_SECONDS", 0.05)
    bucket = f"late-{os.urandom(4).hex()}"
    client = make_client("cyclegan", fake_backends("cyclegan"), files_url=f"s3://{bucket}/m")
    ready = client.get("/readyz")
    assert ready.status_code == 503
    assert (
        ready.json()["reason"] == "file storage (s3): the bucket named in MODALINE_FILES_URL does not exist"
    )
    moto.client().create_bucket(Bucket=bucket)
    wait_until(lambda: client.get("/readyz").status_code == 200, timeout=20)
