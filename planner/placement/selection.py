"""Which enumeration blocks the greedy solves, and why the others are not.

Blocks compete in *slots*: the blocks of one bucket on one device share
(they differ in config) fill the same place in a candidate, and a candidate
takes the best block of each of its slots. Every block is first examined
without simulation (:mod:`planner.placement.triage`: a fluid estimate and
an upper bound). Then the search runs in two passes: the first solves the
slots of the candidate with the best estimate, the second every other slot
still live; a slot solves its blocks in order of estimate (best first),
until ``keep`` are solved. A block is never solved when

- its bound is below what a solved block of its slot serves (*pruned by
  bound*: exact, it cannot be the slot's best), or
- every candidate using its slot is bounded (the sum over the candidate's
  slots of their best bounds) below what the best complete candidate solved
  so far serves (*pruned by bound*: exact, no candidate using it can win),
  or
- ``keep`` blocks of its slot were solved first (*ranked out by estimate*:
  a heuristic, like the greedy itself). The two intra-op degrees with the
  best estimates take turns, each in order of estimate: the fluid model
  does not see queueing, which favours the shorter latency of a larger
  degree.

Every block that is not solved is reported by :meth:`Selection.report`,
one line per slot, with why: its bound, its estimate, or the time limit.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Generic, Protocol, TypeVar

from planner.domain import ParallelConfig
from planner.placement.triage import Triage


class SolvedBlock(Protocol):
    """What the selection needs of a solved block: the requests it serves."""

    @property
    def total(self) -> int: ...


class Slotted(Protocol):
    """What the selection needs of a block: its bucket, devices and groups
    (``shape``: ``"16 x op1xpp8"``)."""

    @property
    def models(self) -> tuple[int, ...]: ...

    @property
    def num_devices(self) -> int: ...

    @property
    def shape(self) -> str: ...

    @property
    def config(self) -> ParallelConfig: ...


SlotKey = tuple[tuple[int, ...], int]
B = TypeVar("B", bound=Slotted)


@dataclass
class _Slot(Generic[B]):
    """One bucket on one device share: its blocks best estimate first."""

    key: SlotKey
    blocks: list[B]
    bound: int
    estimate: float
    solved: int = 0


@dataclass(frozen=True)
class Counts:
    """How many blocks were solved, pruned by bound and ranked out."""

    solved: int
    pruned_by_bound: int
    ranked_out: int


def _interleaved(blocks: Sequence[B], examined: Mapping[B, Triage]) -> list[B]:
    """The blocks in solving order: the two intra-op degrees with the best
    estimates take turns (the best of each, then the second best of each,
    ...), then the other blocks, each in order of estimate. The fluid
    estimate does not see queueing, which favours the shorter latency of a
    larger degree, so it cannot be trusted to order blocks across degrees."""
    ranked = sorted(blocks, key=lambda b: (-examined[b].estimate, b.shape))
    degrees = list(dict.fromkeys(b.config.op for b in ranked))[:2]
    turn: dict[int, int] = {}
    order: list[tuple[int, int, B]] = []
    for block in ranked:
        op = block.config.op
        turn[op] = turn.get(op, -1) + 1
        order.append((turn[op] if op in degrees else len(ranked), len(order), block))
    return [block for *_, block in sorted(order, key=lambda item: item[:2])]


class Selection(Generic[B]):
    """The passes of the search over ``candidates`` (per bucket, the blocks
    of its share) with ``examined[block]`` its triage (module docstring).
    ``prune=False`` turns the pruning by bound off (for tests comparing the
    two)."""

    def __init__(
        self,
        candidates: Sequence[Sequence[Sequence[B]]],
        examined: Mapping[B, Triage],
        keep: int,
        *,
        prune: bool = True,
    ) -> None:
        self.examined = examined
        self.keep = keep
        self.prune = prune
        self.passes = 0
        self.slots: dict[SlotKey, _Slot[B]] = {}
        for per_bucket in candidates:
            for blocks in per_bucket:
                key = (blocks[0].models, blocks[0].num_devices)
                if key not in self.slots:
                    ranked = _interleaved(blocks, examined)
                    bound = max(examined[b].bound for b in blocks)
                    estimate = examined[ranked[0]].estimate
                    self.slots[key] = _Slot(key, ranked, bound, estimate)
        self.candidates = [
            [self.slots[(blocks[0].models, blocks[0].num_devices)] for blocks in per_bucket]
            for per_bucket in candidates
        ]

    def next_pass(self, results: Mapping[B, SolvedBlock], best_total: int | None) -> list[B]:
        """The blocks to solve next given the solved ``results`` and the
        best complete candidate's total so far; [] when the search is done.
        The first pass takes the slots of the candidate with the best
        estimate (the sum of its slots' best estimates), the second every
        slot still live; each slot gives its best-estimated blocks not
        pruned by bound, up to ``keep`` solved."""
        self.passes += 1
        if self.passes == 1:
            first = max(self.candidates, key=lambda slots: sum(s.estimate for s in slots))
            slots = list({slot.key: slot for slot in first}.values())
        elif self.passes == 2:
            slots = list(self.slots.values())
        else:
            return []
        live = self._live_slots(best_total)
        chosen = []
        for slot in slots:
            for block in slot.blocks:
                if slot.solved >= self.keep:
                    break
                if block in results or block in chosen:
                    continue
                if self._pruned(slot, block, results, live, best_total) is None:
                    chosen.append(block)
                    slot.solved += 1
        return chosen

    def _live_slots(self, best_total: int | None) -> set[SlotKey]:
        """Slots used by a candidate whose bound reaches ``best_total``."""
        if not self.prune or best_total is None:
            return set(self.slots)
        return {
            slot.key
            for slots in self.candidates
            if sum(slot.bound for slot in slots) >= best_total
            for slot in slots
        }

    def _pruned(
        self,
        slot: _Slot[B],
        block: B,
        results: Mapping[B, SolvedBlock],
        live: set[SlotKey],
        best_total: int | None,
    ) -> tuple[str, str] | None:
        """Why ``block`` cannot win, as (the reason, the block named with
        its bound), or None."""
        if not self.prune:
            return None
        bound = self.examined[block].bound
        if slot.key not in live:
            return (
                f"every device split using this share is bounded below the {best_total} "
                "served by the best split solved",
                block.shape,
            )
        solved = [results[b].total for b in slot.blocks if b in results]
        if solved and bound < max(solved):
            return f"bound below the {max(solved)} served here", f"{block.shape} ({bound})"
        return None

    def report(
        self, results: Mapping[B, SolvedBlock], best_total: int | None
    ) -> tuple[Counts, list[str]]:
        """Counts and one log line per slot naming its blocks not solved:
        pruned by bound (with why), ranked out (with the estimate) or left
        unsolved at the time limit."""
        live = self._live_slots(best_total)
        lines = []
        pruned = ranked_out = 0
        for slot in self.slots.values():
            by_bound: dict[str, list[str]] = {}
            below: list[str] = []
            late: list[str] = []
            for block in slot.blocks:
                if block in results:
                    continue
                pruning = self._pruned(slot, block, results, live, best_total)
                if pruning is not None:
                    by_bound.setdefault(pruning[0], []).append(pruning[1])
                    continue
                named = f"{block.shape} ({self.examined[block].estimate:.0f})"
                (below if slot.solved >= self.keep else late).append(named)
            pruned += sum(len(names) for names in by_bound.values())
            ranked_out += len(below)
            models, devices = slot.key
            parts = [
                f"pruned by bound ({why}): " + ", ".join(names) for why, names in by_bound.items()
            ]
            if below:
                parts.append(
                    f"ranked below the {self.keep} solved by estimate: " + ", ".join(below)
                )
            if late:
                parts.append("not solved (time limit): " + ", ".join(late))
            if parts:
                lines.append(
                    f"enumeration: {len(models)} models on {devices} devices: " + "; ".join(parts)
                )
        solved = sum(1 for slot in self.slots.values() for b in slot.blocks if b in results)
        return Counts(solved, pruned, ranked_out), lines
