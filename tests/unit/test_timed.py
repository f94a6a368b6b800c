"""Time-varying strategies through their one entry point: Clockwork++
follows shifting popularity and reports the simulator's attainment under
free switching; re-placement answers in the same shape; runs are cached."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from planner.deadline import Deadline
from planner.domain import Cluster, Group, ParallelConfig, Placement, Workload
from planner.placement.feasibility import why_unfit
from planner.placement.solution import InfeasibleError
from planner.placement.solve import solve
from planner.replan.clockwork import ClockworkOptions, ClockworkResult, instant_load
from planner.replan.options import ReplanOptions, ReplanResult
from planner.replan.solvecache import SolveCache
from planner.replan.timed import TimedResult, plan_over_time
from planner.replan.transition import SwitchCost, switch_cost
from planner.sim import Instance, SimOptions, compile_case
from planner.validation import validate_plan
from tests.unit.placement_cases import GB, model

# "a" is busy in the first half, "b" in the second; one device holds one
# model, so a static plan must split the devices.
MODELS = (model("a", weight_bytes=6 * GB), model("b", weight_bytes=6 * GB))
P11 = ParallelConfig(1, 1)
CLUSTER = Cluster(2, 10 * GB, devices_per_node=2, load_bw_bytes_per_s=1e9)
_rng = np.random.default_rng(0)
_first = np.sort(_rng.uniform(0, 10, 300))
_second = np.sort(_rng.uniform(10, 20, 300))
SHIFTING = Workload.merge(
    {"a": np.concatenate([_first, _second[::20]]), "b": np.concatenate([_first[::20], _second])},
    20.0,
)
INSTANCE = Instance(CLUSTER, MODELS, SHIFTING)
INSTANCE_PLACEMENTS = (
    Placement((Group((0,), P11, ("a",)), Group((1,), P11, ("b",)))),
    Placement((Group((0,), P11, ("b",)), Group((1,), P11, ("a",)))),
)
"""Two placements of the instance: the second swaps the devices' models."""


def shape(result: TimedResult) -> tuple[object, ...]:
    """What every time-varying result offers."""
    return (result.plan, result.attainment, result.wall_s, result.status, result.log, result.stats)


def test_clockwork_replaces_per_window_and_follows_shifting_popularity() -> None:
    result = plan_over_time(INSTANCE, ClockworkOptions(window_s=10.0))
    assert isinstance(result, ClockworkResult) and result.strategy == "clockwork"
    validate_plan(CLUSTER, MODELS, result.plan)
    assert [start for start, _ in result.plan.steps] == [0.0, 10.0]
    hosts = [sorted(m for g in p.groups for m in g.models) for _, p in result.plan.steps]
    assert hosts[0].count("a") == 2 and hosts[1].count("b") == 2
    # its attainment is the simulator's with switches at no cost ...
    free = dataclasses.replace(INSTANCE, cluster=instant_load(CLUSTER))
    assert result.attainment == compile_case(free).run(result.plan).attainment
    # ... which the real loads (6 s each here) only lower
    assert compile_case(INSTANCE).run(result.plan).attainment < result.attainment
    assert result.status == "heuristic" and result.stats == {"windows": 2, "window_s": 10.0}
    static = solve(INSTANCE, solver="sr", deadline=Deadline.after(60))
    assert result.attainment > static.attainment


def test_instant_load_takes_no_time() -> None:
    slow = Cluster(4, 20 * GB, load_bw_bytes_per_s=1e9, load_overhead_s=2.0)
    cluster = instant_load(slow)
    assert cluster.load_time_s(20 * GB) == 0.0  # exactly: no residue of a finite bandwidth
    assert cluster != slow and cluster.num_devices == 4
    before, after = INSTANCE_PLACEMENTS
    assert switch_cost(instant_load(CLUSTER), MODELS, before, after) == SwitchCost(2, 0.0, 0.0)
    assert switch_cost(CLUSTER, MODELS, before, after).load_s == 2 * 6 * GB / 1e9


def test_replacement_answers_in_the_same_shape() -> None:
    options = ReplanOptions(window_s=10.0, time_limit_s=10.0)
    scored = dataclasses.replace(INSTANCE, options=SimOptions(warmup_s=10.0))
    result = plan_over_time(scored, options)
    assert isinstance(result, ReplanResult) and result.strategy == "periodic/oracle"
    plan, attainment, wall_s, status, log, stats = shape(result)
    assert attainment == compile_case(scored).run(plan).attainment
    assert wall_s > 0 and status == "heuristic"
    assert len(log) == len(result.windows) and log[0].startswith("window 0 at 0 s: bootstrap")
    assert stats["switches"] == result.switches == len(plan.steps) - 1


def test_a_shared_cache_runs_clockwork_once() -> None:
    cache = SolveCache()
    options = ClockworkOptions(window_s=10.0, time_limit_s=30.0)
    first = plan_over_time(INSTANCE, options, cache=cache)
    assert plan_over_time(INSTANCE, options, cache=cache) is first
    assert (cache.solves, cache.hits) == (1, 1)
    plan_over_time(INSTANCE, dataclasses.replace(options, window_s=5.0), cache=cache)
    assert cache.solves == 2


def test_clockwork_places_what_fits_and_lists_the_rest() -> None:
    huge = (model("a", weight_bytes=60 * GB), MODELS[1])
    result = plan_over_time(Instance(CLUSTER, huge, SHIFTING), ClockworkOptions(window_s=10.0))
    assert isinstance(result, ClockworkResult)
    assert result.unplaced == {"a": why_unfit(CLUSTER, huge[0])}
    hosted = [{name for g in p.groups for name in g.models} for _, p in result.plan.steps]
    assert hosted == [{"b"}, {"b"}]
    assert any(line.startswith("a: fits nowhere, not placed") for line in result.log)
    # a's requests are misses; b's are served as when b is planned alone.
    b_only = Workload.merge({"b": SHIFTING.arrivals_s[SHIFTING.model_ids == 1]}, 20.0)
    alone = plan_over_time(Instance(CLUSTER, huge[1:], b_only), ClockworkOptions(window_s=10.0))
    b_share = b_only.num_requests / SHIFTING.num_requests
    assert result.attainment == pytest.approx(alone.attainment * b_share, abs=1e-12)


def test_clockwork_refuses_when_no_model_fits() -> None:
    huge = (model("a", weight_bytes=60 * GB), model("b", weight_bytes=60 * GB))
    with pytest.raises(InfeasibleError, match=r"^models: none of the 2 models fits"):
        plan_over_time(Instance(CLUSTER, huge, SHIFTING), ClockworkOptions())


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"window_s": 0.0}, r"^window_s: must be a finite number > 0, got 0.0"),
        ({"time_limit_s": float("inf")}, r"^time_limit_s: must be a finite number > 0, got inf"),
    ],
)
def test_bad_clockwork_options_name_the_field(changes: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        ClockworkOptions(**changes)
