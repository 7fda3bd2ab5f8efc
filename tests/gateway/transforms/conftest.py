"""Fixtures of the transform tests: a files root (the shared ``storage`` fixture makes it a directory store,
then a bucket on moto)."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture
def files_root(tmp_path: Path) -> Path:
    root = tmp_path / "files"
    root.mkdir()
    return root
