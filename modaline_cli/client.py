"""The gateway's public API over HTTP, and the one place where HTTP failures become ``CliError``s.

One pooled ``httpx.Client`` per command run. The API key travels only in the ``Authorization`` header:
never in a URL, never in a message, never in ``repr``.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit

import httpx
from httpx_sse import EventSource, connect_sse

from modaline_cli.errors import ApiError, CliError, ExitCode, FieldLabel, Unreachable

DEFAULT_URL = "http://127.0.0.1:8000"

#: Ordinary calls; a read may be slow when the gateway is busy, but never minutes.
READ_SECONDS = 60.0
TIMEOUT = httpx.Timeout(READ_SECONDS, connect=10.0)
#: Event streams and downloads: the gateway pings a stream every 15 s by default, so a minute of silence
#: means the connection is dead (then the stream is reopened where it stopped).
STREAM_TIMEOUT = httpx.Timeout(60.0, connect=10.0)


def _user_agent() -> str:
    try:
        return f"modaline-cli/{version('modaline')}"
    except PackageNotFoundError:  # pragma: no cover - run from a source tree that was never installed
        return "modaline-cli"


def display_url(url: str) -> str:
    """``url`` as it may be shown: without any ``user:password@`` part."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    return urlunsplit((parts.scheme, host, parts.path, "", ""))


@dataclass(frozen=True)
class Connection:
    """Where the gateway is and the key to use (``repr`` never shows the key)."""

    url: str = DEFAULT_URL
    key: str | None = field(default=None, repr=False)


class Client:
    """The API calls the commands make, each answering the gateway's JSON or raising a ``CliError``."""

    def __init__(self, connection: Connection, *, transport: httpx.BaseTransport | None = None) -> None:
        self.url = display_url(connection.url)
        self.has_key = bool(connection.key)
        headers = {"User-Agent": _user_agent()}
        if connection.key:
            headers["Authorization"] = f"Bearer {connection.key}"
        self._http = httpx.Client(
            base_url=connection.url.rstrip("/"),
            headers=headers,
            timeout=TIMEOUT,
            transport=transport,
            follow_redirects=False,
        )

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    # --- the one translation of failures -------------------------------------------------------------

    @contextlib.contextmanager
    def translated(self) -> Iterator[None]:
        """Turn httpx's transport errors into an ``Unreachable`` that names the gateway's URL."""
        try:
            yield
        except httpx.ConnectError as exc:
            reason = "connection refused" if "refused" in str(exc).lower() else str(exc) or "cannot connect"
            raise Unreachable(
                f"cannot reach the Modaline gateway at {self.url} ({reason}). Is it running (`make run`)? "
                "Point the CLI elsewhere with --url or MODALINE_URL."
            ) from None
        except httpx.TimeoutException:
            raise Unreachable(f"the gateway at {self.url} did not answer in time") from None
        except httpx.TransportError as exc:
            raise Unreachable(f"the connection to the gateway at {self.url} failed: {exc}") from None

    def check(self, response: httpx.Response, field_label: FieldLabel | None = None) -> httpx.Response:
        """``response`` if it is a success, else the gateway's problem as an ``ApiError``."""
        if response.is_success:
            return response
        if response.is_redirect:
            raise CliError(
                f"the server at {self.url} redirected to {response.headers.get('location', '?')}: "
                "set --url (or MODALINE_URL) to the gateway's own address",
                code=ExitCode.GATEWAY,
            )
        response.read()
        problem = _problem_of(response)
        if not problem and response.status_code == 404:
            raise CliError(
                f"the server at {self.url} has no {response.request.url.path}: is it a Modaline gateway?",
                code=ExitCode.GATEWAY,
            )
        extra = {"field_label": field_label} if field_label else {}
        raise ApiError(
            response.status_code,
            problem,
            had_key=self.has_key,
            retry_after=response.headers.get("retry-after"),
            **extra,
        )

    def _json(self, response: httpx.Response) -> Any:
        try:
            return response.json()
        except (json.JSONDecodeError, UnicodeDecodeError):
            raise CliError(
                f"the server at {self.url} answered {response.request.url.path} with something that is not "
                "JSON: is it a Modaline gateway?",
                code=ExitCode.GATEWAY,
            ) from None

    def call(
        self,
        method: str,
        path: str,
        *,
        field_label: FieldLabel | None = None,
        **kwargs: Any,
    ) -> Any:
        """One request; the answer's JSON."""
        with self.translated():
            response = self._http.request(method, path, **kwargs)
        return self._json(self.check(response, field_label))

    def send(self, method: str, path: str) -> None:
        """One request whose success has no body (``204 No Content``)."""
        with self.translated():
            response = self._http.request(method, path)
        self.check(response)

    # --- the API ------------------------------------------------------------------------------------

    def pipelines(self) -> list[dict[str, Any]]:
        return list(self.call("GET", "/v1/pipelines")["items"])

    def pipeline(self, name: str) -> dict[str, Any]:
        answer: dict[str, Any] = self.call("GET", f"/v1/pipelines/{quote(name, safe='')}")
        return answer

    def submit(
        self,
        pipeline: str,
        values: dict[str, str],
        files: dict[str, Path],
        *,
        idempotency_key: str | None = None,
        prefer_wait: int | None = None,
        field_label: FieldLabel | None = None,
    ) -> dict[str, Any]:
        """Queue a job: JSON when every input is a value, one multipart request when files go with it.

        ``prefer_wait``: send ``Prefer: wait=N`` (RFC 7240), so the answer comes when the job has ended
        (the whole finished job) or after N seconds (the job as it is then); the read timeout grows by N."""
        headers = {"Idempotency-Key": idempotency_key} if idempotency_key else {}
        extra: dict[str, Any] = {}
        if prefer_wait:
            headers["Prefer"] = f"wait={prefer_wait}"
            extra["timeout"] = httpx.Timeout(READ_SECONDS + prefer_wait, connect=10.0)
        if not files:
            body = {"pipeline": pipeline, "inputs": values}
            answer: dict[str, Any] = self.call(
                "POST", "/v1/jobs", json=body, headers=headers, field_label=field_label, **extra
            )
            return answer
        with contextlib.ExitStack() as stack:
            parts = {
                name: (path.name, stack.enter_context(path.open("rb")), "application/octet-stream")
                for name, path in files.items()
            }
            form = {"pipeline": pipeline, **values}
            answer = self.call(
                "POST",
                "/v1/jobs",
                data=form,
                files=parts,
                headers=headers,
                field_label=field_label,
                **extra,
            )
            return answer

    def job(self, job_id: str) -> dict[str, Any]:
        answer: dict[str, Any] = self.call("GET", f"/v1/jobs/{quote(job_id, safe='')}")
        return answer

    def jobs(
        self, *, status: str | None, pipeline: str | None, limit: int, cursor: str | None
    ) -> dict[str, Any]:
        params = {
            key: value
            for key, value in {
                "status": status,
                "pipeline": pipeline,
                "limit": limit,
                "cursor": cursor,
            }.items()
            if value is not None
        }
        answer: dict[str, Any] = self.call("GET", "/v1/jobs", params=params)
        return answer

    def cancel(self, job_id: str) -> dict[str, Any]:
        answer: dict[str, Any] = self.call("POST", f"/v1/jobs/{quote(job_id, safe='')}/cancel")
        return answer

    def delete_job(self, job_id: str) -> None:
        self.send("DELETE", f"/v1/jobs/{quote(job_id, safe='')}")

    def delete_file(self, file_id: str) -> None:
        self.send("DELETE", f"/v1/files/{quote(file_id, safe='')}")

    @contextlib.contextmanager
    def events(self, job_id: str, *, after: int) -> Iterator[EventSource]:
        """The job's event stream from after event ``after`` (``Last-Event-ID``), checked before reading."""
        headers = {"Last-Event-ID": str(after)} if after else {}
        with (
            self.translated(),
            connect_sse(
                self._http,
                "GET",
                f"/v1/jobs/{quote(job_id, safe='')}/events",
                headers=headers,
                timeout=STREAM_TIMEOUT,
            ) as source,
        ):
            self.check(source.response)
            content_type = source.response.headers.get("content-type", "")
            if not content_type.startswith("text/event-stream"):
                raise CliError(
                    f"the server at {self.url} answered the job's event stream with {content_type or 'no type'}, "
                    "not text/event-stream: is it a Modaline gateway (or a proxy that buffers streams)?",
                    code=ExitCode.GATEWAY,
                )
            yield source

    @contextlib.contextmanager
    def download(self, file_id: str) -> Iterator[httpx.Response]:
        """A file's bytes as a streamed, checked response (read it with ``iter_bytes``)."""
        with (
            self.translated(),
            self._http.stream(
                "GET", f"/v1/files/{quote(file_id, safe='')}", timeout=STREAM_TIMEOUT
            ) as response,
        ):
            self.check(response)
            yield response

    def keys(self, *, tenant: str | None) -> list[dict[str, Any]]:
        params = {"tenant": tenant} if tenant else {}
        return list(self.call("GET", "/v1/admin/keys", params=params)["items"])

    def create_key(self, body: dict[str, Any]) -> dict[str, Any]:
        answer: dict[str, Any] = self.call("POST", "/v1/admin/keys", json=body)
        return answer

    def revoke_key(self, key_id: str) -> dict[str, Any]:
        answer: dict[str, Any] = self.call("DELETE", f"/v1/admin/keys/{quote(key_id, safe='')}")
        return answer


def _problem_of(response: httpx.Response) -> dict[str, Any]:
    """The problem+json body of an error answer, or {} when it has none."""
    if "json" not in response.headers.get("content-type", ""):
        return {}
    try:
        body = response.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        return {}
    return body if isinstance(body, dict) else {}
