"""SLO-aware preemption (the ``slack`` queue policy) against FCFS on
hand-made overload traces: exact outcomes and finish times, in both
engines."""

from __future__ import annotations

import math

import pytest

from planner.domain import ModelSpec, Placement, Workload
from planner.sim import ENGINES, Outcome, SimOptions, simulate
from tests.unit.simulator_cases import CLUSTER, group, model, placement, workload

S, D = Outcome.SERVED, Outcome.DROPPED_SLO
NAN = math.nan


def run(
    models: list[ModelSpec],
    plan: Placement,
    work: Workload,
    policy: str,
    engine: str,
    max_batch: int = 1,
) -> tuple[list[int], list[float]]:
    result = simulate(
        CLUSTER, models, plan, work, SimOptions(max_batch=max_batch, policy=policy), engine=engine
    )
    return result.outcome.tolist(), result.finish_s.tolist()


def same(actual: list[float], expected: list[float]) -> bool:
    return all(
        (math.isnan(a) and math.isnan(e)) or a == pytest.approx(e, abs=1e-12)
        for a, e in zip(actual, expected, strict=True)
    )


# L: 1 s per request, loose SLO; T: 0.2 s, tight SLO. One device hosts both.
LOOSE = model("L", 10.0, [[1.0]])


@pytest.mark.parametrize("engine", ENGINES)
def test_a_tight_request_overtakes_a_waiting_loose_one(engine: str) -> None:
    # L@0 runs 0-1; L@0.1 waits; T@0.2 must finish by 1.7.
    # FCFS: T after the waiting L, 2.0-2.2: late, dropped.
    # slack: T (slack 1.5) goes before the waiting L (slack 9.1): T 1.0-1.2,
    # L 1.2-2.2, still within its 10.1 deadline: all three served.
    models = [LOOSE, model("T", 1.5, [[0.2]])]
    plan = placement(group([0], "L", "T"))
    work = workload([(0.0, "L"), (0.1, "L"), (0.2, "T")], ["L", "T"])
    outcome, finish = run(models, plan, work, "fcfs", engine)
    assert outcome == [S, S, D] and same(finish, [1.0, 2.0, NAN])
    outcome, finish = run(models, plan, work, "slack", engine)
    assert outcome == [S, S, S] and same(finish, [1.0, 2.2, 1.2])


@pytest.mark.parametrize("engine", ENGINES)
def test_a_hopeless_request_is_dropped_without_disturbing_the_queue(engine: str) -> None:
    # T@0.2 must finish by 1.1, but the running L holds the device until
    # 1.0 and T takes 0.2: no order can save it.
    models = [LOOSE, model("T", 0.9, [[0.2]])]
    plan = placement(group([0], "L", "T"))
    work = workload([(0.0, "L"), (0.1, "L"), (0.2, "T")], ["L", "T"])
    for policy in ("fcfs", "slack"):
        outcome, finish = run(models, plan, work, policy, engine)
        assert outcome == [S, S, D] and same(finish, [1.0, 2.0, NAN]), policy


@pytest.mark.parametrize("engine", ENGINES)
def test_no_overtaking_that_would_make_a_waiting_request_late(engine: str) -> None:
    # The waiting L@0.1 must finish by 2.15 (slack 1.15); T@0.2 (deadline
    # 1.3, slack 1.1) would go first, 1.0-1.2, pushing L to 2.2: refused, and
    # T cannot make it behind L either. L keeps its slot.
    models = [model("L", 2.05, [[1.0]]), model("T", 1.1, [[0.2]])]
    plan = placement(group([0], "L", "T"))
    work = workload([(0.0, "L"), (0.1, "L"), (0.2, "T")], ["L", "T"])
    outcome, finish = run(models, plan, work, "slack", engine)
    assert outcome == [S, S, D] and same(finish, [1.0, 2.0, NAN])


@pytest.mark.parametrize("engine", ENGINES)
def test_joining_a_waiting_batch_that_is_not_the_last(engine: str) -> None:
    # A: 1.0 s alone, 1.5 s in a batch of two, SLO 10; B: 0.5 s, SLO 20.
    # A@0 runs 0-1; A@0.1 waits (slack 9.1); B@0.2 queues behind it (slack
    # 19.7). A@0.3: FCFS can only join the last batch (B's), so it runs
    # alone after B, 2.5-3.5. slack joins the waiting A batch: A 1.0-2.5
    # (both A requests), B 2.5-3.0.
    models = [model("A", 10.0, [[1.0], [1.5]]), model("B", 20.0, [[0.5], [0.5]])]
    plan = placement(group([0], "A", "B"))
    work = workload([(0.0, "A"), (0.1, "A"), (0.2, "B"), (0.3, "A")], ["A", "B"])
    outcome, finish = run(models, plan, work, "fcfs", engine, max_batch=2)
    assert outcome == [S, S, S, S] and same(finish, [1.0, 2.0, 2.5, 3.5])
    outcome, finish = run(models, plan, work, "slack", engine, max_batch=2)
    assert outcome == [S, S, S, S] and same(finish, [1.0, 2.5, 3.0, 2.5])


@pytest.mark.parametrize("engine", ENGINES)
def test_overload_burst_serves_more_with_preemption(engine: str) -> None:
    # A burst of 4 loose requests then 4 tight ones, 0.05 s apart. FCFS
    # serves the loose ones first (0-4 s) and drops every tight one; slack
    # lets each tight request overtake the waiting loose ones: T@0.2 runs
    # 1.0-1.2 (deadline 1.7), T@0.25 1.2-1.4, T@0.3 1.4-1.6, T@0.35 1.6-1.8
    # (deadline 1.85); the waiting loose ones follow, 1.8-2.8, 2.8-3.8,
    # 3.8-4.8, well within their 10 s SLO.
    models = [LOOSE, model("T", 1.5, [[0.2]])]
    plan = placement(group([0], "L", "T"))
    requests = [(0.05 * k, "L") for k in range(4)] + [(0.2 + 0.05 * k, "T") for k in range(4)]
    work = workload(requests, ["L", "T"])
    outcome, finish = run(models, plan, work, "fcfs", engine)
    assert outcome == [S] * 4 + [D] * 4
    assert same(finish, [1.0, 2.0, 3.0, 4.0, NAN, NAN, NAN, NAN])
    outcome, finish = run(models, plan, work, "slack", engine)
    assert outcome == [S] * 8
    assert same(finish, [1.0, 2.8, 3.8, 4.8, 1.2, 1.4, 1.6, 1.8])
