"""Start, watch and stop the benchmark's own processes (by PID only), and hand out ports 18500-18599."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parent.parent
PY = sys.executable


def _port_range() -> range:
    """``BENCH_PORTS`` or ``MODALINE_BENCH_PORTS`` = ``first-last``, else 100 ports from ``MODALINE_BENCH_PORT_BASE`` (default 18500): several
    benches can share a machine."""
    if spec := os.environ.get("BENCH_PORTS") or os.environ.get("MODALINE_BENCH_PORTS"):
        first, _, last = spec.partition("-")
        return range(int(first), int(last) + 1)
    base = int(os.environ.get("MODALINE_BENCH_PORT_BASE", "18500"))
    return range(base, base + 100)


PORT_RANGE = _port_range()
_handed_out: set[int] = set()


def free_port() -> int:
    """A port in ``PORT_RANGE`` that nothing listens on and this run has not handed out yet."""
    for port in PORT_RANGE:
        if port in _handed_out:
            continue
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
        _handed_out.add(port)
        return port
    raise RuntimeError(f"no free port in {PORT_RANGE.start}-{PORT_RANGE.stop - 1}")


def release_port(port: int) -> None:
    _handed_out.discard(port)


class Proc:
    """One child process, its log file, and a clean stop by PID (its own process group)."""

    def __init__(
        self,
        name: str,
        cmd: list[str],
        env: dict[str, str] | None,
        log_dir: Path,
        stop_signal: int = signal.SIGTERM,
    ) -> None:
        self.name = name
        self.stop_signal = stop_signal
        self.cmd = cmd
        self.log_path = log_dir / f"{name}.log"
        full_env = {**os.environ, **(env or {})}
        full_env.setdefault("PYTHONUNBUFFERED", "1")
        self._log = self.log_path.open("ab")
        self.popen = subprocess.Popen(
            cmd,
            cwd=ROOT,
            env=full_env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        self.pid = self.popen.pid
        self.ps = psutil.Process(self.pid)

    def alive(self) -> bool:
        return self.popen.poll() is None

    def tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def wait_http(self, url: str, timeout: float = 60.0) -> None:
        """Wait until ``url`` answers 2xx; fail early with the log when the process died."""
        deadline = time.monotonic() + timeout
        last = ""
        while time.monotonic() < deadline:
            if not self.alive():
                raise RuntimeError(f"{self.name} exited with {self.popen.returncode}:\n{self.tail()}")
            try:
                with urllib.request.urlopen(url, timeout=2) as resp:
                    if 200 <= resp.status < 300:
                        return
                    last = f"HTTP {resp.status}"
            except (urllib.error.URLError, OSError) as exc:
                last = str(exc)
            time.sleep(0.05)
        raise RuntimeError(f"{self.name} not ready at {url} after {timeout:.0f}s ({last}):\n{self.tail()}")

    def rss_bytes(self) -> int:
        """RSS of the process and its children (uvicorn may fork nothing, but count them if it does)."""
        total = 0
        with contextlib.suppress(psutil.Error):
            total += self.ps.memory_info().rss
            for child in self.ps.children(recursive=True):
                with contextlib.suppress(psutil.Error):
                    total += child.memory_info().rss
        return total

    def cpu_seconds(self) -> float:
        """User+system CPU seconds of the process and its children so far."""
        total = 0.0
        with contextlib.suppress(psutil.Error):
            t = self.ps.cpu_times()
            total += t.user + t.system
            for child in self.ps.children(recursive=True):
                with contextlib.suppress(psutil.Error):
                    c = child.cpu_times()
                    total += c.user + c.system
        return total

    def stop(self, timeout: float = 10.0) -> None:
        """Signal (SIGTERM by default) this process group (our own session), then SIGKILL if it lingers."""
        if self.popen.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.pid, self.stop_signal)
            try:
                self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.pid, signal.SIGKILL)
                self.popen.wait(5)
        else:
            # The leader is gone; its group may still hold children (e.g. Celery's pool processes).
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.pid, signal.SIGKILL)
        self._log.close()


class Procs(contextlib.AbstractContextManager["Procs"]):
    """A set of processes stopped together (last started, first stopped)."""

    def __init__(self, log_dir: Path) -> None:
        self.log_dir = log_dir
        log_dir.mkdir(parents=True, exist_ok=True)
        self.items: list[Proc] = []

    def start(
        self, name: str, cmd: list[str], env: dict[str, str] | None = None, stop_signal: int = signal.SIGTERM
    ) -> Proc:
        proc = Proc(name, cmd, env, self.log_dir, stop_signal)
        self.items.append(proc)
        return proc

    def stop(self, proc: Proc) -> None:
        proc.stop()
        if proc in self.items:
            self.items.remove(proc)

    def __exit__(self, *exc: object) -> None:
        for proc in reversed(self.items):
            with contextlib.suppress(Exception):
                proc.stop()
        self.items.clear()


def http_json(url: str, timeout: float = 5.0) -> object:
    import json

    with urllib.request.urlopen(url, timeout=timeout) as resp:
        return json.loads(resp.read())
