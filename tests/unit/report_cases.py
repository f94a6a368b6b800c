"""A tiny instance for the report tests: 4 devices of 5 GiB, two 2 GiB
models (100 ms on one device) and one with an activation workspace, Gamma
traffic with CV 2 for 30 s; and re-placement experiment data in the form
planner.evaluation.experiment writes."""

from __future__ import annotations

import json
from typing import Any

from planner.domain import (
    Cluster,
    Group,
    ModelSpec,
    ParallelConfig,
    Placement,
    Profile,
    StageProfile,
    TimedPlan,
)
from planner.evaluation.reports import CompareSettings
from planner.placement.solution import SolveResult
from planner.replan.clockwork import ClockworkResult
from planner.sim import simulate
from tests.unit.placement_cases import GB, model, workload

CLUSTER = Cluster(num_devices=4, device_mem_bytes=5 * GB, devices_per_node=4)
WORKSPACE_BYTES = 100 * 2**20
"""Activation bytes per batch item of model ``c`` (max batch 2)."""


def workspace_model() -> ModelSpec:
    """``c``: 1 GiB on one device, 50 ms, batch up to 2 (60 ms)."""
    stage = StageProfile(((0.05,), (0.06,)), (GB,), WORKSPACE_BYTES)
    return ModelSpec("c", 0.5, Profile({ParallelConfig(1, 1): stage}))


MODELS = (model("a"), model("b"), workspace_model())
WORK = workload({"a": 8.0, "b": 4.0, "c": 2.0}, cv=2.0, duration_s=30.0)

P12 = ParallelConfig(1, 2)
P11 = ParallelConfig(1, 1)
PLACEMENT = Placement(
    (
        Group((0, 1), P12, ("a", "b")),
        Group((2,), P11, ("a", "c")),
    )
)
"""Devices 0-1: a and b as two pipeline stages (1 GiB of each per device);
device 2: a (2 GiB) and c (1 GiB + 2 x 100 MiB workspace); device 3 idle."""

SETTINGS = CompareSettings(
    solvers=("greedy",),
    time_limit_s=20.0,
    sweep_time_limit_s=10.0,
    rate_scales=(),
    cv_scales=(),
    slo_scales=(),
    device_factors=(),
    window_s=10.0,
)


def result_of(plan: Placement | TimedPlan, wall_s: float = 0.5) -> SolveResult | ClockworkResult:
    """A solver's (or for a timed plan, Clockwork++'s) result for a
    hand-made plan, scored as a solver would."""
    attainment = simulate(CLUSTER, MODELS, plan, WORK).attainment
    if isinstance(plan, TimedPlan):
        return ClockworkResult(plan, attainment, "heuristic", wall_s, log=(), stats={})
    return SolveResult(
        placement=plan, attainment=attainment, solver="greedy", status="heuristic", wall_s=wall_s
    )


def experiment_row(strategy: str, rate: float, ratio: float | None, **extra: Any) -> dict[str, Any]:
    """A row as planner.evaluation.experiment writes it (the fields read here)."""
    return {
        "model_set": "s1",
        "devices": 8,
        "workload": "synthetic",
        "strategy": strategy,
        "kind": extra.pop("kind", "replan"),
        "forecaster": extra.pop("forecaster", None),
        "switching": extra.pop("switching", "real"),
        "max_rate_rps": rate,
        "ratio_to_static": ratio,
        "switches": 4,
        "lost_replica_s": 12.5,
        "probes": [[rate, 0.995]],
        **extra,
    }


EXPERIMENT = {
    "kind": "replan-experiment",
    "target_attainment": 0.99,
    "config": {"model_sets": ["s1"], "workloads": ["synthetic"]},
    "rows": [
        experiment_row("static", 40.0, 1.0, kind="static", switching=None),
        experiment_row("periodic/forecast", 48.0, 1.2, forecaster="ewma(0.5)"),
        experiment_row("clockwork++ (free)", 44.0, 1.1, kind="clockwork++", switching="free"),
        experiment_row("upper bound", 52.0, 1.3, kind="bound", switching="free"),
    ],
    "sweeps": [
        {**experiment_row("periodic/oracle", 30.0, 1.5), "knob": "cv", "value": 4.0},
        {**experiment_row("periodic/oracle", 30.0, 1.25), "knob": "cv", "value": 1.0},
        {**experiment_row("static", 0.0, None), "knob": "devices", "value": 16},
    ],
}


def goodput_row(strategy: str, goodput: float, **extra: Any) -> dict[str, Any]:
    """A goodput row as planner.evaluation.goodput writes it (the fields read here)."""
    return {
        "model_set": "s1",
        "devices": 4,
        "workload": "rotating-2019",
        "strategy": strategy,
        "kind": extra.pop("kind", "replan"),
        "information": extra.pop("information", "forecast"),
        "forecaster": extra.pop("forecaster", "holt"),
        "switching": extra.pop("switching", "real"),
        "rate_rps": 20.0,
        "goodput_rps": goodput,
        "x_static": goodput / 10.0,
        "best_goodput_rps": goodput + 1.0,
        "best_rate_rps": 40.0,
        "bound_goodput_rps": 16.0,
        "headroom": 1.6,
        "share_captured": (goodput - 10.0) / 6.0,
        "switches": 3,
        "lost_replica_s": 7.5,
        **extra,
    }


MEMORY_BOUND_EXPERIMENT = {
    **EXPERIMENT,
    "rows": [],
    "sweeps": [],
    "goodput_rows": [
        goodput_row(
            "static",
            10.0,
            kind="static",
            information="oracle",
            forecaster=None,
            switching=None,
            switches=0,
            lost_replica_s=0.0,
        ),
        goodput_row(
            "periodic/forecast",
            14.5,
            best_at_cap=True,
            reached_goodput_rps=15.0,
            reached_headroom=1.5,
            share_of_reached=0.9,
        ),
        goodput_row(
            "headroom bound",
            16.0,
            kind="bound",
            information="oracle",
            forecaster=None,
            switching="free",
            switches=0,
            lost_replica_s=0.0,
        ),
    ],
}
"""An experiment with goodput rows only (the memory-bound cases)."""


def two_seeds() -> dict[str, Any]:
    """The memory-bound experiment on seeds 0 and 1; on seed 1 forecast
    re-placement serves 13 requests/s instead of 14.5 (1.3x static)."""
    data = json.loads(json.dumps(MEMORY_BOUND_EXPERIMENT))
    rows = data["goodput_rows"]
    later = [{**row, "seed": 1} for row in rows]
    later[1].update(goodput_rps=13.0, x_static=1.3, share_captured=0.5)
    data["goodput_rows"] = [{**row, "seed": 0} for row in rows] + later
    return data
