"""planner.codec: domain, solver, re-plan and report values survive
encode → JSON text → decode; their wire forms are pinned here literally;
malformed data raises ValueError naming the field path."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from planner.codec import decode, encode
from planner.domain import (
    Cluster,
    Group,
    ModelSpec,
    ParallelConfig,
    Placement,
    Profile,
    StageProfile,
    TimedPlan,
    Workload,
)
from planner.evaluation.reports import (
    CapacityRow,
    CompareReport,
    DeviceUse,
    KnobSweep,
    ReplanReport,
    SolverRow,
    StrategyTimeline,
    Sweep,
    SwitchLoss,
)
from planner.placement.solution import STATUSES, SolveResult
from planner.profiles import models_from_json, models_to_json
from planner.replan.options import WindowDecision
from planner.replan.transition import SwitchCost

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
SETTINGS = settings(max_examples=60, deadline=None)

finite = st.floats(-1e6, 1e6, allow_nan=False)
positive = st.floats(1e-4, 1e4)
names = st.text("abcxyz-01", min_size=1, max_size=6)
configs = st.builds(ParallelConfig, st.integers(1, 4), st.integers(1, 3))


@st.composite
def stage_profiles(draw: st.DrawFn, pp: int) -> StageProfile:
    batches = draw(st.integers(1, 3))
    latency = tuple(tuple(draw(positive) for _ in range(pp)) for _ in range(batches))
    weights = tuple(draw(st.integers(0, 2**40)) for _ in range(pp))
    return StageProfile(latency, weights, draw(st.integers(0, 2**30)))


@st.composite
def profiles(draw: st.DrawFn) -> Profile:
    chosen = draw(st.lists(configs, min_size=1, max_size=3, unique=True))
    return Profile({config: draw(stage_profiles(config.pp)) for config in chosen})


models = st.builds(
    ModelSpec, names, positive, profiles(), st.sampled_from(("bert", "moe", "custom"))
)
clusters = st.builds(
    Cluster,
    st.integers(1, 64),
    st.integers(1, 2**40),
    st.integers(1, 8),
    st.floats(1e6, 1e12),
    st.floats(0.0, 10.0),
)


@st.composite
def placements(draw: st.DrawFn) -> Placement:
    free = draw(st.permutations(range(12)))
    groups = []
    for config in draw(st.lists(configs, max_size=4)):
        if config.size > len(free):
            break
        devices, free = free[: config.size], free[config.size :]
        hosted = draw(st.lists(names, max_size=3, unique=True))
        groups.append(Group(tuple(devices), config, tuple(hosted)))
    return Placement(tuple(groups))


@st.composite
def timed_plans(draw: st.DrawFn) -> TimedPlan:
    starts = draw(st.lists(st.floats(1e-3, 1e5), max_size=3, unique=True))
    return TimedPlan(tuple((start, draw(placements())) for start in [0.0, *sorted(starts)]))


@st.composite
def workloads(draw: st.DrawFn) -> Workload:
    duration = draw(positive)
    model_names = draw(st.lists(names, min_size=1, max_size=3, unique=True))
    times = draw(st.lists(st.floats(0.0, duration, exclude_max=True), max_size=20))
    ids = draw(st.lists(st.integers(0, len(model_names) - 1), min_size=len(times)))
    meta = draw(st.dictionaries(names, st.integers() | names, max_size=2))
    return Workload(np.sort(times), np.array(ids[: len(times)]), tuple(model_names), duration, meta)


optional = st.none() | finite
results = st.builds(
    SolveResult,
    placement=placements(),
    attainment=st.floats(0.0, 1.0),
    solver=names,
    status=st.sampled_from(STATUSES),
    wall_s=st.floats(0.0, 1e4),
    proxy_objective=optional,
    bound=optional,
    gap=optional,
    log=st.lists(st.text(max_size=10), max_size=3).map(tuple),
    stats=st.dictionaries(names, st.integers() | finite | names, max_size=3),
)
switch_costs = st.builds(SwitchCost, st.integers(0, 99), st.floats(0.0, 1e4), st.floats(0.0, 1e4))
decisions = st.builds(
    WindowDecision,
    window=st.integers(0, 99),
    start_s=st.floats(0.0, 1e5),
    action=st.sampled_from(("bootstrap", "keep", "switch")),
    reason=st.text(max_size=20),
    solved=st.booleans(),
    drift=optional,
    keep_attainment=st.none() | st.floats(0.0, 1.0),
    candidate=st.none() | st.sampled_from(("window", "history")),
    cost=switch_costs,
)


def through_json_text(value: Any) -> Any:
    """``value``'s JSON form, as it comes back from JSON text."""
    return json.loads(json.dumps(encode(value), allow_nan=False))


@SETTINGS
@given(
    st.one_of(
        configs,
        profiles(),
        models,
        clusters,
        placements(),
        timed_plans(),
        results,
        switch_costs,
        decisions,
    )
)
def test_values_round_trip(value: Any) -> None:
    assert decode(type(value), through_json_text(value), "value") == value


@SETTINGS
@given(stage_profiles(2))
def test_stage_profiles_round_trip(value: StageProfile) -> None:
    assert decode(StageProfile, through_json_text(value), "profile") == value


@SETTINGS
@given(workloads())
def test_workloads_round_trip(value: Workload) -> None:
    back = decode(Workload, through_json_text(value), "workload")
    assert back.arrivals_s.tolist() == value.arrivals_s.tolist()
    assert back.model_ids.tolist() == value.model_ids.tolist()
    assert (back.model_names, back.duration_s, back.meta) == (
        value.model_names,
        value.duration_s,
        value.meta,
    )


PLACEMENT = Placement(
    (Group((0, 1), ParallelConfig(1, 2), ("a",)), Group((2,), ParallelConfig(1, 1), ("a", "b")))
)
COMPARE = CompareReport(
    title="t",
    inputs={"cluster": encode(Cluster(4, 10))},
    rows=(
        SolverRow(
            label="greedy",
            solver="greedy",
            status="heuristic",
            attainment=0.9,
            solver_attainment=0.95,
            goodput_rps=3.5,
            latency_p50_s=0.1,
            latency_p99_s=None,
            solve_s=0.2,
            gap=None,
            num_groups=2,
            replicas=3,
            memory_used_bytes=5,
            memory_total_bytes=40,
            switches=1,
            placement=PLACEMENT,
            devices=(DeviceUse(0, 0, "op1xpp2", 0, (("a", 2),), 1), DeviceUse(3, -1, "", 0, (), 0)),
            timed_plan=TimedPlan(((0.0, PLACEMENT), (5.0, Placement(())))),
            per_model_attainment={"a": 0.8, "b": 1.0},
        ),
    ),
    sweeps=(Sweep("rate_scale", (0.5, 1.0), {"greedy": (1.0, None)}, "x"),),
)
REPLAN = ReplanReport(
    title="r",
    inputs={},
    target_attainment=0.99,
    capacity=(CapacityRow("s1", "synthetic", "static", 4.0, None, 0, 0.0, rate_unit="req/s"),),
    timelines=(
        StrategyTimeline(
            "s1", "periodic/oracle", 0.97, 10.0, (None, 0.9), (SwitchLoss(1, 10.0, 2, 1.5, 3.0, 4),)
        ),
    ),
    sweeps=(KnobSweep("cv", (1.0, 2.0), {"periodic/oracle": (1.2, None)}),),
)


@pytest.mark.parametrize("report", [COMPARE, REPLAN], ids=["compare", "replan"])
def test_reports_round_trip(report: CompareReport | ReplanReport) -> None:
    assert decode(type(report), through_json_text(report), "report") == report


def test_wire_forms() -> None:
    """The JSON the API, stored rows, examples and reports hold."""
    stage = StageProfile(((0.1, 0.2), (0.15, 0.3)), (10, 30), 4)
    profile = Profile({ParallelConfig(1, 2): stage})
    placement = {
        "groups": [
            {"devices": [0, 1], "config": {"op": 1, "pp": 2}, "models": ["a"]},
            {"devices": [2], "config": {"op": 1, "pp": 1}, "models": ["a", "b"]},
        ]
    }
    assert encode(Cluster(8, 2 * 10**10, 8, 12e9)) == {
        "num_devices": 8,
        "device_mem_bytes": 2 * 10**10,
        "devices_per_node": 8,
        "load_bw_bytes_per_s": 12e9,
        "load_overhead_s": 0.0,
    }
    assert encode(PLACEMENT) == placement
    assert encode(TimedPlan(((0, PLACEMENT), (60, PLACEMENT)))) == {
        "steps": [
            {"start_s": 0.0, "placement": placement},
            {"start_s": 60.0, "placement": placement},
        ]
    }
    assert encode(ModelSpec("m", 0.5, profile, "bert")) == {
        "name": "m",
        "slo_s": 0.5,
        "family": "bert",
        "profile": {
            "configs": [
                {
                    "config": {"op": 1, "pp": 2},
                    "latency_s": {"1": [0.1, 0.2], "2": [0.15, 0.3]},
                    "stage_weight_bytes": [10, 30],
                    "act_bytes": 4,
                }
            ]
        },
    }
    workload = Workload(np.array([0.5, 1.5]), np.array([1, 0]), ("a", "b"), 2.0, {"k": 1})
    assert encode(workload) == {
        "model_names": ["a", "b"],
        "duration_s": 2.0,
        "arrivals_s": [0.5, 1.5],
        "model_ids": [1, 0],
        "meta": {"k": 1},
    }
    result = SolveResult(
        PLACEMENT,
        0.75,
        "cpsat",
        "optimal",
        1.5,
        0.8,
        0.8,
        0.0,
        ("x",),
        {"n": 2},
        {"z": "why"},
        upper_bound=0.8,
    )
    assert encode(result) == {
        "solver": "cpsat",
        "status": "optimal",
        "attainment": 0.75,
        "proxy_objective": 0.8,
        "bound": 0.8,
        "gap": 0.0,
        "wall_s": 1.5,
        "placement": placement,
        "log": ["x"],
        "stats": {"n": 2},
        "unplaced": {"z": "why"},
        "upper_bound": 0.8,
        "gap_points": pytest.approx(5.0),
    }
    assert decode(SolveResult, encode(result), "result") == result
    decision = WindowDecision(2, 20.0, "switch", "gain", True, drift=math.nan, cost=SwitchCost(1))
    assert encode(decision) == {
        "window": 2,
        "start_s": 20.0,
        "action": "switch",
        "reason": "gain",
        "solved": True,
        "drift": None,
        "keep_attainment": None,
        "switch_attainment": None,
        "target_attainment": None,
        "candidate": None,
        "cost": {"replicas_loaded": 1, "load_s": 0.0, "lost_replica_s": 0.0},
    }


def test_shipped_examples_keep_their_json() -> None:
    data = json.loads((EXAMPLES / "models_s3.json").read_text())
    assert models_to_json(models_from_json(data)) == data
    for path in EXAMPLES.glob("cluster_*.json"):
        data = json.loads(path.read_text())
        assert encode(decode(Cluster, data, "cluster")) == data


GOOD_STAGE = {"config": {"op": 1, "pp": 1}, "latency_s": [[0.1]], "stage_weight_bytes": [1]}
GOOD_MODEL = {"name": "m", "slo_s": 1.0, "profile": {"configs": [GOOD_STAGE]}}
GOOD_RESULT = encode(SolveResult(PLACEMENT, 0.5, "greedy", "heuristic", 0.1))


@pytest.mark.parametrize(
    ("hint", "data", "where", "message"),
    [
        (
            Cluster,
            {"num_devices": 0, "device_mem_bytes": 1},
            "cluster",
            "cluster.num_devices: must be a positive integer, got 0",
        ),
        (Cluster, {"num_devices": "4"}, "cluster", "cluster.num_devices: must be an integer"),
        (ModelSpec, {"name": "m", "slo_s": 1.0}, "model", "model.profile: is required"),
        (
            ModelSpec,
            {**GOOD_MODEL, "profile": {"configs": [{**GOOD_STAGE, "latency_s": [[-1.0]]}]}},
            "models[1]",
            "models[1].profile.configs[0].latency_s[1][0]: must be > 0",
        ),
        (
            ModelSpec,
            {**GOOD_MODEL, "profile": {"configs": [GOOD_STAGE, GOOD_STAGE]}},
            "model",
            "model.profile.configs[1].config: op1xpp1 appears twice",
        ),
        (
            Placement,
            {"groups": [{"devices": [0], "config": {"op": 1, "pp": 1}, "colour": 1}]},
            "placement",
            "placement.groups[0].colour: is not a field of Group",
        ),
        (
            SolveResult,
            {
                **GOOD_RESULT,
                "placement": {"groups": [{"devices": [0], "config": {"op": 0, "pp": 1}}]},
            },
            "result",
            "result.placement.groups[0].config.op: must be a positive integer",
        ),
        (SolveResult, {**GOOD_RESULT, "bound": "high"}, "result", "result.bound: must be a number"),
        (
            SolveResult,
            {**GOOD_RESULT, "attainment": 2.0},
            "result",
            "result.attainment: must be in [0, 1]",
        ),
        (
            TimedPlan,
            {"steps": [{"start_s": 0, "placement": {"groups": []}}, {"start_s": 0}]},
            "plan",
            "plan.steps[1].placement: is required",
        ),
        (
            TimedPlan,
            {"steps": [{"start_s": 0, "placement": {"groups": []}}] * 2},
            "plan",
            "plan.steps[1].start_s: must be after steps[0].start_s",
        ),
        (
            Workload,
            {"model_names": ["a"], "duration_s": 1, "arrivals_s": ["x"], "model_ids": [0]},
            "workload",
            "workload.arrivals_s: must be a list of numbers",
        ),
        (
            Workload,
            {"model_names": [1], "duration_s": 1, "arrivals_s": [], "model_ids": []},
            "workload",
            "workload.model_names[0]: must be a string, got 1",
        ),
        (
            ReplanReport,
            {**encode(REPLAN), "capacity": [{**encode(REPLAN.capacity[0]), "switches": 1.5}]},
            "report",
            "report.capacity[0].switches: must be an integer, got 1.5",
        ),
    ],
)
def test_errors_name_the_field_path(hint: Any, data: Any, where: str, message: str) -> None:
    with pytest.raises(ValueError) as error:
        decode(hint, data, where)
    assert str(error.value).startswith(message)


def test_non_finite_floats_encode_as_null() -> None:
    assert encode(SwitchCost(1, math.inf, math.nan)) == {
        "replicas_loaded": 1,
        "load_s": None,
        "lost_replica_s": None,
    }
    assert encode({"a": (1.0, -math.inf)}) == {"a": [1.0, None]}
