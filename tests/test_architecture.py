"""Import rules that keep the architecture honest (the layout in README.md and ``pyproject.toml``'s import-linter contracts).

import-linter (``make lint``) checks the same rules; this test keeps them true in every ``make test`` run too.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def imported_modules(package: str) -> Iterator[tuple[Path, int, str]]:
    """Yield (file, line, module) for every absolute import in a package's source."""
    for path in sorted((ROOT / package).rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                for alias in node.names:
                    yield path, node.lineno, alias.name
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                yield path, node.lineno, node.module


def offenders(package: str, allowed: callable) -> list[str]:  # type: ignore[valid-type]
    return [
        f"{path.relative_to(ROOT)}:{line} imports {module}"
        for path, line, module in imported_modules(package)
        if not allowed(module)
    ]


def test_workers_never_import_the_gateway() -> None:
    assert offenders("workers", lambda m: m != "gateway" and not m.startswith("gateway.")) == []


def test_gateway_imports_only_the_worker_contract_the_storage_interface_and_telemetry() -> None:
    def allowed(module: str) -> bool:
        return (
            not (module == "workers" or module.startswith("workers."))
            or module == "workers.kit.contract"
            or module.split(".")[:3] in (["workers", "kit", "storage"], ["workers", "kit", "telemetry"])
        )

    assert offenders("gateway", allowed) == []


def test_the_storage_interface_imports_nothing_else_of_the_kit_or_the_gateway() -> None:
    def allowed(module: str) -> bool:
        ours = module.split(".")[0] in ("gateway", "workers")
        return not ours or module == "workers.kit.storage" or module.startswith("workers.kit.storage.")

    assert offenders("workers/kit/storage", allowed) == []


@pytest.mark.parametrize("package", ["gateway/pipelines"])
def test_pipeline_specs_are_pure_data(package: str) -> None:
    """Pipeline specs do no network or database I/O."""
    banned = ("aiohttp", "httpx", "sqlalchemy", "sqlmodel", "gateway.store", "gateway.runner", "gateway.api")
    assert offenders(package, lambda m: not m.startswith(banned)) == []


def test_the_cli_talks_http_only() -> None:
    """``modaline_cli`` reaches the gateway through its public API, never by importing it or the workers."""
    banned = ("gateway", "workers")
    assert offenders("modaline_cli", lambda m: m.split(".")[0] not in banned) == []
    assert offenders("gateway", lambda m: not m.startswith("modaline_cli")) == []
    assert offenders("workers", lambda m: not m.startswith("modaline_cli")) == []


def test_telemetry_imports_nothing_else_of_the_kit_or_the_gateway() -> None:
    """Traces and logs are shared by the gateway and every worker: they depend on neither."""

    def allowed(module: str) -> bool:
        ours = module.split(".")[0] in ("gateway", "workers")
        return not ours or module.split(".")[:3] == ["workers", "kit", "telemetry"]

    assert offenders("workers/kit/telemetry", allowed) == []
