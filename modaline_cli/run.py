"""``modaline run PIPELINE --<input> … [--wait] [--out DIR]``: one sub-command per pipeline, built from
the pipeline's input schema as the gateway answers it (``GET /v1/pipelines/{name}``).

So ``modaline run speech_to_image --help`` lists ``--audio``, and a pipeline added on the gateway is
runnable at once. The gateway checks and coerces every value; its problem answer is shown with the
options' own names (``--text: is required``). An image or audio input takes a path, uploaded with the job
in one multipart request.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import click
from rich.markup import escape

from modaline_cli.client import Client
from modaline_cli.downloads import save_outputs
from modaline_cli.errors import ApiError, CliError, ExitCode
from modaline_cli.options import Options, common_options, peek_options
from modaline_cli.output import Output, job_summary, output_lines
from modaline_cli.watching import exit_code_for, watch_job

FILE_TYPES = ("image", "audio")
#: ``--wait`` without a terminal (a script, a pipe, ``--json``) submits with ``Prefer: wait=`` this many
#: seconds (the gateway's cap): a job that ends within it needs that one request. On a terminal the live
#: board follows the events from the start instead (a silent minute would hide the progress).
#: ``MODALINE_PREFER_WAIT`` changes it (0: follow the events at once everywhere).
PREFER_WAIT = 60
#: Names the run command uses itself: an input with one of them is given as ``--input-<name>``.
RESERVED = frozenset({"wait", "out", "json", "url", "key", "help", "idempotency_key", "idempotency-key"})
_METAVAR = {
    "text": "TEXT",
    "choice": "CHOICE",
    "integer": "INTEGER",
    "number": "NUMBER",
    "boolean": "true|false",
    "image": "FILE",
    "audio": "FILE",
}


def flags_for(name: str) -> list[str]:
    """``reply_text`` → ``--reply_text`` and ``--reply-text``; a reserved name → ``--input-<name>``."""
    dashed = name.replace("_", "-")
    if name in RESERVED or dashed in RESERVED:
        return [f"--input-{dashed}"]
    return list(dict.fromkeys([f"--{name}", f"--{dashed}"]))


def _help_for(spec: dict[str, Any]) -> str:
    kind = str(spec.get("type", ""))
    parts = [str(spec.get("title") or "").rstrip(".")]
    if spec.get("description"):
        parts.append(str(spec["description"]).rstrip("."))
    facts = []
    if spec.get("choices"):
        facts.append("one of " + ", ".join(map(str, spec["choices"])))
    if spec.get("default") is not None:
        facts.append(f"default {spec['default']}")
    elif spec.get("required", True):
        facts.append("required")
    if spec.get("max_length"):
        facts.append(f"at most {spec['max_length']} characters")
    if spec.get("minimum") is not None:
        facts.append(f"at least {spec['minimum']:g}")
    if spec.get("maximum") is not None:
        facts.append(f"at most {spec['maximum']:g}")
    if kind in FILE_TYPES:
        facts.append("a path to upload")
        if spec.get("accept"):
            facts.append(", ".join(spec["accept"]))
        if spec.get("max_bytes"):
            facts.append(f"up to {spec['max_bytes'] / 1_000_000:.1f} MB")
    if kind == "text":
        facts.append("'-' reads standard input")
    text = ". ".join(part for part in parts if part)
    return f"{text} ({'; '.join(facts)})" if facts else text


def _input_option(name: str, spec: dict[str, Any]) -> click.Option:
    kind = str(spec.get("type", "text"))
    return click.Option(
        [f"input__{name}", *flags_for(name)],
        type=click.Path(exists=True, dir_okay=False, readable=True, path_type=Path)
        if kind in FILE_TYPES
        else click.STRING,
        default=None,
        metavar=_METAVAR.get(kind, "VALUE"),
        help=_help_for(spec),
    )


def pipeline_command(spec: dict[str, Any]) -> click.Command:
    """The ``run`` sub-command of one pipeline."""
    inputs: dict[str, dict[str, Any]] = spec.get("inputs") or {}
    name = str(spec.get("name", ""))

    def label(field: str) -> str:
        return flags_for(field)[-1] if field in inputs else field

    @click.pass_context
    def callback(
        ctx: click.Context, /, wait: bool, out: Path | None, idempotency_key: str | None, **given: Any
    ) -> None:
        values: dict[str, str] = {}
        files: dict[str, Path] = {}
        for param, value in given.items():
            if value is None or not param.startswith("input__"):
                continue
            input_name = param.removeprefix("input__")
            if isinstance(value, Path):
                files[input_name] = value
            else:
                values[input_name] = sys.stdin.read() if value == "-" else value
        options = ctx.find_object(Options) or Options()
        output = Output(json_mode=options.json)
        with Client(options.connection()) as client:
            job = client.submit(
                name,
                values,
                files,
                idempotency_key=idempotency_key,
                prefer_wait=prefer_wait() if (wait or out) and not _live(output) else None,
                field_label=label,
            )
            if not (wait or out):
                _queued(output, job)
                return
            final = watch_job(client, output, job)
            saved = save_outputs(client, final.get("outputs") or {}, out) if out else {}
        _finished(output, final, saved, out is not None)
        ctx.exit(exit_code_for(final))

    command = click.Command(
        name,
        callback=callback,
        params=[
            *(_input_option(input_name, input_spec) for input_name, input_spec in inputs.items()),
            click.Option(
                ["--wait/--no-wait"],
                default=False,
                help="Follow the job live until it ends (exit 1 if it fails or is canceled).",
            ),
            click.Option(
                ["--out"],
                type=click.Path(file_okay=False, writable=True, path_type=Path),
                metavar="DIR",
                help="Wait, then save every output into DIR (files as <output>.<ext>, text as <output>.txt).",
            ),
            click.Option(
                ["--idempotency-key"],
                metavar="KEY",
                help="Submitting again with the same key answers the same job instead of a new one.",
            ),
        ],
        help=f"{spec.get('title', name)}. {spec.get('description', '')}".strip(),
        short_help=str(spec.get("title") or name),
        no_args_is_help=False,
    )
    return common_options(top=False)(command)


def _live(output: Output) -> bool:
    """Whether progress is drawn live on a terminal (then the events are followed from the start)."""
    return not output.json_mode and output.err.is_terminal and not output.err.is_dumb_terminal


def prefer_wait() -> int:
    """Seconds of ``Prefer: wait`` for ``--wait``: ``MODALINE_PREFER_WAIT`` (0 to 60), else 60."""
    raw = os.environ.get("MODALINE_PREFER_WAIT", "").strip()
    if not raw:
        return PREFER_WAIT
    try:
        seconds = int(raw)
    except ValueError:
        raise CliError(
            f"MODALINE_PREFER_WAIT={raw!r} is not a whole number of seconds (0 to 60)", code=ExitCode.USAGE
        ) from None
    if not 0 <= seconds <= PREFER_WAIT:
        raise CliError(f"MODALINE_PREFER_WAIT={seconds} is not between 0 and 60", code=ExitCode.USAGE)
    return seconds


def _queued(output: Output, job: dict[str, Any]) -> None:
    if output.json_mode:
        output.json(job)
        return
    click.echo(job["id"])
    output.note(f"queued job {job['id']}: follow it with `modaline jobs watch {job['id']}`")


def _finished(output: Output, job: dict[str, Any], saved: dict[str, Any], with_out: bool) -> None:
    if output.json_mode:
        output.json({**job, "saved": saved} if with_out else job)
        return
    style = "green" if job.get("status") == "succeeded" else "red"
    output.err.print(f"[{style}]{escape(job_summary(job))}[/]", highlight=False)
    for line in output_lines(job.get("outputs") or {}, saved):
        output.out.print(line, highlight=False, markup=False)


class RunGroup(click.Group):
    """``run``: its sub-commands are the gateway's pipelines, fetched when needed."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._specs: dict[str, dict[str, Any]] = {}

    def _client(self, ctx: click.Context) -> Client:
        options = ctx.find_object(Options) or Options()
        return Client(options.connection())

    def list_commands(self, ctx: click.Context) -> list[str]:
        """For ``modaline run --help``: every pipeline, or none when the gateway cannot be asked."""
        try:
            with self._client(ctx) as client:
                for spec in client.pipelines():
                    self._specs[str(spec["name"])] = spec
        except CliError:
            return []
        return sorted(self._specs)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        spec = self._specs.get(cmd_name)
        if spec is None:
            try:
                with self._client(ctx) as client:
                    spec = client.pipeline(cmd_name)
            except ApiError as exc:
                if exc.status == 404:
                    raise CliError(
                        f"the gateway has no pipeline named {cmd_name!r}; `modaline pipelines` lists them",
                        code=ExitCode.USAGE,
                    ) from None
                raise
            self._specs[cmd_name] = spec
        return pipeline_command(spec)

    def resolve_command(
        self, ctx: click.Context, args: Sequence[str]
    ) -> tuple[str | None, click.Command | None, list[str]]:
        peek_options(ctx, args[1:])
        return super().resolve_command(ctx, list(args))
