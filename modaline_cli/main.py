"""The ``modaline`` command: its groups and sub-commands. The work is in the modules beside it."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click
from rich.markup import escape

from modaline_cli.client import Client
from modaline_cli.downloads import download, save_outputs
from modaline_cli.errors import ApiError, CliError, ExitCode
from modaline_cli.options import Options, common_options
from modaline_cli.output import (
    Output,
    job_summary,
    jobs_table,
    keys_table,
    output_lines,
    pipelines_table,
    print_job,
)
from modaline_cli.run import RunGroup
from modaline_cli.watching import exit_code_for, watch_job

JOB_STATUSES = ("queued", "running", "succeeded", "failed", "canceled")

EPILOG = """\b
Environment: MODALINE_URL (default http://127.0.0.1:8000), MODALINE_API_KEY.
Exit codes: 0 ok; 1 a waited-for job failed or was canceled; 2 a mistake in the
command or inputs; 3 the gateway cannot be reached; 4 no key, a wrong key or
a missing scope; 5 the gateway failed or is limiting you; 130 interrupted.
"""


def _options(ctx: click.Context) -> Options:
    return ctx.find_object(Options) or Options()


def _session(ctx: click.Context) -> tuple[Client, Output]:
    options = _options(ctx)
    return Client(options.connection()), Output(json_mode=options.json)


class ModalineGroup(click.Group):
    """The top-level group: every ``CliError`` of any command is printed here, once, and exits."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except CliError as exc:
            _report(ctx, exc)
            ctx.exit(int(exc.code))


def _report(ctx: click.Context, error: CliError) -> None:
    if _options(ctx).json:
        sys.stderr.write(json.dumps(error.as_json(), ensure_ascii=False) + "\n")
    else:
        Output(json_mode=False).err.print(f"[red]error:[/] {escape(error.message)}", highlight=False)


@click.group(cls=ModalineGroup, epilog=EPILOG, context_settings={"help_option_names": ["-h", "--help"]})
@common_options(top=True)
@click.version_option(package_name="modaline", prog_name="modaline")
def cli() -> None:
    """Run Modaline pipelines and manage jobs, files and keys from a terminal.

    \b
      modaline pipelines
      modaline run text_to_speech --text "Hello" --out results/
      modaline run speech_to_image --audio voice.wav --wait
      modaline jobs list --status failed
    """


@cli.command()
@common_options(top=False)
@click.pass_context
def pipelines(ctx: click.Context) -> None:
    """List the pipelines this gateway runs, with their inputs."""
    client, output = _session(ctx)
    with client:
        items = client.pipelines()
    if output.json_mode:
        output.json({"items": items})
    else:
        output.out.print(pipelines_table(items))
        output.note("run one with `modaline run NAME --help` to see its options")


@cli.group(cls=RunGroup, epilog="Pipelines are read from the gateway: `modaline pipelines` lists them.")
@common_options(top=False)
def run() -> None:
    """Run a pipeline: one --<input> option per input of the pipeline (a path for an image or audio
    input uploads the file). Without --wait, prints the new job's id."""


@cli.group()
@common_options(top=False)
def jobs() -> None:
    """List, show, follow, cancel and delete jobs."""


@jobs.command("list")
@click.option("--status", type=click.Choice(JOB_STATUSES), help="Only jobs with this status.")
@click.option("--pipeline", metavar="NAME", help="Only jobs of this pipeline.")
@click.option("--limit", type=click.IntRange(1, 200), default=20, show_default=True, help="Jobs per page.")
@click.option(
    "--cursor", metavar="CURSOR", help="Start at this page (the `next_cursor` of the previous one)."
)
@click.option("--all", "every", is_flag=True, help="Follow every page to the end.")
@common_options(top=False)
@click.pass_context
def jobs_list(
    ctx: click.Context, status: str | None, pipeline: str | None, limit: int, cursor: str | None, every: bool
) -> None:
    """The tenant's jobs, newest first."""
    client, output = _session(ctx)
    items: list[dict[str, Any]] = []
    with client:
        while True:
            page = client.jobs(status=status, pipeline=pipeline, limit=limit, cursor=cursor)
            items.extend(page.get("items") or [])
            cursor = page.get("next_cursor")
            if not (every and cursor):
                break
    if output.json_mode:
        output.json({"items": items, "next_cursor": cursor})
        return
    output.out.print(jobs_table(items))
    if cursor:
        output.note(f"more: modaline jobs list --cursor {cursor}" + _filters(status, pipeline, limit))


def _filters(status: str | None, pipeline: str | None, limit: int) -> str:
    parts = [f" --status {status}" if status else "", f" --pipeline {pipeline}" if pipeline else ""]
    return "".join(parts) + (f" --limit {limit}" if limit != 20 else "")


@jobs.command("show")
@click.argument("job_id")
@common_options(top=False)
@click.pass_context
def jobs_show(ctx: click.Context, job_id: str) -> None:
    """One job: its status, steps and outputs."""
    client, output = _session(ctx)
    with client:
        job = client.job(job_id)
    if output.json_mode:
        output.json(job)
    else:
        print_job(output, job)


@jobs.command("watch")
@click.argument("job_id")
@click.option(
    "--out",
    type=click.Path(file_okay=False, writable=True, path_type=Path),
    metavar="DIR",
    help="When it ends, save every output into DIR.",
)
@common_options(top=False)
@click.pass_context
def jobs_watch(ctx: click.Context, job_id: str, out: Path | None) -> None:
    """Follow a job live until it ends (exit 1 if it fails or is canceled). With --json, every event
    as one JSON line."""
    client, output = _session(ctx)
    with client:
        final = watch_job(client, output, client.job(job_id), events_json=output.json_mode)
        saved = save_outputs(client, final.get("outputs") or {}, out) if out else {}
    if not output.json_mode:
        style = "green" if final.get("status") == "succeeded" else "red"
        output.err.print(f"[{style}]{escape(job_summary(final))}[/]", highlight=False)
        for line in output_lines(final.get("outputs") or {}, saved):
            output.out.print(line, highlight=False, markup=False)
    ctx.exit(exit_code_for(final))


@jobs.command("cancel")
@click.argument("job_id")
@common_options(top=False)
@click.pass_context
def jobs_cancel(ctx: click.Context, job_id: str) -> None:
    """Cancel a queued or running job: no further step starts and the running one is aborted."""
    client, output = _session(ctx)
    with client:
        job = client.cancel(job_id)
    if output.json_mode:
        output.json(job)
    else:
        output.out.print(
            f"job {job_id}: cancel requested, now {job.get('status')}", highlight=False, markup=False
        )


@jobs.command("delete")
@click.argument("job_ids", metavar="JOB_ID...", nargs=-1, required=True)
@common_options(top=False)
@click.pass_context
def jobs_delete(ctx: click.Context, job_ids: tuple[str, ...]) -> None:
    """Delete finished jobs with their steps, events, outputs and the uploads only they use. A queued
    or running job is refused: cancel it first. Every id is tried; the exit code is the first failure's."""
    client, output = _session(ctx)
    deleted: list[str] = []
    failed: list[tuple[str, CliError]] = []
    with client:
        for job_id in dict.fromkeys(job_ids):
            try:
                client.delete_job(job_id)
            except ApiError as exc:
                failed.append((job_id, _delete_error("job", job_id, exc)))
                continue
            deleted.append(job_id)
            output.note(f"deleted job {job_id}")
    if output.json_mode:
        output.json({"deleted": deleted, "failed": [{"id": i, **e.as_json()} for i, e in failed]})
    else:
        for _, error in failed:
            _report(ctx, error)
    if failed:
        ctx.exit(int(failed[0][1].code))


@cli.group()
@common_options(top=False)
def files() -> None:
    """Download and delete files (uploads and outputs)."""


@files.command("get")
@click.argument("file_id")
@click.option(
    "-o",
    "--output",
    "target",
    type=click.Path(path_type=Path, allow_dash=True),
    metavar="PATH",
    help="Where to save it: a file, a directory, or - for standard output. "
    "Default: the current directory, named after the file.",
)
@common_options(top=False)
@click.pass_context
def files_get(ctx: click.Context, file_id: str, target: Path | None) -> None:
    """Download one file, streamed and checked against its SHA-256."""
    client, output = _session(ctx)
    directory = None
    if target is not None and str(target) != "-" and target.is_dir():
        directory, target = target, None
    with client:
        saved = download(client, file_id, target, directory=directory)
    if output.json_mode and saved.path != "-":
        output.json(saved.as_json())
    elif saved.path != "-":
        output.out.print(saved.path, highlight=False, markup=False)
        output.note(f"{saved.bytes} bytes, {saved.content_type}")


@files.command("delete")
@click.argument("file_id")
@common_options(top=False)
@click.pass_context
def files_delete(ctx: click.Context, file_id: str) -> None:
    """Delete an upload no job uses (a job's inputs and outputs go when the job is deleted)."""
    client, output = _session(ctx)
    with client:
        try:
            client.delete_file(file_id)
        except ApiError as exc:
            raise _delete_error("file", file_id, exc) from None
    if output.json_mode:
        output.json({"deleted": [file_id]})
    else:
        output.note(f"deleted file {file_id}")


def _delete_error(kind: str, item_id: str, exc: ApiError) -> CliError:
    """A refused delete in plain words: what to do instead for a 409, which id for a 404."""
    if exc.status == 409 and kind == "job":
        exc.message = (
            f"job {item_id} is queued or running and cannot be deleted: cancel it first "
            f"(`modaline jobs cancel {item_id}`), then delete it"
        )
    elif exc.status == 409:
        exc.message = (
            f"file {item_id} is an input or an output of a job and cannot be deleted on its own: "
            "delete the job (`modaline jobs delete JOB_ID`) and its files go with it"
        )
    elif exc.status == 404:
        exc.message = f"no {kind} {item_id} (it may have been deleted already)"
    else:
        exc.message = f"{kind} {item_id}: {exc.message}"
    return exc


@cli.group()
@common_options(top=False)
def keys() -> None:
    """Create, list and revoke API keys (needs an admin key)."""


@keys.command("create")
@click.option(
    "--scope",
    "scopes",
    multiple=True,
    required=True,
    metavar="SCOPE",
    help="jobs:read, jobs:write, files:write or admin; repeat for several.",
)
@click.option("--name", help="A label to tell the key apart.")
@click.option("--tenant", help="Operators only: the tenant the key belongs to (default: yours).")
@click.option("--expires-in-days", type=click.IntRange(1, 3650), help="The key stops working after this.")
@click.option("--operator", is_flag=True, help="Operators only: a key that manages every tenant.")
@common_options(top=False)
@click.pass_context
def keys_create(
    ctx: click.Context,
    scopes: tuple[str, ...],
    name: str | None,
    tenant: str | None,
    expires_in_days: int | None,
    operator: bool,
) -> None:
    """Create a key. Its secret is printed once, alone on standard output: keep it safe."""
    client, output = _session(ctx)
    body: dict[str, Any] = {"scopes": list(scopes)}
    for field, value in (("name", name), ("tenant", tenant), ("expires_in_days", expires_in_days)):
        if value is not None:
            body[field] = value
    if operator:
        body["operator"] = True
    with client:
        created = client.create_key(body)
    if output.json_mode:
        output.json(created)
        return
    output.note(
        f"created key {created['id']} ({created['prefix']}…) for tenant {created['tenant']} with "
        f"{', '.join(created['scopes'])}; the secret below is shown this once and cannot be read again:"
    )
    click.echo(created["secret"])


@keys.command("list")
@click.option("--tenant", help="Operators only: this tenant's keys (default: every tenant's).")
@common_options(top=False)
@click.pass_context
def keys_list(ctx: click.Context, tenant: str | None) -> None:
    """Keys, newest first: prefix, scopes, when created and last used, expiry, revocation."""
    client, output = _session(ctx)
    with client:
        items = client.keys(tenant=tenant)
    if output.json_mode:
        output.json({"items": items})
    else:
        output.out.print(keys_table(items))


@keys.command("revoke")
@click.argument("key_id")
@common_options(top=False)
@click.pass_context
def keys_revoke(ctx: click.Context, key_id: str) -> None:
    """Revoke a key (at once on the gateway that answers, within seconds on the others)."""
    client, output = _session(ctx)
    with client:
        key = client.revoke_key(key_id)
    if output.json_mode:
        output.json(key)
    else:
        output.out.print(f"revoked key {key['id']} ({key['prefix']}…)", highlight=False, markup=False)


def main() -> None:
    """The console script's entry point."""
    try:
        cli.main(prog_name="modaline")
    except KeyboardInterrupt:  # pragma: no cover - outside a watch, Ctrl-C just stops
        sys.exit(int(ExitCode.INTERRUPTED))


if __name__ == "__main__":  # pragma: no cover
    main()
