"""Showing a job's steps as its events arrive: a live Rich table on a terminal, one line per change
otherwise, nothing for ``--json``. Progress goes to standard error, so standard output keeps the results.

A map step's items (``draw[0]``, ``draw[1]`` …) appear only when the runner expands them: a step id the
board has not seen becomes a new row under its family, and event types it does not know are skipped.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from types import TracebackType
from typing import Any, Protocol

from rich.console import Console, Group
from rich.live import Live
from rich.spinner import Spinner
from rich.table import Table
from rich.text import Text

_STEP_STATUS = {
    "step.running": "running",
    "step.retrying": "retrying",
    "step.succeeded": "succeeded",
    "step.failed": "failed",
    "step.skipped": "skipped",
}
_JOB_STATUS = {
    "job.queued": "queued",
    "job.running": "running",
    "job.succeeded": "succeeded",
    "job.failed": "failed",
    "job.canceled": "canceled",
}
STYLE = {
    "pending": "dim",
    "queued": "dim",
    "running": "cyan",
    "retrying": "yellow",
    "succeeded": "green",
    "failed": "red",
    "skipped": "dim",
    "canceled": "yellow",
}
_ITEM = re.compile(r"^(?P<family>.+)\[(?P<index>\d+)\]$")


def parse_time(value: Any) -> datetime | None:
    """An API timestamp (ISO 8601) as an aware datetime, or None."""
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def seconds(value: float | None) -> str:
    """``1.234`` → ``1.2 s``; ``75`` → ``1 min 15 s``."""
    if value is None:
        return ""
    if value < 60:
        return f"{value:.1f} s"
    minutes, rest = divmod(int(value), 60)
    return f"{minutes} min {rest} s"


def _error_text(error: Any) -> str:
    """A step's ``error`` of the job's answer as one phrase (``Title: detail``), or ""."""
    if not isinstance(error, dict):
        return ""
    title, detail = str(error.get("title") or ""), str(error.get("detail") or "")
    return f"{title}: {detail}" if title and detail else title or detail


@dataclass
class StepRow:
    """What the board knows of one step (or one map item)."""

    id: str
    worker: str = ""
    status: str = "pending"
    attempt: int = 0
    started: datetime | None = None
    finished: datetime | None = None
    detail: str = ""

    def elapsed(self, now: datetime) -> float | None:
        if self.started is None:
            return None
        end = self.finished or now
        return max((end - self.started).total_seconds(), 0.0)


class StepBoard:
    """The job's status and its steps, from the job's answer, kept current by its events."""

    def __init__(self, job: dict[str, Any]) -> None:
        self.job_id = str(job.get("id", ""))
        self.pipeline = str(job.get("pipeline", ""))
        self.status = str(job.get("status", "queued"))
        self.note = ""
        self.rows: list[StepRow] = [
            StepRow(
                id=str(step.get("id")),
                worker=str(step.get("worker") or ""),
                status=str(step.get("status") or "pending"),
                attempt=int(step.get("attempts") or 0),
                started=parse_time(step.get("started_at")),
                finished=parse_time(step.get("finished_at")),
                detail=_error_text(step.get("error")),
            )
            for step in job.get("steps") or []
            if isinstance(step, dict)
        ]

    def row(self, step_id: str) -> StepRow:
        """The row of ``step_id``, made (after its family's rows) if the board has not seen it yet."""
        for row in self.rows:
            if row.id == step_id:
                return row
        match = _ITEM.match(step_id)
        family = match.group("family") if match else step_id
        worker = next((r.worker for r in self.rows if r.id == family), "")
        new = StepRow(id=step_id, worker=worker)
        place = max(
            (i for i, r in enumerate(self.rows) if r.id == family or r.id.startswith(f"{family}[")),
            default=len(self.rows) - 1,
        )
        self.rows.insert(place + 1, new)
        return new

    def apply(self, event: dict[str, Any]) -> StepRow | None:
        """Take one event into account; the step row it changed, if any."""
        kind = event.get("type")
        self.note = ""
        at = parse_time(event.get("at"))
        if kind in _JOB_STATUS:
            self.status = _JOB_STATUS[kind]
            return None
        step_id = event.get("step_id")
        if kind not in _STEP_STATUS or not isinstance(step_id, str):
            return None  # an event type this CLI does not know: nothing to draw
        row = self.row(step_id)
        row.status = _STEP_STATUS[kind]
        row.detail = str(event.get("detail") or "")
        if isinstance(event.get("attempt"), int):
            row.attempt = event["attempt"]
        if kind == "step.running":
            row.started, row.finished = row.started or at, None
        elif kind != "step.retrying":
            row.finished = at
        return row

    def table(self) -> Table:
        now = datetime.now(UTC)
        table = Table(box=None, pad_edge=False, show_header=True, header_style="bold")
        table.add_column("step", no_wrap=True)
        table.add_column("worker", no_wrap=True)
        table.add_column("status", no_wrap=True)
        table.add_column("time", justify="right", no_wrap=True)
        table.add_column("")
        for row in self.rows:
            status: Any = Text(row.status, style=STYLE.get(row.status, ""))
            if row.status == "running":
                status = Spinner("dots", text=Text(row.status, style="cyan"), style="cyan")
            attempt = f" (attempt {row.attempt})" if row.attempt > 1 else ""
            table.add_row(
                row.id,
                row.worker,
                status,
                seconds(row.elapsed(now)),
                Text(f"{row.detail}{attempt}", style="dim", overflow="ellipsis", no_wrap=True),
            )
        return table

    def render(self) -> Group:
        head = Text.assemble(
            ("job ", "bold"),
            (self.job_id, "bold"),
            f" · {self.pipeline} · ",
            (self.status, STYLE.get(self.status, "")),
        )
        parts: list[Any] = [head, self.table()]
        if self.note:
            parts.append(Text(self.note, style="yellow"))
        return Group(*parts)


class Progress(Protocol):
    """What the commands tell a progress display."""

    def __enter__(self) -> Progress: ...
    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None: ...
    def event(self, event: dict[str, Any]) -> None: ...
    def reconnecting(self, last_seq: int) -> None: ...


class NoProgress:
    """``--json``: nothing on the terminal."""

    def __enter__(self) -> NoProgress:
        return self

    def __exit__(self, *_: object) -> None:
        return None

    def event(self, event: dict[str, Any]) -> None:
        return None

    def reconnecting(self, last_seq: int) -> None:
        return None


class LiveProgress:
    """A terminal: the board redrawn in place (spinners, running times) until the job ends."""

    def __init__(self, board: StepBoard, console: Console) -> None:
        self.board = board
        self._live = Live(get_renderable=board.render, console=console, refresh_per_second=8, transient=False)

    def __enter__(self) -> LiveProgress:
        self._live.__enter__()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._live.__exit__(kind, exc, tb)

    def event(self, event: dict[str, Any]) -> None:
        before = self.board.status
        if self.board.apply(event) is not None or self.board.status != before:
            self._live.refresh()  # at once for a change; the clock and spinners redraw 8 times a second

    def reconnecting(self, last_seq: int) -> None:
        self.board.note = f"connection lost; reconnecting after event {last_seq}…"
        self._live.refresh()


class LineProgress:
    """Not a terminal (a pipe, a log): one plain line per change, nothing redrawn."""

    def __init__(self, board: StepBoard, console: Console) -> None:
        self.board = board
        self.console = console

    def __enter__(self) -> LineProgress:
        self.console.print(
            f"job {self.board.job_id} ({self.board.pipeline}): {self.board.status}",
            highlight=False,
            markup=False,
        )
        return self

    def __exit__(self, *_: object) -> None:
        return None

    def event(self, event: dict[str, Any]) -> None:
        before = self.board.status
        row = self.board.apply(event)
        if row is not None:
            self.console.print(_step_line(row), highlight=False, markup=False)
        elif self.board.status != before:
            self.console.print(f"job {self.board.status}", highlight=False, markup=False)

    def reconnecting(self, last_seq: int) -> None:
        self.console.print(
            f"connection lost; reconnecting after event {last_seq}…", highlight=False, markup=False
        )


def _step_line(row: StepRow) -> str:
    who = f"step {row.id}" + (f" ({row.worker})" if row.worker else "")
    if row.status == "running":
        return f"{who} running" + (f", attempt {row.attempt}" if row.attempt > 1 else "")
    if row.status == "retrying":
        return f"{who} will retry: {row.detail}" if row.detail else f"{who} will retry"
    took = seconds(row.elapsed(datetime.now(UTC)))
    line = f"{who} {row.status}" + (f" in {took}" if took and row.status == "succeeded" else "")
    return f"{line}: {row.detail}" if row.detail else line


def progress_for(board: StepBoard, console: Console, *, quiet: bool) -> Progress:
    """The display that fits: none when quiet (``--json``), live on a terminal, lines otherwise."""
    if quiet:
        return NoProgress()
    if console.is_terminal and not console.is_dumb_terminal:
        return LiveProgress(board, console)
    return LineProgress(board, console)


def show_ended(board: StepBoard, console: Console, *, quiet: bool) -> None:
    """A job that had already ended when its answer came (``Prefer: wait``): its board once, as it ended
    (the table on a terminal, one line per step otherwise, nothing when quiet)."""
    if quiet:
        return
    if console.is_terminal and not console.is_dumb_terminal:
        console.print(board.render())
        return
    console.print(f"job {board.job_id} ({board.pipeline}): {board.status}", highlight=False, markup=False)
    for row in board.rows:
        line = _step_line(row)
        attempt = f" (attempt {row.attempt})" if row.attempt > 1 and row.status != "running" else ""
        console.print(line + attempt, highlight=False, markup=False)
