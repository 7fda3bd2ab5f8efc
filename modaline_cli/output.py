"""What the commands print: Rich tables for people, the API's own JSON for scripts (``--json``).

Results go to standard output; progress, notes and errors to standard error. In ``--json`` mode standard
output carries exactly one JSON document (or one per line for ``jobs watch``) and nothing is coloured.
"""

from __future__ import annotations

import json
import sys
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from modaline_cli.downloads import is_file
from modaline_cli.progress import STYLE, parse_time, seconds


class Output:
    """The two streams of one command run, and whether it speaks JSON."""

    def __init__(self, *, json_mode: bool) -> None:
        self.json_mode = json_mode
        self.out = Console(highlight=False, soft_wrap=True)
        self.err = Console(stderr=True, highlight=False, soft_wrap=True)

    def json(self, value: Any) -> None:
        """One JSON document on standard output (no colour, no wrapping)."""
        sys.stdout.write(json.dumps(value, ensure_ascii=False, indent=2) + "\n")
        sys.stdout.flush()

    def json_line(self, value: Any) -> None:
        """One JSON value on one line (NDJSON), flushed at once for a reader on a pipe."""
        sys.stdout.write(json.dumps(value, ensure_ascii=False, separators=(",", ":")) + "\n")
        sys.stdout.flush()

    def note(self, message: str) -> None:
        """A remark for a person (standard error; silent in ``--json`` mode)."""
        if not self.json_mode:
            self.err.print(message, highlight=False, markup=False)


def when(value: Any, *, exact: bool = False) -> str:
    """An API timestamp as local time, to the minute (``2026-12-01 14:03``) or the second."""
    moment = parse_time(value)
    return moment.astimezone().strftime("%Y-%m-%d %H:%M:%S" if exact else "%Y-%m-%d %H:%M") if moment else ""


def took(job: dict[str, Any]) -> str:
    start, end = parse_time(job.get("started_at")), parse_time(job.get("finished_at"))
    if start is None or end is None:
        return ""
    return seconds((end - start).total_seconds())


def _size(count: Any) -> str:
    if not isinstance(count, int):
        return ""
    if count < 1000:
        return f"{count} bytes"
    if count < 1_000_000:
        return f"{count / 1000:.1f} kB"
    return f"{count / 1_000_000:.1f} MB"


def status_text(status: str) -> Text:
    return Text(status, style=STYLE.get(status, ""))


def describe_input(name: str, spec: dict[str, Any]) -> str:
    """An input in a word or two, as a usage line writes it: ``text``, ``audio (file)``, ``[style]`` for
    an optional one."""
    shown = f"{name} (file)" if spec.get("type") in ("image", "audio") else name
    optional = not spec.get("required", True) or spec.get("default") is not None
    return f"[{shown}]" if optional else shown


def describe_output(name: str, spec: dict[str, Any]) -> str:
    return f"{name} (file)" if spec.get("type") in ("image", "audio") else name


def pipelines_table(items: list[dict[str, Any]]) -> Table:
    table = Table(show_lines=False, header_style="bold")
    table.add_column("name", no_wrap=True, style="bold")
    table.add_column("title")
    table.add_column("inputs")
    table.add_column("outputs")
    for item in items:
        inputs = item.get("inputs") or {}
        outputs = item.get("outputs") or {}
        table.add_row(
            escape(str(item.get("name", ""))),
            escape(str(item.get("title", ""))),
            escape(", ".join(describe_input(name, spec) for name, spec in inputs.items())),
            escape(", ".join(describe_output(name, spec) for name, spec in outputs.items())),
        )
    return table


def _id_column(table: Table, name: str = "id") -> None:
    """An id column that is never cut or wrapped: ids are what people copy into the next command."""
    table.add_column(name, no_wrap=True, min_width=32, overflow="ignore")


def jobs_table(items: list[dict[str, Any]]) -> Table:
    table = Table(header_style="bold", box=None, pad_edge=False)
    _id_column(table)
    table.add_column("pipeline", overflow="fold")
    table.add_column("status", no_wrap=True)
    table.add_column("created", no_wrap=True)
    table.add_column("took", justify="right", no_wrap=True)
    for job in items:
        table.add_row(
            str(job.get("id", "")),
            escape(str(job.get("pipeline", ""))),
            status_text(str(job.get("status", ""))),
            when(job.get("created_at")),
            took(job),
        )
    return table


def steps_table(job: dict[str, Any]) -> Table:
    table = Table(header_style="bold", box=None, pad_edge=False)
    for name in ("step", "worker", "status", "attempts", "time", "backend"):
        table.add_column(name, no_wrap=True, justify="right" if name in ("attempts", "time") else "left")
    table.add_column("error")
    for step in job.get("steps") or []:
        duration = step.get("duration_ms")
        backend = " ".join(str(part) for part in (step.get("backend"), step.get("model")) if part)
        if step.get("placeholder"):
            backend += " (placeholder, not AI)"
        error = step.get("error") or {}
        table.add_row(
            escape(str(step.get("id", ""))),
            escape(str(step.get("worker", ""))),
            status_text(str(step.get("status", ""))),
            str(step.get("attempts", "")),
            seconds(duration / 1000) if isinstance(duration, int | float) else "",
            escape(backend),
            escape(f"{error.get('title', '')}: {error.get('detail', '')}".strip(": ")) if error else "",
        )
    return table


def output_lines(outputs: dict[str, Any], saved: dict[str, Any] | None = None) -> list[str]:
    """One line (or block) per output: text as it is, files by type and size with where they went or how
    to fetch them."""
    lines = []
    for name, value in outputs.items():
        where = (saved or {}).get(name)
        if is_file(value):
            fact = f"{value['content_type']}, {_size(value.get('bytes'))}"
            how = f"saved to {where}" if where else f"modaline files get {value['id']}"
            lines.append(f"{name}: {how} ({fact})")
        elif isinstance(value, list) and value and all(is_file(item) for item in value):
            paths = (
                where if isinstance(where, list) else [f"modaline files get {item['id']}" for item in value]
            )
            lines.append(f"{name}: {len(value)} files")
            lines.extend(f"  {path}" for path in paths)
        elif isinstance(value, str):
            lines.append(f"{name}: {value}")
        elif value is not None:
            lines.append(f"{name}: {json.dumps(value, ensure_ascii=False)}")
    return lines


def job_summary(job: dict[str, Any]) -> str:
    """``job 3f… succeeded in 1.2 s`` or ``job 3f… failed: <why>``."""
    status = str(job.get("status", ""))
    head = f"job {job.get('id', '')} {status}"
    if status == "succeeded":
        duration = took(job)
        return f"{head} in {duration}" if duration else head
    error = job.get("error") or {}
    if error:
        where = f" at step {error['step_id']}" if error.get("step_id") else ""
        detail = error.get("detail") or ""
        return f"{head}{where}: {error.get('title', '')}" + (f": {detail}" if detail else "")
    return head


def print_job(output: Output, job: dict[str, Any]) -> None:
    """``jobs show``: the job's facts, its steps, its outputs."""
    output.out.print(Text.assemble(("job ", "bold"), (str(job.get("id", "")), "bold")))
    facts = [
        ("pipeline", escape(str(job.get("pipeline", "")))),
        ("status", f"[{STYLE.get(str(job.get('status')), '')}]{job.get('status', '')}[/]"),
        ("created", when(job.get("created_at"), exact=True)),
        ("finished", when(job.get("finished_at"), exact=True)),
        ("took", took(job)),
    ]
    for label, value in facts:
        if value:
            output.out.print(f"  {label:<9} {value}", highlight=False)
    error = job.get("error")
    if error:
        output.out.print(f"  [red]error[/]     {escape(job_summary(job))}")
    output.out.print(steps_table(job))
    outputs = job.get("outputs") or {}
    if outputs:
        output.out.print(Text("outputs", style="bold"))
        for line in output_lines(outputs):
            output.out.print(f"  {escape(line)}", highlight=False)


def _key_state(key: dict[str, Any]) -> Text:
    if key.get("revoked_at"):
        return Text(f"revoked {when(key['revoked_at'])}", style="red")
    if key.get("expires_at"):
        return Text(f"expires {when(key['expires_at'])}")
    return Text("active", style="green")


def keys_table(items: list[dict[str, Any]]) -> Table:
    """Keys by prefix (never a secret: the API does not have them), scopes, last use and state."""
    table = Table(header_style="bold", box=None, pad_edge=False)
    _id_column(table)
    table.add_column("prefix", no_wrap=True)
    for name in ("tenant", "name", "scopes", "last used", "state"):
        table.add_column(name, overflow="fold")
    for key in items:
        scopes = ", ".join(key.get("scopes") or [])
        if key.get("operator"):
            scopes = f"operator, {scopes}" if scopes else "operator"
        table.add_row(
            str(key.get("id", "")),
            escape(str(key.get("prefix", ""))) + "…",
            escape(str(key.get("tenant", ""))),
            escape(str(key.get("name") or "")),
            escape(scopes),
            when(key.get("last_used_at")) or "never",
            _key_state(key),
        )
    return table
