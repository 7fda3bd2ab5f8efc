"""``split``: cut a text into at most N segments ``{index, text}`` by sentences, paragraphs or numbered lines.

Sentences and paragraphs never lose text: when there are more than ``max_items``, neighbours are joined
into ``max_items`` segments of about equal length. Lines (a numbered or bulleted list, one item a line)
are items the author chose, so their numbering is stripped and only the first ``max_items`` are kept.
"""

from __future__ import annotations

import re
from typing import Any

from gateway.transforms import ListOf, Record, Transform, TransformCall
from workers.kit.contract import FieldSpec

MODES = ("sentences", "paragraphs", "lines")
MAX_ITEMS_LIMIT = 1000

_END = "[.!?\u2026]"  # . ! ? …
_CLOSER = "[\"'\u201d\u2019)\\]]"  # a closing quote (straight or curly) or bracket
_SENTENCE_END = re.compile(rf"(?<={_END})\s+|(?<={_END}{_CLOSER})\s+")
_PARAGRAPH_BREAK = re.compile(r"\n\s*\n")
_NUMBERING = re.compile(r"^\s*(?:(?:\d+|[a-zA-Z])[.):]|[-*\u2022\u2013])\s+")  # 1. a) - * and bullets/dashes


def _sentences(text: str) -> list[str]:
    flat = " ".join(text.split())
    return [s.strip() for s in _SENTENCE_END.split(flat) if s.strip()]


def _paragraphs(text: str) -> list[str]:
    return [" ".join(p.split()) for p in _PARAGRAPH_BREAK.split(text) if p.strip()]


def _lines(text: str) -> list[str]:
    lines = (_NUMBERING.sub("", line, count=1).strip() for line in text.splitlines())
    return [line for line in lines if line]


def _join_evenly(pieces: list[str], limit: int) -> list[str]:
    """At most ``limit`` segments, each of consecutive pieces, of roughly equal length (no text lost)."""
    if len(pieces) <= limit:
        return pieces
    total = sum(len(p) + 1 for p in pieces)
    groups: list[list[str]] = [[]]
    done = 0
    for index, piece in enumerate(pieces):
        size = len(piece) + 1
        left_pieces = len(pieces) - index
        left_groups = limit - len(groups)
        # Start the next group when this piece's middle lies past the current group's fair share of the
        # text, or when the pieces left are just enough to give every later group one.
        share_end = total * len(groups) / limit
        if groups[-1] and left_groups > 0 and (done + size / 2 > share_end or left_pieces <= left_groups):
            groups.append([])
        groups[-1].append(piece)
        done += size
    return [" ".join(group) for group in groups]


def split_text(text: str, *, by: str = "sentences", max_items: int = 10) -> list[dict[str, Any]]:
    """The segments of ``text``: ``[{"index": 0, "text": …}, …]``, at most ``max_items``."""
    if by == "lines":
        pieces = _lines(text)[:max_items]
    else:
        pieces = _join_evenly(_paragraphs(text) if by == "paragraphs" else _sentences(text), max_items)
    return [{"index": index, "text": piece} for index, piece in enumerate(pieces)]


async def _run(call: TransformCall) -> dict[str, Any]:
    segments = split_text(
        str(call.inputs.get("text") or ""),
        by=str(call.options["by"]),
        max_items=int(call.options["max_items"]),
    )
    return {"segments": segments, "count": len(segments)}


TRANSFORM = Transform(
    name="split",
    description="Cut a text into at most max_items segments {index, text} by sentences, paragraphs or lines",
    inputs={"text": FieldSpec(type="text", required=True, description="The text to cut", max_length=100_000)},
    options={
        "by": FieldSpec(type="choice", choices=list(MODES), default="sentences", description="Where to cut"),
        "max_items": FieldSpec(
            type="integer", default=10, minimum=1, maximum=MAX_ITEMS_LIMIT, description="At most this many"
        ),
    },
    outputs={
        "segments": ListOf(
            Record(
                {
                    "index": FieldSpec(type="integer", required=True, description="0-based position"),
                    "text": FieldSpec(type="text", required=True, max_length=None),
                }
            ),
            description="The segments in order",
        ),
        "count": FieldSpec(type="integer", required=True, description="How many segments"),
    },
    run=_run,
)
