"""Parsing the served plan's optional ``transition`` and ``stages``, and the
agent's choice between served stage ranges and its own split."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from executor.agent import fits_split, layout_for
from executor.api_client import ServedPlan, Step, Transition
from planner.autoparallel import TINY_BERT, plan_parallel
from planner.domain import Group, ParallelConfig

PP2 = ParallelConfig(1, 2)
BODY: dict[str, Any] = {
    "cluster_id": 1,
    "plan_id": 4,
    "version": 3,
    "placement": {
        "groups": [
            {"devices": [0, 1], "config": {"op": 1, "pp": 2}, "models": ["a", "b"]},
            {"devices": [2], "config": {"op": 1, "pp": 1}, "models": ["a"]},
        ]
    },
    "models": {
        name: {"slo_s": 1.0, "family": "bert", "architecture": None, "max_batch": 2}
        for name in ("a", "b")
    },
}


def test_without_the_new_members_both_are_none() -> None:
    plan = ServedPlan.from_json(BODY, "4-v3")
    assert (plan.transition, plan.stages, plan.etag) == (None, None, "4-v3")
    assert ServedPlan.from_json({**BODY, "transition": None}).transition is None


def test_transition_and_stages_are_parsed() -> None:
    body = {
        **BODY,
        "transition": {
            "from_version": 2,
            "steps": [
                {"group": 1, "action": "load", "model": "a"},
                {"group": 0, "action": "evict", "model": "c"},
            ],
        },
        "stages": [{"a": [[0, 2], [2, 4]], "b": [[0, 1], [1, 4]]}, {}],
    }
    plan = ServedPlan.from_json(body)
    assert plan.transition == Transition(2, (Step(1, "load", "a"), Step(0, "evict", "c")))
    assert plan.stages == ({"a": ((0, 2), (2, 4)), "b": ((0, 1), (1, 4))}, {})
    assert plan.placement.groups[1] == Group((2,), ParallelConfig(1, 1), ("a",))


@pytest.mark.parametrize(
    ("member", "value", "message"),
    [
        (
            "transition",
            {"from_version": 2, "steps": [{"group": 2, "action": "load", "model": "a"}]},
            "transition.steps[0].group: 2 is not a group of the placement",
        ),
        (
            "transition",
            {"from_version": 2, "steps": [{"group": 0, "action": "move", "model": "a"}]},
            "transition.steps[0].action: must be one of ['load', 'evict'], got 'move'",
        ),
        ("transition", {"steps": []}, "plan: malformed (KeyError('from_version'))"),
        ("stages", [{}], "stages: has 1 entries for 2 groups"),
        ("stages", [{"a": [[0, 2, 3]]}, {}], "stages[0].a: must be a list of [start, end] pairs"),
    ],
)
def test_malformed_members_are_refused_naming_them(member: str, value: Any, message: str) -> None:
    with pytest.raises(ValueError) as caught:
        ServedPlan.from_json({**BODY, member: value})
    assert message in str(caught.value)


ARCH = dataclasses.replace(TINY_BERT, num_layers=3)  # layers: embed, block0..block2


def test_served_ranges_are_used_when_they_split_the_built_network() -> None:
    own = plan_parallel(ARCH, PP2, max_batch=2)
    other = ((0, 1), (1, 4)) if own.bounds() != ((0, 1), (1, 4)) else ((0, 3), (3, 4))
    served = layout_for(ARCH, PP2, 2, other)
    assert served.bounds() == other
    assert served.rules == own.rules
    for wrong in (((0, 2), (2, 5)), ((0, 2),), ((0, 2), (3, 4)), ((0, 0), (0, 4))):
        assert not fits_split(wrong, ARCH, 2)
        assert layout_for(ARCH, PP2, 2, wrong) == own  # planned for another network
    assert layout_for(ARCH, PP2, 2, None) == own
