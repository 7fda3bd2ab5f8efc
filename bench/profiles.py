"""Summarise py-spy ``--format raw`` (collapsed stacks) into top self-time frames and time per area."""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path
from typing import Any

#: Inclusive buckets, first match wins (ordered from the most specific).
AREAS: list[tuple[str, re.Pattern[str]]] = [
    (
        "idle (event loop waiting: epoll/select)",
        re.compile(r"\b(select|poll|_run_once) \((selectors|uvloop)"),
    ),
    ("SQLAlchemy / DB driver (aiosqlite, psycopg)", re.compile(r"sqlalchemy/|aiosqlite/|psycopg/|sqlite3")),
    ("aiohttp client (worker calls)", re.compile(r"aiohttp/")),
    ("httpx (worker calls)", re.compile(r"httpx/|httpcore/")),
    ("pydantic validation / serialisation", re.compile(r"pydantic/|pydantic_core")),
    ("FastAPI / Starlette routing", re.compile(r"fastapi/|starlette/")),
    ("uvicorn HTTP server", re.compile(r"uvicorn/")),
    ("json", re.compile(r"json/")),
    ("gateway runner", re.compile(r"gateway/runner/")),
    ("gateway store", re.compile(r"gateway/store/")),
    ("gateway other", re.compile(r"gateway/")),
]


def _frame_name(frame: str) -> str:
    # py-spy raw frames look like "function (path/to/file.py:123)"; keep function and short path.
    m = re.match(r"(.*) \((.*?):?(\d+)?\)$", frame.strip())
    if not m:
        return frame.strip()
    func, path = m.group(1), m.group(2)
    parts = Path(path).parts
    short = "/".join(parts[-2:]) if len(parts) >= 2 else path
    return f"{func} ({short})"


def summarise(path: Path) -> dict[str, Any]:
    self_counts: Counter[str] = Counter()
    area_counts: Counter[str] = Counter()
    total = 0
    for line in path.read_text(errors="replace").splitlines():
        stack, _, count_s = line.rpartition(" ")
        if not stack or not count_s.isdigit():
            continue
        count = int(count_s)
        total += count
        frames = stack.split(";")
        self_counts[_frame_name(frames[-1])] += count
        for name, pattern in AREAS:
            if pattern.search(stack):
                area_counts[name] += count
                break
        else:
            area_counts["other"] += count
    if not total:
        return {"samples": 0, "top_self": [], "areas": []}
    return {
        "samples": total,
        "top_self": [(name, n / total) for name, n in self_counts.most_common(25)],
        "areas": [(name, n / total) for name, n in area_counts.most_common()],
    }


def summarise_dir(directory: Path) -> dict[str, Any]:
    if not directory.exists():
        return {}
    return {p.stem: summarise(p) for p in sorted(directory.glob("*.collapsed"))}
