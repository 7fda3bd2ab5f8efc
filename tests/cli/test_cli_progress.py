"""Following a job: the live display on a real terminal (a pty), the event stream reopened with
``Last-Event-ID`` after a connection is cut, and steps the board has not seen (map items)."""

from __future__ import annotations

import contextlib
import fcntl
import io
import os
import pty
import re
import socket
import struct
import subprocess
import termios
import threading
from collections.abc import Callable

from conftest import Gateway, clean_env, modaline_executable
from rich.console import Console

from modaline_cli.progress import LineProgress, StepBoard

ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


class Collected:
    """Bytes read by a thread, and a way to wait until they say something."""

    def __init__(self) -> None:
        self.text = ""
        self.done = False
        self.changed = threading.Condition()

    def add(self, data: str) -> None:
        with self.changed:
            self.text += data
            self.changed.notify_all()

    def finish(self) -> None:
        with self.changed:
            self.done = True
            self.changed.notify_all()

    def wait_for(self, check: Callable[[str], bool], within: float = 120.0) -> None:
        with self.changed:
            if not self.changed.wait_for(lambda: check(self.text) or self.done, within) or not check(
                self.text
            ):
                raise AssertionError(f"never seen; got: {self.text[-2000:]!r}")


def test_a_terminal_gets_a_live_table_of_the_steps(gateway: Gateway) -> None:
    release = gateway.worker.hold("held")
    primary, secondary = pty.openpty()
    fcntl.ioctl(secondary, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 160, 0, 0))
    env = clean_env(MODALINE_URL=gateway.url)
    env.pop("COLUMNS")
    process = subprocess.Popen(
        [str(modaline_executable()), "run", "hold", "--text", "t", "--wait"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=secondary,
        text=True,
    )
    os.close(secondary)
    screen = Collected()

    def read() -> None:
        while True:
            try:
                data = os.read(primary, 65536)
            except OSError:  # EIO: the terminal's other side closed
                break
            if not data:
                break
            screen.add(ANSI.sub("", data.decode(errors="replace")))
        screen.finish()

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        screen.wait_for(lambda text: re.search(r"held\s+llm\s+\S+ running", text) is not None)
        assert re.search(r"first\s+llm\s+succeeded", screen.text)
    finally:
        release()
    out, _ = process.communicate(timeout=120)
    reader.join(30)
    os.close(primary)
    assert process.returncode == 0
    assert out == "text: t>first>held\n"  # results stay on standard output, plain
    final = screen.text
    assert re.search(r"job [0-9a-f]{32} · hold · succeeded", final)
    assert re.search(r"step\s+worker\s+status\s+time", final)
    assert re.search(r"held\s+llm\s+succeeded\s+\d+\.\d s", final)


class CuttingProxy:
    """A TCP proxy to the gateway that cuts the first event stream once one whole event has passed,
    and keeps every request's bytes (to read the headers the CLI sent)."""

    def __init__(self, upstream_port: int) -> None:
        self.upstream_port = upstream_port
        self.server = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.server.getsockname()[1]}"
        self.requests = Collected()
        self.cut = threading.Event()
        threading.Thread(target=self._accept, daemon=True).start()

    def close(self) -> None:
        self.server.close()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.server.accept()
            except OSError:
                return
            upstream = socket.create_connection(("127.0.0.1", self.upstream_port))
            streaming = threading.Event()
            threading.Thread(target=self._up, args=(client, upstream, streaming), daemon=True).start()
            threading.Thread(target=self._down, args=(upstream, client, streaming), daemon=True).start()

    def _up(self, client: socket.socket, upstream: socket.socket, streaming: threading.Event) -> None:
        while data := _recv(client):
            if b"/events HTTP/1.1" in data:
                streaming.set()
            self.requests.add(data.decode(errors="replace"))
            upstream.sendall(data)
        _close(upstream)

    def _down(self, upstream: socket.socket, client: socket.socket, streaming: threading.Event) -> None:
        seen = b""
        while data := _recv(upstream):
            client.sendall(data)
            if streaming.is_set() and not self.cut.is_set():
                seen += data
                if re.search(rb"data: \{.*?\r?\n\r?\n", seen, re.DOTALL):
                    self.cut.set()
                    break
        _close(client)
        _close(upstream)


def _recv(sock: socket.socket) -> bytes:
    try:
        return sock.recv(65536)
    except OSError:
        return b""


def _close(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)
    sock.close()


def _stream_requests(text: str) -> list[str]:
    return re.findall(r"GET /v1/jobs/[0-9a-f]+/events HTTP/1.1\r\n.*?\r\n\r\n", text, re.DOTALL)


def test_a_cut_event_stream_is_reopened_after_the_last_event_seen(gateway: Gateway) -> None:
    release = gateway.worker.hold("held")
    proxy = CuttingProxy(int(gateway.url.rsplit(":", 1)[1]))
    # no Prefer: wait (a held job would keep the submit for a minute): the events from the start
    process = gateway.popen(
        "run", "hold", "--text", "r", "--wait", url=proxy.url, env={"MODALINE_PREFER_WAIT": "0"}
    )
    try:
        proxy.requests.wait_for(lambda text: len(_stream_requests(text)) >= 2)
    finally:
        release()
    out, err = process.communicate(timeout=120)
    proxy.close()
    assert process.returncode == 0, err
    assert out == "text: r>first>held\n"
    first, second = _stream_requests(proxy.requests.text)[:2]
    assert "last-event-id" not in first.lower()
    resumed = re.search(r"(?im)^last-event-id: (\d+)\r$", second)
    assert resumed, second
    assert f"connection lost; reconnecting after event {resumed.group(1)}…" in err
    lines = err.splitlines()
    for step in ("step first (llm) running", "step first (llm) succeeded", "step held (llm) running"):
        assert sum(line.startswith(step) for line in lines) == 1, err  # nothing shown twice, nothing lost
    assert sum(line.startswith("job ") and " succeeded in " in line for line in lines) == 1


def _event(seq: int, kind: str, step: str | None = None, **extra: object) -> dict[str, object]:
    return {"seq": seq, "job_id": "j", "type": kind, "step_id": step, "at": "2026-12-01T10:00:00Z", **extra}


def test_map_items_the_board_has_not_seen_become_rows_under_their_step() -> None:
    board = StepBoard(
        {
            "id": "j",
            "pipeline": "story",
            "status": "running",
            "steps": [
                {"id": "plan", "worker": "llm", "status": "succeeded"},
                {"id": "draw", "worker": "image", "status": "pending"},
                {"id": "join", "worker": "image", "status": "pending"},
            ],
        }
    )
    board.apply(_event(1, "step.running", "draw[1]", attempt=1))
    board.apply(_event(2, "step.running", "draw[0]", attempt=1))
    board.apply(_event(3, "step.succeeded", "draw[1]"))
    board.apply(_event(4, "step.delta", "draw[0]", detail="a token"))  # a type this CLI does not know
    board.apply(_event(5, "step.retrying", "draw[0]", detail="busy", attempt=1))
    assert [row.id for row in board.rows] == ["plan", "draw", "draw[1]", "draw[0]", "join"]
    rows = {row.id: row for row in board.rows}
    assert rows["draw[1]"].worker == "image" and rows["draw[1]"].status == "succeeded"
    assert rows["draw[0]"].status == "retrying" and rows["draw[0]"].detail == "busy"
    board.apply(_event(6, "job.failed"))
    assert board.status == "failed"


def test_plain_lines_name_each_change_and_skip_unknown_events() -> None:
    console = Console(record=True, width=200, file=io.StringIO())
    board = StepBoard(
        {"id": "j", "pipeline": "p", "status": "queued", "steps": [{"id": "a", "worker": "llm"}]}
    )
    progress = LineProgress(board, console)
    with progress:
        progress.event(_event(1, "job.running"))
        progress.event(_event(2, "step.running", "a", attempt=1))
        progress.event(_event(3, "step.retrying", "a", detail="upstream busy", attempt=1))
        progress.event(_event(4, "step.running", "a", attempt=2))
        progress.event(_event(5, "something.new", "a"))
        progress.event(_event(6, "step.failed", "a", detail="Bad input: [/x] no"))  # not markup
        progress.event(_event(7, "step.running", "b[3]", attempt=1))
        progress.event(_event(8, "job.failed"))
    assert console.export_text().splitlines() == [
        "job j (p): queued",
        "job running",
        "step a (llm) running",
        "step a (llm) will retry: upstream busy",
        "step a (llm) running, attempt 2",
        "step a (llm) failed: Bad input: [/x] no",
        "step b[3] running",
        "job failed",
    ]


def test_run_wait_gets_a_short_job_in_one_answer(gateway: Gateway) -> None:
    proxy = CuttingProxy(int(gateway.url.rsplit(":", 1)[1]))
    process = gateway.popen("run", "hold", "--text", "one", "--wait", url=proxy.url)
    out, err = process.communicate(timeout=120)
    proxy.close()
    assert process.returncode == 0, err
    assert out == "text: one>first>held\n"
    sent = proxy.requests.text
    posts = re.findall(r"POST /v1/jobs HTTP/1.1\r\n.*?\r\n\r\n", sent, re.DOTALL)
    assert len(posts) == 1 and re.search(r"(?im)^prefer: wait=60\r$", posts[0]), sent
    assert not _stream_requests(sent) and not re.search(r"GET /v1/jobs/[0-9a-f]+ ", sent)  # nothing more
    lines = err.splitlines()
    assert re.fullmatch(r"job [0-9a-f]{32} \(hold\): succeeded", lines[0]), err  # it had ended already
    assert re.match(r"step first \(llm\) succeeded in \d", lines[1]) and lines[2].startswith("step held")
    assert not any(" running" in line for line in lines)


def test_run_wait_follows_the_events_when_the_wait_runs_out(gateway: Gateway) -> None:
    release = gateway.worker.hold("held")
    proxy = CuttingProxy(int(gateway.url.rsplit(":", 1)[1]))
    proxy.cut.set()  # pass every stream through whole
    process = gateway.popen(
        "run", "hold", "--text", "w", "--wait", url=proxy.url, env={"MODALINE_PREFER_WAIT": "1"}
    )
    try:
        proxy.requests.wait_for(lambda text: len(_stream_requests(text)) >= 1)  # 202 after 1 s: events
    finally:
        release()
    out, err = process.communicate(timeout=120)
    proxy.close()
    assert process.returncode == 0, err
    assert out == "text: w>first>held\n"
    assert re.search(r"(?im)^prefer: wait=1\r$", proxy.requests.text)
    lines = err.splitlines()
    assert lines[0].endswith("(hold): running") and "step held (llm) succeeded" in err
    assert lines[-1].startswith("job ") and " succeeded in " in lines[-1]
