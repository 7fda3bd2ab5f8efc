"""Schemathesis hooks for the gateway's conformance run: real files for the upload media types.

The document lists the formats ``POST /v1/files`` takes (the ``encoding`` of its ``file`` part), and the
gateway reads a file's format from its bytes. Schemathesis has no generator for most of those media types,
so these give it one: small but genuine images (Pillow) and WAV audio (``wave``), drawn by Hypothesis, so a
schema-valid upload is a file the gateway must accept. Loaded with ``SCHEMATHESIS_HOOKS=<this file>``.
"""

from __future__ import annotations

import io
import wave

import schemathesis
from hypothesis import strategies as st
from PIL import Image

_SIDE = st.integers(min_value=1, max_value=16)
_COLOUR = st.tuples(*[st.integers(min_value=0, max_value=255)] * 3)


def _image(pillow_format: str) -> st.SearchStrategy[bytes]:
    def encode(width: int, height: int, colour: tuple[int, int, int]) -> bytes:
        buffer = io.BytesIO()
        Image.new("RGB", (width, height), colour).save(buffer, format=pillow_format)
        return buffer.getvalue()

    return st.builds(encode, _SIDE, _SIDE, _COLOUR)


def _wav() -> st.SearchStrategy[bytes]:
    def encode(rate: int, samples: bytes) -> bytes:
        buffer = io.BytesIO()
        with wave.open(buffer, "wb") as out:
            out.setnchannels(1)
            out.setsampwidth(2)
            out.setframerate(rate)
            out.writeframes(samples)
        return buffer.getvalue()

    frames = st.integers(min_value=1, max_value=400).flatmap(
        lambda n: st.binary(min_size=2 * n, max_size=2 * n)
    )
    return st.builds(encode, st.sampled_from([8000, 16000, 22050]), frames)


for media_type, strategy in {
    "image/png": _image("PNG"),
    "image/jpeg": _image("JPEG"),
    "image/gif": _image("GIF"),
    "image/webp": _image("WEBP"),
    "audio/wav": _wav(),
}.items():
    schemathesis.openapi.media_type(media_type, strategy)


@schemathesis.hook
def filter_case(context: schemathesis.HookContext, case: schemathesis.Case) -> bool:
    """Drop a "schema-violating" multipart form that is the same bytes as a valid one.

    A form sends a list as one part per item, so a list of one value is the same request as the value
    itself, and an empty list the same as no field: a negative case whose only "violation" is such a
    list is a valid request, and the gateway rightly accepts it. Longer lists (repeated parts) stay.
    """
    if case.meta is None or not case.meta.generation.mode.is_negative:
        return True
    if case.media_type != "multipart/form-data" or not isinstance(case.body, dict):
        return True
    return not any(isinstance(value, list) and len(value) <= 1 for value in case.body.values())
