"""The CLI's pure parts: option names from input names, safe file names from a hostile server, and the
plain words of each kind of gateway error."""

from __future__ import annotations

import pytest

from modaline_cli.downloads import extension_for, name_from_disposition, safe_name
from modaline_cli.errors import ApiError, ExitCode
from modaline_cli.run import flags_for


@pytest.mark.parametrize(
    ("name", "flags"),
    [
        ("text", ["--text"]),
        ("reply_text", ["--reply_text", "--reply-text"]),
        ("wait", ["--input-wait"]),  # the command's own options keep their meaning
        ("url", ["--input-url"]),
        ("idempotency_key", ["--input-idempotency-key"]),
    ],
)
def test_one_option_per_input(name: str, flags: list[str]) -> None:
    assert flags_for(name) == flags


@pytest.mark.parametrize(
    ("given", "safe"),
    [
        ("photo.png", "photo.png"),
        ("../../etc/passwd", "passwd"),
        ("..\\..\\boot.ini", "boot.ini"),
        (".bashrc", "bashrc"),
        ("my holiday (1).png", "my_holiday_1_.png"),
        ("", "download"),
        ("...", "download"),
    ],
)
def test_a_server_cannot_choose_where_a_download_goes(given: str, safe: str) -> None:
    assert safe_name(given) == safe


def test_content_disposition_names_are_read_and_made_safe() -> None:
    assert name_from_disposition('attachment; filename="../x.png"') == "x.png"
    assert name_from_disposition("attachment; filename*=UTF-8''caf%C3%A9.wav") == "caf_.wav"
    assert name_from_disposition("inline") is None and name_from_disposition(None) is None
    assert extension_for("audio/wav") == ".wav" and extension_for("image/jpeg; q=1") == ".jpg"
    assert extension_for("application/x-unknown-thing") == ".bin"


def test_each_error_says_what_to_do() -> None:
    no_key = ApiError(401, {"title": "Unauthorized", "detail": "missing"}, had_key=False)
    assert no_key.code == ExitCode.AUTH and "set MODALINE_API_KEY" in no_key.message
    wrong = ApiError(401, {"title": "Unauthorized", "detail": "unknown key"}, had_key=True)
    assert "refused the API key (unknown key)" in wrong.message
    scope = ApiError(403, {"title": "Forbidden", "detail": "needs scope 'jobs:write'"}, had_key=True)
    assert scope.code == ExitCode.AUTH and "jobs:write" in scope.message
    limited = ApiError(
        429, {"title": "Too many requests", "detail": "60 submits"}, had_key=True, retry_after="12"
    )
    assert limited.code == ExitCode.GATEWAY and limited.message.endswith("try again in 12 s")
    invalid = ApiError(
        422,
        {"title": "Invalid input", "errors": [{"field": "text", "message": "is required"}]},
        had_key=False,
        field_label=lambda field: f"--{field}",
    )
    assert invalid.code == ExitCode.USAGE and invalid.message == "Invalid input:\n  --text: is required"
    failed = ApiError(500, {"title": "Internal error", "detail": "see its log"}, had_key=False)
    assert (
        failed.code == ExitCode.GATEWAY
        and failed.message == "the gateway failed (500 Internal error): see its log"
    )
    assert failed.as_json() == {
        "error": failed.message,
        "exit_code": 5,
        "status": 500,
        "problem": {"title": "Internal error", "detail": "see its log"},
    }
