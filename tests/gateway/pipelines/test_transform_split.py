"""The split transform: segments by sentences, paragraphs or numbered lines, at most N, no text lost."""

from __future__ import annotations

import pytest

from gateway import transforms
from gateway.transforms import TransformCall, TransformError
from gateway.transforms.split import split_text
from workers.kit.storage import DirectoryStorage

pytestmark = pytest.mark.anyio

STORY = 'The fox woke. It said "hello." Then it ran! Did it stop? No…  It slept.'


def texts(segments: list[dict]) -> list[str]:
    assert [s["index"] for s in segments] == list(range(len(segments)))
    return [s["text"] for s in segments]


def test_sentences_keep_closing_quotes_and_ellipses() -> None:
    assert texts(split_text(STORY)) == [
        "The fox woke.",
        'It said "hello."',
        "Then it ran!",
        "Did it stop?",
        "No…",
        "It slept.",
    ]


@pytest.mark.parametrize("limit", [1, 2, 4, 5])
def test_more_sentences_than_allowed_are_joined_without_losing_text(limit: int) -> None:
    segments = texts(split_text(STORY, max_items=limit))
    assert len(segments) == limit
    assert " ".join(segments) == " ".join(STORY.split())


def test_joined_segments_are_about_even() -> None:
    text = " ".join(f"Sentence number {n} is here." for n in range(12))
    lengths = [len(t) for t in texts(split_text(text, max_items=3))]
    assert max(lengths) - min(lengths) <= 30


def test_paragraphs() -> None:
    text = "One line\nstill one.\n\n\n  Two.\n \nThree."
    assert texts(split_text(text, by="paragraphs")) == ["One line still one.", "Two.", "Three."]


def test_numbered_lines_lose_their_numbers_and_keep_the_first_n() -> None:
    text = "1. Dawn\n2) Noon\n\n- Dusk\n* Night\n• Dream\nb. Waking"
    assert texts(split_text(text, by="lines")) == ["Dawn", "Noon", "Dusk", "Night", "Dream", "Waking"]
    assert texts(split_text(text, by="lines", max_items=2)) == ["Dawn", "Noon"]


def test_empty_text_gives_no_segments() -> None:
    assert split_text("  \n ") == []


async def test_the_registered_transform_applies_defaults_and_checks_options(tmp_path) -> None:
    split = transforms.get("split")
    call = TransformCall(
        "j1", "split", {"text": STORY}, split.prepare_options({}), DirectoryStorage(tmp_path)
    )
    out = await split.run(call)
    assert out["count"] == 6 and len(out["segments"]) == 6
    with pytest.raises(TransformError, match="option 'max_items': 0 is below 1"):
        split.prepare_options({"max_items": 0})
    with pytest.raises(TransformError, match="has no option 'size'"):
        split.prepare_options({"size": 3})


async def test_a_transform_call_stores_files_as_references(tmp_path) -> None:
    storage = DirectoryStorage(tmp_path)
    call = TransformCall("j1", "join-2", {}, {}, storage)
    ref = await call.save_bytes("narration", "wav", b"RIFF0000", content_type="audio/wav")
    assert ref["file"] == "jobs/j1/join-2/narration.wav" and ref["bytes"] == 8
    assert (tmp_path / "jobs/j1/join-2/narration.wav").read_bytes() == b"RIFF0000"
    assert await call.read_bytes(ref) == b"RIFF0000"
