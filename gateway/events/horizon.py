"""Where the hub stands in the global event feed, without losing events PostgreSQL commits out of order.

``seq`` values come from a sequence, taken when a row is inserted, not when its transaction commits: a
transaction holding ``seq`` 8 may commit after another committed 9 and 10. A reader that only asks for
"``seq`` > the last I saw" would skip 8 for good. So the horizon keeps, besides the highest ``seq`` seen
(``top``), the *gaps* below it: numbers not seen yet. Each read asks for ``seq > top`` **or** one of the
gaps; a gap that shows up is delivered late, in its job's order (a job's own events commit in ``seq``
order, ``gateway/store/events.py``).

A gap is given up (a rolled-back transaction, or a number the sequence skipped) once it cannot come any
more: on PostgreSQL, when every transaction that was running at the read that found it has ended (the
later read's snapshot ``xmin`` reached that read's ``xmax``) and it is at least ``min_age`` seconds old;
on SQLite (one writer at a time, commits in ``seq`` order) after ``min_age``.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass

log = logging.getLogger(__name__)


@dataclass(slots=True)
class _Gap:
    xmax: int | None  # the snapshot xmax of the read that found it (PostgreSQL)
    since: float  # when it was found (monotonic seconds)


class Horizon:
    """The highest ``seq`` seen and the unresolved numbers below it."""

    def __init__(self, top: int, *, min_age: float = 1.0, max_gaps: int = 500) -> None:
        self.top = top
        self.min_age = min_age
        self.max_gaps = max_gaps
        self._gaps: dict[int, _Gap] = {}
        self.given_up = 0  # gaps resolved as never-to-come (for tests and the bench)

    @property
    def gaps(self) -> list[int]:
        """The numbers below ``top`` still awaited, lowest first (the next read asks for them)."""
        return sorted(self._gaps)

    @property
    def settled(self) -> int:
        """Every ``seq`` up to this one is either seen or given up."""
        return min(self._gaps) - 1 if self._gaps else self.top

    def new_of(self, seqs: Iterable[int]) -> set[int]:
        """The ones of ``seqs`` that :meth:`advance` would call new (changes nothing)."""
        return {seq for seq in seqs if seq > self.top or seq in self._gaps}

    def advance(
        self, seqs: Iterable[int], *, now: float, xmin: int | None = None, xmax: int | None = None
    ) -> set[int]:
        """Take one read's ``seq`` values (ascending; the read asked for ``seq > top`` or a gap); return
        the ones new to the hub, to deliver."""
        fresh: set[int] = set()
        for seq in seqs:
            if seq > self.top:
                for missing in range(self.top + 1, min(seq, self.top + 1 + self.max_gaps)):
                    self._gaps[missing] = _Gap(xmax, now)
                self.top = seq
                fresh.add(seq)
            elif self._gaps.pop(seq, None) is not None:
                fresh.add(seq)
        self._resolve(now=now, xmin=xmin)
        if len(self._gaps) > self.max_gaps:
            dropped = sorted(self._gaps)[: len(self._gaps) - self.max_gaps]
            log.warning(
                "event hub: %d unresolved seq gaps, giving up the oldest %s…", len(self._gaps), dropped[:5]
            )
            for seq in dropped:
                del self._gaps[seq]
            self.given_up += len(dropped)
        return fresh

    def _resolve(self, *, now: float, xmin: int | None) -> None:
        done = [
            seq
            for seq, gap in self._gaps.items()
            if now - gap.since >= self.min_age and (xmin is None or gap.xmax is None or xmin >= gap.xmax)
        ]
        for seq in done:
            del self._gaps[seq]
        self.given_up += len(done)
