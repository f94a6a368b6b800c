"""planner.evaluation.reports: comparison rows checked against the simulator and hand
counts, sweeps, settings validation and the JSON form."""

from __future__ import annotations

import dataclasses
import json
import math
from typing import Any

import pytest

from planner.codec import encode
from planner.domain import ModelSpec, TimedPlan
from planner.evaluation.reports import (
    CompareReport,
    CompareSettings,
    DeviceUse,
    build_compare,
    device_uses,
    parse_report,
    parse_solvers,
)
from planner.evaluation.reports.compare import sweep_variant
from planner.profiles import reference_latency_s
from planner.sim import simulate
from planner.validation import validate
from tests.unit.placement_cases import GB, model
from tests.unit.report_cases import (
    CLUSTER,
    MODELS,
    PLACEMENT,
    SETTINGS,
    WORK,
    WORKSPACE_BYTES,
    result_of,
)


def compare_given(**results: Any) -> CompareReport:
    settings = dataclasses.replace(SETTINGS, solvers=tuple(results))
    return build_compare(CLUSTER, MODELS, WORK, settings, results=results)


def test_device_uses_by_hand() -> None:
    uses = device_uses(CLUSTER, MODELS, PLACEMENT)
    assert uses == (
        DeviceUse(0, 0, "op1xpp2", 0, (("a", GB), ("b", GB)), 0),
        DeviceUse(1, 0, "op1xpp2", 1, (("a", GB), ("b", GB)), 0),
        DeviceUse(2, 1, "op1xpp1", 0, (("a", 2 * GB), ("c", GB)), 2 * WORKSPACE_BYTES),
        DeviceUse(3, -1, "", 0, (), 0),
    )
    assert [u.used_bytes for u in uses] == [2 * GB, 2 * GB, 3 * GB + 2 * WORKSPACE_BYTES, 0]


def test_row_equals_the_simulator() -> None:
    report = compare_given(greedy=result_of(PLACEMENT, wall_s=0.5))
    row = report.row("greedy")
    sim = simulate(CLUSTER, MODELS, PLACEMENT, WORK)
    latency = sim.latency_percentiles_s()
    assert 0 < sim.attainment < 1
    assert row.attainment == sim.attainment == row.solver_attainment
    assert row.goodput_rps == sim.goodput_rps
    assert row.latency_p50_s == latency["p50"]
    assert row.latency_p99_s == latency["p99"]
    assert row.per_model_attainment == sim.per_model_attainment()
    assert (row.num_groups, row.replicas, row.switches, row.solve_s) == (2, 4, 0, 0.5)
    assert row.memory_used_bytes == 7 * GB + 2 * WORKSPACE_BYTES
    assert row.memory_total_bytes == 20 * GB
    assert row.memory_fraction == (7 * GB + 2 * WORKSPACE_BYTES) / (20 * GB)
    assert row.gap is None and row.status == "heuristic"


def test_timed_plan_row_counts_switches_and_pays_loads() -> None:
    later = dataclasses.replace(
        PLACEMENT, groups=(*PLACEMENT.groups[:1], PLACEMENT.groups[1].with_models(["b", "c"]))
    )
    plan = TimedPlan(((0.0, PLACEMENT), (10.0, later), (20.0, PLACEMENT)))
    row = compare_given(clockwork=result_of(plan)).row("clockwork")
    assert (row.solver, row.gap) == ("clockwork", None)
    assert row.switches == 2
    assert row.placement == PLACEMENT
    assert row.timed_plan == plan
    assert row.attainment == simulate(CLUSTER, MODELS, plan, WORK).attainment


def test_no_request_served_gives_no_latency() -> None:
    idle = dataclasses.replace(PLACEMENT, groups=(PLACEMENT.groups[0].with_models([]),))
    row = compare_given(greedy=result_of(idle)).row("greedy")
    assert row.attainment == 0.0
    assert row.latency_p99_s is None and row.latency_p50_s is None
    assert row.memory_used_bytes == 0


def test_greedy_row_is_validated_and_matches_its_solver() -> None:
    report = build_compare(CLUSTER, MODELS, WORK, SETTINGS)
    row = report.row("greedy")
    validate(CLUSTER, MODELS, row.placement)
    assert row.attainment == row.solver_attainment
    assert row.attainment == simulate(CLUSTER, MODELS, row.placement, WORK).attainment
    assert report.best is row


def test_sweeps_move_the_right_way() -> None:
    settings = dataclasses.replace(
        SETTINGS,
        rate_scales=(0.25, 2.0, 16.0),
        slo_scales=(1.0, 4.0, 40.0),
        device_factors=(0.25, 0.5, 1.0),
        sweep_time_limit_s=5.0,
    )
    report = build_compare(CLUSTER, MODELS, WORK, settings)
    sweeps = {s.axis: s for s in report.sweeps}
    assert set(sweeps) == {"rate_scale", "slo_scale", "num_devices"}
    assert sweeps["num_devices"].values == (1.0, 2.0, 4.0)
    rate = sweeps["rate_scale"].attainment["greedy"]
    slo = sweeps["slo_scale"].attainment["greedy"]
    devices = sweeps["num_devices"].attainment["greedy"]
    assert all(isinstance(p, float) for p in (*rate, *slo, *devices))
    assert rate[0] > rate[1] > rate[2]  # type: ignore[operator]
    assert slo[0] < slo[1] <= slo[2]  # type: ignore[operator]
    assert devices[0] < devices[1] <= devices[2]  # type: ignore[operator]


@pytest.mark.parametrize(
    ("other", "on_one_device"),
    [(model("a"), 1 / 3), (model("wide", weight_bytes=8 * GB), None)],
    ids=["one-fits", "none-fit"],
)
def test_a_sweep_point_misses_models_that_fit_nowhere_and_is_none_when_none_fit(
    other: ModelSpec, on_one_device: float | None
) -> None:
    # 8 GiB fits no 5 GiB device alone: "huge" fits one device only when split
    models = (model("huge", weight_bytes=8 * GB), other)
    settings = dataclasses.replace(SETTINGS, device_factors=(0.25, 1.0))
    work = WORK.merge({"huge": [1.0, 2.0], other.name: [1.5]}, 30.0)
    report = build_compare(CLUSTER, models, work, settings)
    (sweep,) = report.sweeps
    assert sweep.values == (1.0, 4.0)
    assert sweep.attainment["greedy"] == (on_one_device, 1.0)


def test_sweep_variants() -> None:
    instance = SETTINGS.instance(CLUSTER, MODELS, WORK)
    slower = sweep_variant("slo_scale", 3.0, instance, SETTINGS)
    assert (slower.cluster, slower.workload, slower.options) == (CLUSTER, WORK, instance.options)
    assert [m.slo_s for m in slower.models] == [
        3.0 * reference_latency_s(m.profile) for m in MODELS
    ]
    assert slower.models[0].slo_s == pytest.approx(0.3)
    cluster = sweep_variant("num_devices", 2.0, instance, SETTINGS).cluster
    assert cluster.num_devices == 2 and cluster.device_mem_bytes == CLUSTER.device_mem_bytes
    base = sweep_variant("rate_scale", 1.0, instance, SETTINGS).workload
    double = sweep_variant("rate_scale", 4.0, instance, SETTINGS).workload
    assert base.model_names == WORK.model_names and base.duration_s == WORK.duration_s
    assert double.num_requests / base.num_requests == pytest.approx(4.0, rel=0.15)
    bursty = sweep_variant("cv_scale", 4.0, instance, SETTINGS).workload
    assert bursty.meta["redraw"]["cv_scale"] == 4.0


def test_progress_counts_every_step() -> None:
    calls: list[tuple[int, int]] = []
    settings = dataclasses.replace(SETTINGS, slo_scales=(2.0, 5.0), device_factors=(1.0,))
    build_compare(
        CLUSTER, MODELS, WORK, settings, progress=lambda done, total, _: calls.append((done, total))
    )
    assert calls == [(1, 4), (2, 4), (3, 4), (4, 4)]


def test_json_round_trip() -> None:
    report = compare_given(greedy=result_of(PLACEMENT))
    data = json.loads(json.dumps(encode(report)))
    again = parse_report(data)
    assert again == report
    assert encode(again) == data


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda d: d.pop("kind"), "report.kind: must be one of compare"),
        (
            lambda d: d["rows"][0].update(attainment="x"),
            "report.rows[0].attainment: must be a number",
        ),
        (
            lambda d: d["rows"][0].update(attainment=1.5),
            "report.rows[0].attainment: must be in [0, 1]",
        ),
        (lambda d: d["rows"][0].pop("replicas"), "report.rows[0].replicas: is required"),
        (
            lambda d: d["rows"][0]["devices"][0].update(weights=[["a"]]),
            "report.rows[0].devices[0].weights[0]: must have 2 items",
        ),
        (
            lambda d: d["rows"][0]["placement"]["groups"][0].update(devices=[0, 0]),
            "report.rows[0].placement.groups[0].devices: lists a device twice",
        ),
        (lambda d: d.update(colour="red"), "report.colour: is not a field of CompareReport"),
        (lambda d: d.update(rows={}), "report.rows: must be a list"),
    ],
)
def test_malformed_json_names_the_field(edit: Any, message: str) -> None:
    data = encode(compare_given(greedy=result_of(PLACEMENT)))
    edit(data)
    with pytest.raises(ValueError) as error:
        parse_report(data)
    assert str(error.value).startswith(message)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"solvers": ()}, "solvers: needs at least one solver"),
        ({"solvers": ("greedy", "magic")}, "solvers: unknown solver 'magic'"),
        ({"solvers": ("sr", "sr")}, "solvers: lists a solver twice"),
        ({"sweep_solvers": ("nope",)}, "sweep_solvers: unknown solver 'nope'"),
        ({"rate_scales": (1.0, -2.0)}, "rate_scales[1]: must be a finite number > 0"),
        ({"time_limit_s": 0.0}, "time_limit_s: must be a finite number > 0"),
        ({"options": {"colour": 1}}, "options.colour: unknown option"),
    ],
)
def test_bad_settings(changes: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError) as error:
        CompareSettings(**changes)
    assert str(error.value).startswith(message)


def test_parse_solvers_and_unknown_results() -> None:
    assert parse_solvers(" greedy, milp ,") == ("greedy", "milp")
    with pytest.raises(ValueError, match=r"^results\.cpsat: not one of the report's solvers"):
        build_compare(CLUSTER, MODELS, WORK, SETTINGS, results={"cpsat": result_of(PLACEMENT)})


@pytest.mark.parametrize("old", ["milp-cbc", "milp-highs"])
def test_old_milp_labels_say_the_backend_is_an_option(old: str) -> None:
    backend = old.removeprefix("milp-")
    with pytest.raises(ValueError) as error:
        parse_solvers(f"greedy,{old}", "--solvers")
    assert str(error.value).startswith(
        f"--solvers: unknown solver {old!r} ({old!r} is solver 'milp' with option "
        f"milp_backend={backend}); choose from greedy, cpsat, milp,"
    )


def test_quick_settings_are_smaller() -> None:
    full, quick = CompareSettings(), CompareSettings.quick(seed=3)
    assert quick.seed == 3
    assert quick.total_steps(CLUSTER) < full.total_steps(CLUSTER)
    assert quick.sweep_time_limit_s < full.sweep_time_limit_s
    assert math.isclose(quick.time_limit_s, 10.0)
