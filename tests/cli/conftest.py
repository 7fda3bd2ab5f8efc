"""The ``modaline`` command against real gateways: ``python -m gateway serve`` processes (one with auth
off, one with keys on) whose workers are the fake worker of the gateway tests (a real HTTP server speaking
the worker contract), run in a thread so the tests can stay synchronous and drive the CLI as a
subprocess, exactly as a user's shell does.

Both gateways live for the whole module (starting one takes seconds); tests that count jobs use a
pipeline of their own (``tests/cli/pipelines``).
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import threading
from collections.abc import Callable, Coroutine, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "gateway"))

from gateway_fakes import Behaviour, FakeWorker
from gateway_helpers import GatewayProcess

CLI_PIPELINES = Path(__file__).with_name("pipelines")
SIGNING = {"MODALINE_AUTH": "keys", "MODALINE_SIGNING_KEY": "cli-tests-signing-key"}
T = TypeVar("T")


def modaline_executable() -> Path:
    """The installed console script (``make install`` puts it beside the venv's python)."""
    path = Path(sys.executable).with_name("modaline")
    if not path.exists():
        pytest.fail(f"{path} is missing: run `make install` to install the modaline console script")
    return path


def clean_env(**extra: str) -> dict[str, str]:
    """The test process's environment without any MODALINE_* a developer's shell may have set, wide
    enough that tables never wrap."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MODALINE_")}
    env.update({"COLUMNS": "200", "NO_COLOR": "1", **extra})
    return env


@dataclass
class Result:
    code: int
    out: str
    err: str

    def json(self) -> Any:
        return json.loads(self.out)

    @property
    def both(self) -> str:
        return self.out + self.err


class ThreadedWorker:
    """The gateway tests' FakeWorker on an event loop of its own thread."""

    def __init__(self, files_root: Path) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True, name="fake-worker")
        self.thread.start()
        self.fake = FakeWorker(files_root)
        self.url = self.call(self.fake.start())
        self._releases: list[Callable[[], None]] = []

    def call(self, coroutine: Coroutine[Any, Any, T], within: float = 60.0) -> T:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(within)

    def hold(self, step_id: str) -> Callable[[], None]:
        """Make every call of ``step_id`` wait; the answer lets them all go."""
        event = asyncio.Event()
        self.fake.plan[step_id] = Behaviour(block=event)

        def release() -> None:
            self.loop.call_soon_threadsafe(event.set)

        self._releases.append(release)
        return release

    def reset(self) -> None:
        """Let every held call go and answer at once from now on."""
        for release in self._releases:
            release()
        self._releases.clear()
        self.fake.plan.clear()

    def wait_for_call(self, job_id: str, step_id: str, within: float = 60.0) -> None:
        """Return once the worker has been called for ``step_id`` of ``job_id``."""

        async def called() -> None:
            async with asyncio.timeout(within):
                while self.fake.calls[(job_id, step_id)] == 0:
                    self.fake._called.clear()
                    await self.fake._called.wait()

        self.call(called(), within + 5)

    def stop(self) -> None:
        self.call(self.fake.stop())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)


@dataclass
class Gateway:
    """One running gateway and how to drive the CLI against it."""

    url: str
    files_root: Path
    worker: ThreadedWorker
    admin_key: str | None = field(default=None, repr=False)

    def cli(
        self,
        *args: str,
        key: str | None = None,
        stdin: str | None = None,
        cwd: Path | None = None,
        env: dict[str, str] | None = None,
        timeout: float = 120.0,
    ) -> Result:
        """Run ``modaline ARGS`` with ``MODALINE_URL`` (and ``MODALINE_API_KEY`` when ``key``) set."""
        extra = {"MODALINE_URL": self.url, **({"MODALINE_API_KEY": key} if key else {}), **(env or {})}
        done = subprocess.run(
            [str(modaline_executable()), *args],
            env=clean_env(**extra),
            input=stdin,
            capture_output=True,
            text=True,
            cwd=cwd,
            timeout=timeout,
            check=False,
        )
        return Result(done.returncode, done.stdout, done.stderr)

    def popen(
        self, *args: str, key: str | None = None, url: str | None = None, env: dict[str, str] | None = None
    ) -> subprocess.Popen[str]:
        """Start ``modaline ARGS`` without waiting for it."""
        extra = {"MODALINE_URL": url or self.url, **({"MODALINE_API_KEY": key} if key else {}), **(env or {})}
        return subprocess.Popen(
            [str(modaline_executable()), *args],
            env=clean_env(**extra),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )


def gateway_env(database_url: str, files_root: Path, worker_url: str, **extra: str) -> dict[str, str]:
    return {
        "DATABASE_URL": database_url,
        "MODALINE_FILES_ROOT": str(files_root),
        "MODALINE_PIPELINES_DIR": str(CLI_PIPELINES),
        "MODALINE_UI_DIR": str(files_root / "no-ui"),
        "MODALINE_RUNNER_POLL_SECONDS": "0.05",
        "MODALINE_SSE_POLL_SECONDS": "0.05",
        "MODALINE_CANCEL_POLL_SECONDS": "0.05",
        "MODALINE_RETRY_BASE_SECONDS": "0.01",
        **{f"MODALINE_{cap.upper()}_URL": worker_url for cap in ("llm", "image", "stt", "tts", "cyclegan")},
        **extra,
    }


def keys_create(database_url: str, *args: str) -> str:
    """A key made with the gateway's own ``keys create`` (the first key of a keyed gateway)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MODALINE_")}
    made = subprocess.run(
        [sys.executable, "-m", "gateway", "keys", "create", *args],
        env={**env, "DATABASE_URL": database_url},
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return made.stdout.strip().splitlines()[-1]


@pytest.fixture(scope="module")
def worker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ThreadedWorker]:
    files_root = tmp_path_factory.mktemp("files")
    threaded = ThreadedWorker(files_root)
    yield threaded
    threaded.stop()


@pytest.fixture(autouse=True)
def _fresh_plan(request: pytest.FixtureRequest) -> Iterator[None]:
    """Every test starts with a worker that answers at once (held steps of a test do not outlive it)."""
    yield
    if "worker" in request.fixturenames:
        request.getfixturevalue("worker").reset()


def _start(env: dict[str, str], log: Path) -> GatewayProcess:
    process = GatewayProcess(env, log)
    try:
        asyncio.run(process.start())
    except BaseException:
        process.stop()
        raise
    return process


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory, worker: ThreadedWorker) -> Iterator[Gateway]:
    """A gateway with auth off (as ``make run`` on a laptop)."""
    root = tmp_path_factory.mktemp("open")
    database_url = f"sqlite+aiosqlite:///{root / 'gateway.db'}"
    process = _start(gateway_env(database_url, worker.fake.files_root, worker.url), root / "gateway.log")
    yield Gateway(process.url, worker.fake.files_root, worker)
    process.stop()


@pytest.fixture(scope="module")
def keyed_gateway(tmp_path_factory: pytest.TempPathFactory, worker: ThreadedWorker) -> Iterator[Gateway]:
    """A gateway with keys on, and an admin key of tenant ``acme`` made with ``python -m gateway keys``."""
    root = tmp_path_factory.mktemp("keyed")
    database_url = f"sqlite+aiosqlite:///{root / 'gateway.db'}"
    scopes = ("admin", "jobs:read", "jobs:write", "files:write")
    admin = keys_create(database_url, "--tenant", "acme", *(arg for s in scopes for arg in ("--scope", s)))
    env = gateway_env(database_url, worker.fake.files_root, worker.url, **SIGNING)
    process = _start(env, root / "gateway.log")
    yield Gateway(process.url, worker.fake.files_root, worker, admin_key=admin)
    process.stop()
    assert admin not in Path(process.log_path).read_text(errors="replace")  # never logged
