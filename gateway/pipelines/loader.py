"""Read pipeline YAML into validated specs: the built-ins shipped here plus a configured directory."""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from gateway.pipelines.checks import SpecProblems
from gateway.pipelines.errors import PipelineError
from gateway.pipelines.spec import PipelineSpec

BUILTIN_DIR = Path(__file__).parent / "builtin"


class PipelineRegistry:
    """The pipelines the gateway serves, by name."""

    def __init__(self, specs: Iterable[PipelineSpec] = ()) -> None:
        self._specs = {spec.name: spec for spec in specs}

    def get(self, name: str) -> PipelineSpec:
        """The pipeline called ``name``; KeyError when there is none."""
        return self._specs[name]

    def __contains__(self, name: object) -> bool:
        return name in self._specs

    def __iter__(self) -> Iterator[PipelineSpec]:
        return iter(self.all())

    def __len__(self) -> int:
        return len(self._specs)

    def all(self) -> list[PipelineSpec]:
        """Every pipeline, sorted by name."""
        return [self._specs[name] for name in self.names()]

    def names(self) -> list[str]:
        """Every pipeline name, sorted."""
        return sorted(self._specs)


def _location(loc: tuple[int | str, ...], data: Any) -> str:
    """Pydantic's ``("steps", 1, "inputs")`` → ``steps[1] (prompt).inputs``."""
    parts: list[str] = []
    for index, item in enumerate(loc):
        if isinstance(item, int):
            text = f"[{item}]"
            if index == 1 and loc[0] == "steps" and isinstance(data, dict):
                with contextlib.suppress(KeyError, IndexError, TypeError):
                    text += f" ({data['steps'][item]['id']})"
            parts.append(text)
        else:
            parts.append(f".{item}" if parts else str(item))
    return "".join(parts)


def _problems(error: ValidationError, data: Any) -> list[str]:
    problems = []
    for item in error.errors():
        cause = item.get("ctx", {}).get("error")
        if isinstance(cause, SpecProblems):
            problems += cause.problems
            continue
        message = "unknown key" if item["type"] == "extra_forbidden" else item["msg"]
        message = message.removeprefix("Value error, ")
        where = _location(item["loc"], data)
        problems.append(f"{where}: {message}" if where else message)
    return problems


def parse_pipeline(text: str, source: str = "<string>") -> PipelineSpec:
    """One YAML document → a validated spec. PipelineError names the source, pipeline, step and field."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise PipelineError(f"{source}: invalid YAML{where}: {problem}") from None
    if not isinstance(data, dict):
        raise PipelineError(f"{source}: a pipeline must be a YAML mapping, got {type(data).__name__}")
    name = data.get("name")
    prefix = f"{source}: pipeline {name}" if isinstance(name, str) else source
    try:
        return PipelineSpec.model_validate(data)
    except ValidationError as exc:
        raise PipelineError([f"{prefix}: {problem}" for problem in _problems(exc, data)]) from None


def _yaml_files(directory: Path) -> list[Path]:
    return sorted(p for p in directory.iterdir() if p.suffix in {".yaml", ".yml"} and p.is_file())


def _load_dir(directory: Path, label: str) -> dict[str, tuple[PipelineSpec, str]]:
    found: dict[str, tuple[PipelineSpec, str]] = {}
    for path in _yaml_files(directory):
        source = f"{label}/{path.name}" if label else str(path)
        spec = parse_pipeline(path.read_text(encoding="utf-8"), source)
        if spec.name in found:
            raise PipelineError(f"{source}: pipeline {spec.name} is also defined in {found[spec.name][1]}")
        found[spec.name] = (spec, source)
    return found


def load_pipelines(extra_dir: Path | None = None) -> PipelineRegistry:
    """The built-in pipelines plus every ``*.yaml``/``*.yml`` in ``extra_dir``; an extra replaces a built-in
    of the same name. A broken file raises PipelineError naming it."""
    specs = {name: spec for name, (spec, _) in _load_dir(BUILTIN_DIR, "builtin").items()}
    if extra_dir is not None:
        if not extra_dir.is_dir():
            raise PipelineError(f"{extra_dir}: pipelines directory does not exist")
        specs |= {name: spec for name, (spec, _) in _load_dir(extra_dir, "").items()}
    return PipelineRegistry(specs.values())
