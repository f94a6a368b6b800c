"""The order of an agent's moves between two plans: hand-checked cases and
a property test that no intermediate state exceeds any device's memory,
no kept replica is touched and the end state is the new plan's."""

from __future__ import annotations

from collections.abc import Hashable

from hypothesis import given, settings
from hypothesis import strategies as st

from executor.group import GroupKey
from executor.moves import Move, Replicas, diff_moves, step_moves
from planner.domain import ParallelConfig

ONE = ParallelConfig(1, 1)
A: GroupKey = ((0,), ONE)
B: GroupKey = ((1,), ONE)
C: GroupKey = ((2,), ONE)
WIDE: GroupKey = ((1, 2), ParallelConfig(2, 1))


def test_a_model_moving_to_a_free_group_loads_before_its_old_group_stops() -> None:
    current = {A: {"x": 0}, B: {"m": 0}}
    wanted = {A: {"x": 0}, C: {"m": 0}}
    assert diff_moves(current, wanted) == [Move("load", C, "m"), Move("stop", B)]


def test_a_leaving_group_stops_before_anything_loads_on_its_devices() -> None:
    current = {A: {"x": 0}, WIDE: {"m": 0}}
    wanted = {A: {"x": 0, "y": 0}, C: {"m": 0}, B: {}}
    assert diff_moves(current, wanted) == [
        Move("load", A, "y"),  # A only grows: first
        Move("stop", WIDE),
        Move("load", C, "m"),
    ]


def test_a_group_evicts_before_it_loads_and_a_changed_replica_is_reloaded() -> None:
    current = {A: {"x": 0, "y": 0, "z": 0}}
    wanted = {A: {"z": 0, "w": 0, "x": 1}}
    assert diff_moves(current, wanted) == [
        Move("evict", A, "x"),
        Move("evict", A, "y"),
        Move("load", A, "w"),
        Move("load", A, "x"),
    ]
    assert diff_moves(wanted, wanted) == []


def test_steps_are_followed_in_their_order_and_only_where_they_apply() -> None:
    current = {A: {"x": 0, "y": 0}, WIDE: {"m": 0}}
    wanted = {A: {"x": 0, "z": 0}, C: {"m": 0}}
    other: GroupKey = ((5,), ONE)  # another agent's group
    steps = [
        (A, "load", "z"),  # the service knows z fits beside y: load first
        (A, "evict", "y"),
        (other, "load", "q"),
        (A, "load", "x"),  # already held as wanted
        (A, "evict", "nothing"),
        (C, "load", "m"),
    ]
    assert step_moves(steps, current, wanted) == [
        Move("load", A, "z"),
        Move("evict", A, "y"),
        Move("stop", WIDE),
        Move("load", C, "m"),
    ]
    changed = {A: {"x": 1, "y": 0}}
    assert step_moves([(A, "load", "x")], current, changed) == [
        Move("evict", A, "x"),
        Move("load", A, "x"),
        Move("stop", WIDE),
    ]


DEVICES = 6
CAP = 10
MODELS = ("a", "b", "c", "d", "e")
SIZE = {"a": 6, "b": 4, "c": 3, "d": 2, "e": 1}
"""Weight bytes per device of each model on any group."""


@st.composite
def placements(draw: st.DrawFn) -> dict[GroupKey, dict[str, int]]:
    """Disjoint groups over some of the devices, each holding models that
    fit ``CAP`` per device, each replica with identity 0 or 1."""
    order = draw(st.permutations(range(DEVICES)))
    cuts = sorted(draw(st.sets(st.integers(1, DEVICES - 1), max_size=DEVICES - 1)))
    placement = {}
    for start, end in zip([0, *cuts], [*cuts, DEVICES], strict=True):
        if not draw(st.booleans()):
            continue  # devices left free
        devices = tuple(sorted(order[start:end]))
        config = (
            ParallelConfig(len(devices), 1)
            if draw(st.booleans())
            else ParallelConfig(1, len(devices))
        )
        models: dict[str, int] = {}
        for name in draw(st.permutations(MODELS)):
            if draw(st.booleans()) and sum(SIZE[m] for m in models) + SIZE[name] <= CAP:
                models[name] = draw(st.integers(0, 1))
        placement[(devices, config)] = models
    return placement


def play(
    current: Replicas, moves: list[Move], wanted: Replicas, kept: set[tuple[GroupKey, str]]
) -> dict[GroupKey, dict[str, Hashable]]:
    """Apply ``moves`` (a load takes its identity from ``wanted``), checking
    memory after each and that no kept replica is evicted or stopped."""
    state = {key: dict(models) for key, models in current.items()}
    for move in moves:
        if move.action == "stop":
            assert not any((move.key, m) in kept for m in state[move.key])
            del state[move.key]
            continue
        assert move.model is not None and (move.key, move.model) not in kept
        if move.action == "evict":
            del state[move.key][move.model]
        else:
            assert move.model not in state.get(move.key, {})  # never loaded twice
            state.setdefault(move.key, {})[move.model] = wanted[move.key][move.model]
        for device in range(DEVICES):
            used = sum(SIZE[m] for key, ms in state.items() if device in key[0] for m in ms)
            assert used <= CAP, (move, state)
    return state


def kept(old: Replicas, new: Replicas) -> set[tuple[GroupKey, str]]:
    """Replicas both placements hold alike."""
    return {(k, m) for k, ms in new.items() for m, v in ms.items() if old.get(k, {}).get(m) == v}


def nonempty(replicas: Replicas) -> dict[GroupKey, dict[str, Hashable]]:
    return {key: dict(models) for key, models in replicas.items() if models}


@settings(max_examples=300, deadline=None)
@given(placements(), placements())
def test_diff_moves_never_exceed_memory_and_end_at_the_new_placement(
    old: dict[GroupKey, dict[str, int]], new: dict[GroupKey, dict[str, int]]
) -> None:
    end = play(old, diff_moves(old, new), new, kept(old, new))
    assert nonempty(end) == nonempty(new)


@settings(max_examples=200, deadline=None)
@given(placements(), placements())
def test_safe_steps_stop_leaving_groups_in_time_and_leave_nothing_to_diff(
    old: dict[GroupKey, dict[str, int]], new: dict[GroupKey, dict[str, int]]
) -> None:
    """Steps that evict every stale replica of the kept groups and then load
    every replica of the new placement: the leaving groups stop before any
    load on their devices, and the move is complete."""
    evicts = [
        (k, "evict", m) for k, ms in old.items() if k in new for m in ms if new[k].get(m) != ms[m]
    ]
    loads = [(k, "load", m) for k, ms in new.items() for m in ms]
    end = play(old, step_moves(evicts + loads, old, new), new, kept(old, new))
    assert nonempty(end) == nonempty(new)
    assert diff_moves(end, new) == []
