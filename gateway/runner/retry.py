"""Retry timing: exponential backoff with a cap and full jitter, never shorter than the worker's Retry-After."""

from __future__ import annotations

import random


def backoff_seconds(
    attempt: int,
    *,
    base: float,
    cap: float,
    retry_after: float | None = None,
    rand: random.Random | None = None,
) -> float:
    """Delay before attempt ``attempt + 1`` (attempts count from 1).

    Jitter spreads retries of many jobs hitting one overloaded worker; a Retry-After from the worker is a
    floor (we never come back sooner than asked), itself capped at ``cap`` so one answer cannot park a job.
    """
    ceiling = min(cap, base * (2 ** (attempt - 1)))
    delay = (rand or random).uniform(ceiling / 2, ceiling)
    if retry_after is not None:
        delay = max(delay, min(retry_after, cap))
    return delay
