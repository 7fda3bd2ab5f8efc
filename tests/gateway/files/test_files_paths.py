"""resolve_under keeps every path inside the files root; sanitise_name keeps client names harmless."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from gateway.files import resolve_under, sanitise_name


@pytest.mark.parametrize(
    "relative",
    [
        pytest.param("../secret", id="parent"),
        pytest.param("uploads/../../secret", id="parent-after-a-dir"),
        pytest.param("uploads/..", id="parent-at-end"),
        pytest.param("/etc/passwd", id="absolute"),
        pytest.param("//etc/passwd", id="double-slash-absolute"),
        pytest.param("", id="empty"),
        pytest.param(".", id="the-root-itself"),
        pytest.param("uploads/a\x00b", id="nul-byte"),
        pytest.param("..\\secret", id="backslash"),
    ],
)
def test_refuses_escaping_paths(files_root: Path, relative: str) -> None:
    with pytest.raises(ValueError):
        resolve_under(files_root, relative)


def test_refuses_symlink_escapes(files_root: Path, tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_text("no")
    os.symlink(outside, files_root / "link")
    (files_root / "uploads").mkdir()
    os.symlink(outside / "secret.txt", files_root / "uploads" / "file")
    for relative in ("link/secret.txt", "uploads/file"):
        with pytest.raises(ValueError, match="escapes the files root"):
            resolve_under(files_root, relative)


def test_resolves_paths_inside_the_root(files_root: Path) -> None:
    (files_root / "jobs" / "j1").mkdir(parents=True)
    os.symlink(files_root / "jobs", files_root / "alias")  # a symlink that stays inside is fine
    root = files_root.resolve()
    assert resolve_under(files_root, "uploads/abc") == root / "uploads" / "abc"
    assert (
        resolve_under(files_root, "./jobs/j1/step/image.png") == root / "jobs" / "j1" / "step" / "image.png"
    )
    assert resolve_under(files_root, "alias/j1") == root / "jobs" / "j1"


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("photo.png", "photo.png"),
        ("../../etc/passwd", "passwd"),
        ("C:\\Users\\me\\voice memo.wav", "voice memo.wav"),
        ("bad\x00\x1b[31mname\r\n.mp3", "bad[31mname.mp3"),
        ("...hidden", "hidden"),
        ("   ", None),
        ("dir/", None),
        (None, None),
        ("e\u0301te\u0301.ogg", "\u00e9t\u00e9.ogg"),
        ("a" * 500 + ".flac", "a" * 195 + ".flac"),  # 200 characters, extension kept
    ],
)
def test_sanitise_name(name: str | None, expected: str | None) -> None:
    assert sanitise_name(name) == expected
