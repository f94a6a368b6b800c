"""Simulator entry points: input errors naming the field, options, group
numbering, and the compiled case a search reuses."""

from __future__ import annotations

import pytest

from planner.domain import TimedPlan
from planner.sim import (
    POLICIES,
    Instance,
    SimOptions,
    compile_case,
    fast,
    number_groups,
    reference,
    simulate,
)
from tests.unit.simulator_cases import CLUSTER, GB, PIPE, group, model, placement, workload

MODELS = [
    model("a", 2.0, [[1.0]], weight_bytes=60 * GB),
    model("b", 2.0, [[1.0]], weight_bytes=50 * GB),
]
WORK = workload([(0.0, "a"), (0.5, "b"), (1.0, "a")], ["a", "b"], 10.0)


@pytest.mark.parametrize(
    ("plan", "message"),
    [
        (
            placement(group([0], "a"), group([1], "b", "a2")),
            r"^groups\[1\].models: unknown model 'a2'",
        ),
        (
            TimedPlan(((0.0, placement(group([0], "a"))), (5.0, placement(group([0], "c"))))),
            r"^steps\[1\].placement.groups\[0\].models: unknown model 'c'",
        ),
        (placement(group([0, 1], "a", config=PIPE)), r"^groups\[0\].config: model 'a' has no"),
    ],
)
def test_plans_that_do_not_fit_are_refused(plan: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        simulate(CLUSTER, MODELS, plan, WORK)  # type: ignore[arg-type]


def test_memory_overflow_names_the_group() -> None:
    with pytest.raises(ValueError, match=r"^groups\[0\].models: stage 0 needs 110000000000 bytes"):
        simulate(CLUSTER, MODELS, placement(group([0], "a", "b")), WORK)


def test_workload_model_outside_the_model_set_is_refused() -> None:
    work = workload([(0.0, "a"), (0.5, "x")], ["a", "x"])
    with pytest.raises(ValueError, match=r"^workload.model_names: model 'x' is not in the model"):
        simulate(CLUSTER, MODELS, placement(group([0], "a")), work)


def test_an_instance_is_checked_once_when_built() -> None:
    instance = Instance(CLUSTER, MODELS, WORK)
    assert instance.models == tuple(MODELS)
    assert compile_case(instance).run(placement(group([0], "a"))).attainment == 2 / 3
    with pytest.raises(ValueError, match=r"^models: needs at least one model"):
        Instance(CLUSTER, (), WORK)
    with pytest.raises(ValueError, match=r"^workload.model_names: model 'b' is not in the model"):
        Instance(CLUSTER, (MODELS[0],), WORK)


def test_repeated_model_name_is_refused() -> None:
    with pytest.raises(ValueError, match=r"^models\[1\].name: 'a' appears twice"):
        simulate(CLUSTER, [MODELS[0], MODELS[0]], placement(group([0], "a")), WORK)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"max_batch": 0}, r"^max_batch: must be >= 1"),
        ({"max_batch": True}, r"^max_batch: must be an integer"),
        ({"warmup_s": -1.0}, r"^warmup_s: must be a finite number >= 0"),
        ({"cooldown_s": float("inf")}, r"^cooldown_s: must be a finite number >= 0"),
        ({"policy": "edf"}, r"^policy: unknown 'edf', expected one of \['fcfs', 'slack'\]"),
    ],
)
def test_bad_options(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        SimOptions(**kwargs)  # type: ignore[arg-type]


def test_warmup_and_cooldown_must_leave_a_scored_interval() -> None:
    options = SimOptions(warmup_s=6.0, cooldown_s=4.0)
    with pytest.raises(ValueError, match=r"^warmup_s: warmup_s \+ cooldown_s = 10.0 must be less"):
        simulate(CLUSTER, MODELS, placement(group([0], "a")), WORK, options)


def test_unknown_engine_is_refused() -> None:
    with pytest.raises(ValueError, match=r"^engine: unknown 'slow'"):
        simulate(CLUSTER, MODELS, placement(group([0], "a")), WORK, engine="slow")


def test_every_engine_implements_every_policy() -> None:
    assert set(reference.QUEUES) == set(POLICIES) == set(fast.KERNELS)


def test_group_numbering_keeps_continuing_groups_and_renumbers_returning_ones() -> None:
    g0, g1, g2 = group([0], "a"), group([1], "b"), group([2, 3], config=PIPE)
    plan = TimedPlan(
        (
            (0.0, placement(g0, g1)),
            (1.0, placement(g2, g0.with_models(["b"]))),  # g0 continues; g1 leaves
            (2.0, placement(g1, g0, g2)),  # g1 returns: a new group
        )
    )
    slots, step_slots = number_groups(plan)
    assert step_slots == ((0, 1), (2, 0), (3, 0, 2))
    assert [(s.devices, s.first_step, s.last_step, s.start_s) for s in slots] == [
        ((0,), 0, 2, 0.0),
        ((1,), 0, 0, 0.0),
        ((2, 3), 1, 2, 1.0),
        ((1,), 2, 2, 2.0),
    ]
    assert slots[2].label == "g2 op1xpp2 [2,3]"


def test_compiled_case_evaluates_many_plans() -> None:
    case = compile_case(Instance(CLUSTER, tuple(MODELS), WORK))
    only_a = placement(group([0], "a"))
    both = placement(group([0], "a"), group([1], "b"))
    assert case.attainment(only_a) == 2 / 3
    assert case.attainment(both) == 1.0
    assert case.run(both).attainment == 1.0
    assert case.run(both, engine="reference").finish_s.tolist() == [1.0, 1.5, 2.0]
    with pytest.raises(ValueError, match=r"^groups\[0\].models: unknown model 'z'"):
        case.attainment(placement(group([0], "z")), check=True)
