"""The order in which an agent moves from the replicas it holds to those a
new plan wants (pure: no JAX, no threads).

A :class:`Move` loads a model on a group (creating the group if needed),
evicts one, or stops a whole group the new plan no longer has. Replicas are
compared by an identity value (the agent's ``Loaded``: architecture, layout
and batch cap); a replica whose identity changes is evicted and loaded again.

:func:`step_moves` follows a served transition's steps (the service ordered
them for memory); :func:`diff_moves` derives the moves from the difference
alone. Both stop a group that leaves the plan just before the first load on
a group sharing one of its devices, so its memory is free first, and
otherwise only after every load, so it serves as long as possible.

:func:`diff_moves` never needs to know memory sizes: if the old and the new
placement each fit, so does every intermediate state, because

1. loads on groups that evict nothing and share no device with a leaving
   group come first (those groups end as supersets of what they held, and
   the new placement fits);
2. every other group evicts before it loads, after the leaving groups on
   its devices have stopped;
3. the remaining leaving groups stop last.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from executor.group import GroupKey

Action = Literal["load", "evict", "stop"]
Replicas = Mapping[GroupKey, Mapping[str, Hashable]]
"""Per group, the identity of each model it holds (or should hold)."""


@dataclass(frozen=True)
class Move:
    """``action`` on group ``key``; ``model`` is None for ``"stop"``."""

    action: Action
    key: GroupKey
    model: str | None = None


def _overlaps(a: GroupKey, b: GroupKey) -> bool:
    return not set(a[0]).isdisjoint(b[0])


class _Stops:
    """Leaving groups, stopped once each: before an overlapping load, or last."""

    def __init__(self, leaving: Sequence[GroupKey]) -> None:
        self.left = list(leaving)

    def before_load(self, key: GroupKey) -> list[Move]:
        due = [old for old in self.left if _overlaps(old, key)]
        self.left = [old for old in self.left if old not in due]
        return [Move("stop", old) for old in due]

    def rest(self) -> list[Move]:
        due, self.left = self.left, []
        return [Move("stop", old) for old in due]


def _stale(held: Mapping[str, Hashable], want: Mapping[str, Hashable]) -> list[str]:
    """Models held that ``want`` drops or holds as another replica."""
    return [name for name, identity in held.items() if want.get(name) != identity]


def diff_moves(current: Replicas, wanted: Replicas) -> list[Move]:
    """Moves from ``current`` to ``wanted`` in the memory-safe order of the
    module docstring (groups in ``wanted``'s order, models in theirs)."""
    stops = _Stops([key for key in current if key not in wanted])
    moves: list[Move] = []
    later: list[GroupKey] = []
    for key, want in wanted.items():
        held = current.get(key, {})
        if _stale(held, want) or any(_overlaps(old, key) for old in stops.left):
            later.append(key)
            continue
        moves += [Move("load", key, name) for name in want if name not in held]
    for key in later:
        held, want = current.get(key, {}), wanted[key]
        stale = _stale(held, want)
        moves += [Move("evict", key, name) for name in stale]
        loads = [name for name in want if name not in held or name in stale]
        if loads:
            moves += stops.before_load(key)
        moves += [Move("load", key, name) for name in loads]
    return moves + stops.rest()


def step_moves(
    steps: Sequence[tuple[GroupKey, str, str]], current: Replicas, wanted: Replicas
) -> list[Move]:
    """The moves of a served transition's ``steps`` (group, ``"load"`` or
    ``"evict"``, model), in their order, that apply to this agent: a load
    of a replica already held as wanted and an evict of one not held are
    skipped, a load of a replica held as another is preceded by its evict.
    Leaving groups stop as the module docstring says; moves the steps miss
    are not added (run :func:`diff_moves` afterwards for those)."""
    held = {key: dict(models) for key, models in current.items()}
    stops = _Stops([key for key in current if key not in wanted])
    moves: list[Move] = []
    for key, action, name in steps:
        if key not in wanted:
            continue
        have = held.setdefault(key, {})
        if action == "evict" and name in have:
            moves.append(Move("evict", key, name))
            del have[name]
        elif action == "load" and name in wanted[key] and have.get(name) != wanted[key][name]:
            if name in have:
                moves.append(Move("evict", key, name))
            moves += stops.before_load(key)
            moves.append(Move("load", key, name))
            have[name] = wanted[key][name]
    return moves + stops.rest()
