"""The options every command takes: where the gateway is (``--url`` / ``MODALINE_URL``), the key
(``--key`` / ``MODALINE_API_KEY``) and ``--json``.

They are accepted both before the command (``modaline --json jobs list``) and after it (``modaline jobs
list --json``); a value given later wins. The environment is read once, by the top-level options.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar
from urllib.parse import urlsplit

import click

from modaline_cli.client import DEFAULT_URL, Connection

F = TypeVar("F", bound=Callable[..., Any])


@dataclass
class Options:
    """The common options of one command run (``ctx.obj``); ``repr`` never shows the key."""

    url: str = DEFAULT_URL
    key: str | None = field(default=None, repr=False)
    json: bool = False

    def connection(self) -> Connection:
        return Connection(url=self.url, key=self.key)


def check_url(value: str) -> str:
    parts = urlsplit(value.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise click.BadParameter(
            f"{value!r} is not a gateway URL: it must start with http:// or https://, e.g. {DEFAULT_URL}",
            param_hint="'--url' / MODALINE_URL",
        )
    return value.strip()


def _store(name: str) -> Callable[[click.Context, click.Parameter, Any], None]:
    def callback(ctx: click.Context, _: click.Parameter, value: Any) -> None:
        options = ctx.ensure_object(Options)
        if value is None or value is False:
            return
        if name == "url":
            options.url = check_url(value)
        elif name == "key":
            options.key = value.strip() or None
        else:
            options.json = True

    return callback


def common_options(*, top: bool) -> Callable[[F], F]:
    """Add ``--url``, ``--key`` and ``--json`` to a command. ``top``: the top-level command, which also
    reads ``MODALINE_URL`` / ``MODALINE_API_KEY`` and shows the defaults in ``--help``."""

    def decorate(function: F) -> F:
        options = [
            click.option(
                "--url",
                envvar="MODALINE_URL" if top else None,
                default=DEFAULT_URL if top else None,
                show_default=top,
                show_envvar=top,
                metavar="URL",
                expose_value=False,
                callback=_store("url"),
                help="The gateway's address (or MODALINE_URL).",
            ),
            click.option(
                "--key",
                envvar="MODALINE_API_KEY" if top else None,
                show_envvar=top,
                metavar="KEY",
                expose_value=False,
                callback=_store("key"),
                help="API key mdl_… when the gateway has keys on (or MODALINE_API_KEY). Never printed.",
            ),
            click.option(
                "--json",
                "json_mode",
                is_flag=True,
                default=False,
                expose_value=False,
                callback=_store("json"),
                help="Print the API's JSON for scripts: no tables, no colour, no progress.",
            ),
        ]
        for option in reversed(options):
            function = option(function)
        return function

    return decorate


def peek_options(ctx: click.Context, args: Sequence[str]) -> None:
    """Take ``--url``/``--key``/``--json`` from arguments not parsed yet, so a command that must ask the
    gateway before it can parse the rest (``run PIPELINE …``) asks the right one."""
    options = ctx.ensure_object(Options)
    tokens = list(args)
    for i, token in enumerate(tokens):
        if token == "--":
            break
        name, _, inline = token.partition("=")
        if name == "--json" and not inline:
            options.json = True
        elif name in ("--url", "--key"):
            value = inline if inline else (tokens[i + 1] if i + 1 < len(tokens) else "")
            if not value:
                continue
            if name == "--url":
                options.url = check_url(value)
            else:
                options.key = value.strip() or None
