"""Map steps in the runner: one durable step row per item (``draw[3]``), at most ``max_parallel`` running,
and the parent row ``draw`` that aggregates them (its outputs are lists in item order)."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Any

from gateway.pipelines import StepSpec
from gateway.runner.steps import StepRecord


def item_id(step_id: str, index: int) -> str:
    """``draw`` and 3 → ``draw[3]`` (0-based), the id of one item's step row and events."""
    return f"{step_id}[{index}]"


def storage_step_id(record_id: str) -> str:
    """The step id a worker (and the files' keys) see: ``draw[3]`` → ``draw-3`` (workers accept letters,
    digits, ``.``, ``_`` and ``-`` there; step ids never hold ``-``, so no other step can clash)."""
    if record_id.endswith("]") and "[" in record_id:
        base, _, index = record_id[:-1].partition("[")
        return f"{base}-{index}"
    return record_id


@dataclass(slots=True)
class MapRun:
    """One started map step: its items, which wait, which run, and how many may run at once."""

    step: StepSpec
    elements: list[Any]
    items: list[StepRecord]
    waiting: deque[int] = field(default_factory=deque)
    running: set[int] = field(default_factory=set)
    #: The items of the map steps over the same list that this one reads item by item (one list per step).
    after: list[list[StepRecord]] = field(default_factory=list)

    @property
    def parent_id(self) -> str:
        return self.step.id

    def next_items(self) -> list[int]:
        """Indexes to launch now, in order, without going over ``max_parallel`` (counting the ones running);
        an item it reads from other map steps (``after``) waits until their item of the same index is done."""
        out: list[int] = []
        if not self.after:
            while self.waiting and len(self.running) + len(out) < self.step.parallel:
                out.append(self.waiting.popleft())
        else:
            for index in list(self.waiting):
                if len(self.running) + len(out) >= self.step.parallel:
                    break
                if all(other[index].usable for other in self.after):
                    self.waiting.remove(index)
                    out.append(index)
        self.running.update(out)
        return out

    def settled(self) -> bool:
        """True when no item waits or runs any more."""
        return not self.waiting and not self.running

    def aggregate(self, declared: list[str]) -> dict[str, Any]:
        """The parent's outputs: each output field (``declared`` ones at least, so an empty list still has
        them) as the list of the items' values, in item order."""
        names = list(declared)
        for record in self.items:
            names += [name for name in record.outputs if name not in names]
        return {name: [record.outputs.get(name) for record in self.items] for name in names}
