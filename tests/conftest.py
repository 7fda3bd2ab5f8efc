"""Fixtures shared by every Python suite. Keep it small: suites own their fixtures."""

import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from s3_server import MotoServer

from workers.kit.storage import DirectoryStorage, FileStorage, open_storage


@pytest.fixture
def anyio_backend() -> str:
    """Async tests run on asyncio (uvicorn, aiohttp and SQLAlchemy's async engines all need it)."""
    return "asyncio"


# --- a real S3-speaking server (tests/s3_server.py) -----------------------------------------------------


@pytest.fixture(scope="session")
def moto(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MotoServer]:
    """One moto S3 server for the session (any credentials accepted), stopped by PID at the end."""
    server = MotoServer.start(tmp_path_factory.mktemp("moto"))
    yield server
    server.stop()


@pytest.fixture(scope="session")
def moto_auth(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MotoServer]:
    """A second moto server with authentication on: only ``moto_auth.access_key``/``secret_key`` work."""
    server = MotoServer.start(tmp_path_factory.mktemp("moto-auth"), auth=True)
    yield server
    server.stop()


@pytest.fixture
def s3_env(moto: MotoServer, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """A fresh bucket; the AWS variables and ``MODALINE_FILES_URL`` set in this process (for the SDK) and
    returned (for child processes)."""
    env = moto.env(MODALINE_FILES_URL=f"s3://{moto.new_bucket()}/modaline")
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return env


@pytest.fixture(params=["directory", "s3"])
def storage(
    request: pytest.FixtureRequest, files_root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> FileStorage:
    """The suite's ``files_root`` as a directory, then a fresh bucket on moto instead (with the scratch
    directory under tmp_path): a test taking it runs on both."""
    if request.param == "directory":
        return DirectoryStorage(files_root)
    env = request.getfixturevalue("s3_env")
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "scratch"))
    return open_storage(env["MODALINE_FILES_URL"], files_root)
