"""Which group two agents of a JAX cluster serve across them, and why the
other groups lying partly on an agent are not served (pure: no link)."""

from __future__ import annotations

import pytest

from executor.spanning import split_group
from planner.domain import Group, ParallelConfig, Placement

LEADER_DEVICES, FOLLOWER_DEVICES = (0, 1, 2, 3), (4, 5, 6, 7)
PP2, OP2_PP2 = ParallelConfig(1, 2), ParallelConfig(2, 2)


def placement(*groups: tuple[tuple[int, ...], ParallelConfig]) -> Placement:
    return Placement(tuple(Group(devices, config, ("m",)) for devices, config in groups))


@pytest.mark.parametrize(
    ("mine", "peer", "role"),
    [(LEADER_DEVICES, FOLLOWER_DEVICES, 0), (FOLLOWER_DEVICES, LEADER_DEVICES, 1)],
)
def test_both_agents_find_the_same_group_and_ignore_their_own(
    mine: tuple[int, ...], peer: tuple[int, ...], role: int
) -> None:
    groups = placement(
        ((0,), ParallelConfig(1, 1)), ((2, 3, 4, 5), OP2_PP2), ((6,), ParallelConfig(1, 1))
    )
    assert split_group(groups, mine, peer, role) == (1, {})


@pytest.mark.parametrize(
    ("groups", "role", "problem"),
    [
        (
            placement(((3, 4), PP2)),
            None,
            "lies partly on this agent's devices: serving it needs a JAX cluster",
        ),
        (
            placement(((2, 3, 4), ParallelConfig(1, 3))),
            0,
            "spans agents with pp = 3; only pp = 2 with one stage per agent is served",
        ),
        (
            placement(((3, 4, 5, 6), OP2_PP2)),
            0,
            "each of its two stages must lie whole on one of the two agents",
        ),
        (
            placement(((4, 3), PP2)),
            0,
            "its stage 1 lies on process 0: stage 0 must lie on process 0",
        ),
    ],
)
def test_a_group_that_cannot_span_the_agents_is_named_with_why(
    groups: Placement, role: int | None, problem: str
) -> None:
    index, errors = split_group(groups, LEADER_DEVICES, FOLLOWER_DEVICES, role)
    assert index is None
    assert list(errors) == ["groups[0]"] and errors["groups[0]"].startswith(problem)


def test_only_the_first_of_two_spanning_groups_is_served() -> None:
    groups = placement(((3, 4), PP2), ((2, 5), PP2))
    index, errors = split_group(groups, LEADER_DEVICES, FOLLOWER_DEVICES, 0)
    assert index == 0
    assert errors == {"groups[1]": "only one group may span the two agents, and groups[0] does"}
