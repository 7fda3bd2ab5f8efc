"""Following one job to its end with a progress display: shared by ``run --wait`` and ``jobs watch``."""

from __future__ import annotations

from typing import Any

from modaline_cli.client import Client
from modaline_cli.errors import CliError, ExitCode, Unreachable
from modaline_cli.events import follow_events
from modaline_cli.output import Output
from modaline_cli.progress import StepBoard, progress_for, show_ended

#: Job statuses after which nothing changes any more.
TERMINAL = frozenset({"succeeded", "failed", "canceled"})


def watch_job(
    client: Client, output: Output, job: dict[str, Any], *, events_json: bool = False
) -> dict[str, Any]:
    """Show ``job``'s progress until it ends; the job as it ended. ``events_json``: also print every
    event as one JSON line on standard output (``jobs watch --json``)."""
    job_id = str(job["id"])
    board = StepBoard(job)
    if job.get("status") in TERMINAL and not events_json:
        show_ended(board, output.err, quiet=output.json_mode)  # ended within a ``Prefer: wait``
        return job
    try:
        with progress_for(board, output.err, quiet=output.json_mode) as progress:
            for event in follow_events(client, job_id, on_reconnect=progress.reconnecting):
                if events_json:
                    output.json_line(event)
                progress.event(event)
    except Unreachable as exc:
        if job_id in exc.message:
            raise
        raise Unreachable(
            f"{exc.message.rstrip('.')}. Job {job_id} goes on: `modaline jobs watch {job_id}` follows it again."
        ) from None
    except KeyboardInterrupt:
        raise CliError(
            f"stopped watching; job {job_id} goes on (`modaline jobs watch {job_id}` follows it again, "
            f"`modaline jobs cancel {job_id}` stops it)",
            code=ExitCode.INTERRUPTED,
        ) from None
    return client.job(job_id)


def exit_code_for(job: dict[str, Any]) -> int:
    """0 for a job that succeeded, 1 for one that failed or was canceled."""
    return int(ExitCode.OK if job.get("status") == "succeeded" else ExitCode.JOB_FAILED)
