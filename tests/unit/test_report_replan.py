"""planner.evaluation.reports.replan: switch costs and lost requests by hand, window
attainment against the simulator, strategies and the capacity table."""

from __future__ import annotations

import csv
import dataclasses
import io
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from api.reporting.files import write_report
from api.reporting.html import render_html
from planner.codec import encode
from planner.domain import Group, Placement, TimedPlan
from planner.evaluation.reports import (
    CapacityRow,
    ReplanCase,
    ReplanReport,
    ReplanSettings,
    SwitchLoss,
    build_replan,
    from_experiment,
    parse_report,
    with_timelines,
)
from planner.evaluation.reports.replan import (
    MIN_RATE_SCALE,
    Run,
    case_instance,
    run_strategy,
    scaled,
    switch_losses,
    timeline,
)
from planner.sim import SimOptions, simulate
from tests.unit.placement_cases import GB, model, workload
from tests.unit.report_cases import (
    CLUSTER,
    EXPERIMENT,
    MEMORY_BOUND_EXPERIMENT,
    MODELS,
    P11,
    P12,
    PLACEMENT,
    WORK,
    two_seeds,
)

SLOW_LOADS = dataclasses.replace(CLUSTER, load_bw_bytes_per_s=1e9)
LOAD_2GB_S = 2 * GB / 1e9
MOVED = Placement((Group((0, 1), P12, ("a",)), Group((2,), P11, ("b", "c"))))
"""b moves from the pipeline group to device 2, where it is the only replica."""
HOPELESS_RATES = {"a": 8.0, "b": 4.0, "c": 2.0, "z": 4.0}


def run_of(plan: TimedPlan, window_s: float = 10.0) -> Run:
    sim = simulate(SLOW_LOADS, MODELS, plan, WORK, SimOptions(warmup_s=window_s))
    return Run(plan, sim, SLOW_LOADS)


def test_switch_losses_by_hand() -> None:
    plan = TimedPlan(((0.0, PLACEMENT), (10.0, MOVED), (15.0, MOVED), (20.0, PLACEMENT)))
    losses = switch_losses(run_of(plan), MODELS, 10.0)
    b = WORK.for_model("b")
    stranded = int(np.count_nonzero((b >= 10.0) & (b < 10.0 + LOAD_2GB_S)))
    assert stranded > 0
    # 20 s: b back on the pipeline (1 GiB per device), a back on device 2
    # (2 GiB): two groups load in parallel; b has no replica until its load ends
    back_s = GB / 1e9 + LOAD_2GB_S
    stranded_back = int(np.count_nonzero((b >= 20.0) & (b < 20.0 + GB / 1e9)))
    assert stranded_back > 0
    assert losses[0] == SwitchLoss(1, 10.0, 1, LOAD_2GB_S, LOAD_2GB_S, stranded)
    assert losses[1] == SwitchLoss(2, 20.0, 2, back_s, back_s, stranded_back)
    assert len(losses) == 2  # the step at 15 s changes nothing


def test_timeline_windows_match_the_simulator() -> None:
    plan = TimedPlan(((0.0, PLACEMENT), (10.0, MOVED)))
    run = run_of(plan)
    line = timeline("tiny", "handmade", run, MODELS, 10.0)
    expected = run.sim.per_window_attainment(10.0)
    assert np.isnan(expected[0])  # the warm-up window is not scored
    assert line.window_attainment[0] is None
    assert line.window_attainment[1:] == tuple(expected[1:])
    assert line.attainment == run.sim.attainment
    assert [s.start_s for s in line.switches] == [10.0]
    assert line.lost_replica_s == LOAD_2GB_S


SETTINGS = ReplanSettings(
    strategies=("static", "clockwork", "clockwork-free"),
    window_s=10.0,
    time_limit_s=5.0,
    rel_tol=0.5,
)
CASE = ReplanCase("tiny", "gamma", SLOW_LOADS, MODELS, WORK)


@pytest.fixture(scope="module")
def report() -> ReplanReport:
    return build_replan([CASE], SETTINGS)


def test_strategies_and_capacity(report: ReplanReport) -> None:
    lines = {t.strategy: t for t in report.timelines}
    assert list(lines) == ["static", "clockwork", "clockwork-free"]
    assert lines["static"].switches == ()
    free = lines["clockwork-free"].switches
    assert free and all(
        (s.lost_requests, s.load_s, s.lost_replica_s) == (0, 0.0, 0.0) for s in free
    )
    assert lines["clockwork"].switches and all(s.load_s > 0 for s in lines["clockwork"].switches)
    assert [s.start_s for s in lines["clockwork"].switches] == [
        s.start_s for s in lines["clockwork-free"].switches
    ]
    rows = {r.strategy: r for r in report.capacity}
    static = rows["static"].max_rate
    assert static > 0 and rows["static"].ratio_to_static == 1.0
    for row in rows.values():
        assert row.ratio_to_static == pytest.approx(row.max_rate / static)
    assert rows["clockwork-free"].note.startswith("switches at no cost")
    assert rows["clockwork-free"].lost_replica_s == 0.0


def test_a_strategy_failing_at_every_rate_tried_has_no_max_rate(tmp_path: Path) -> None:
    # z's SLO is half its latency: a fifth of all requests always fail
    models = (*MODELS, model("z", slo_s=0.05))
    case = ReplanCase("hopeless", "gamma", SLOW_LOADS, models, workload(HOPELESS_RATES))
    settings = dataclasses.replace(SETTINGS, strategies=("static",))
    (row,) = build_replan([case], settings).capacity
    assert (row.max_rate, row.ratio_to_static, row.switches) == (None, None, 0)
    assert row.lowest_rate_tried == MIN_RATE_SCALE
    page = render_html(report_of(row))
    assert f">below {MIN_RATE_SCALE:.3g} (lowest tried)</td>" in page
    assert f">below {MIN_RATE_SCALE:.3g}</text>" in page  # its place in the bar chart
    files = write_report(report_of(row), tmp_path)
    (written,) = csv.DictReader(io.StringIO(files["capacity.csv"].read_text()))
    assert (written["max_rate"], written["lowest_rate_tried"]) == ("", str(MIN_RATE_SCALE))


def report_of(row: CapacityRow) -> ReplanReport:
    return ReplanReport("one row", {}, 0.99, (row,), ())


def test_no_max_rate_needs_the_lowest_rate_tried() -> None:
    with pytest.raises(ValueError, match=r"^lowest_rate_tried: is required when max_rate is None"):
        CapacityRow("s", "w", "static", None, None, 0, 0.0)


def test_static_timeline_is_the_static_plan(report: ReplanReport) -> None:
    run = run_strategy("static", case_instance(CASE, SETTINGS, 1.0), SETTINGS)
    assert run.plan.steps[0][0] == 0.0 and len(run.plan.steps) == 1
    again = simulate(SLOW_LOADS, MODELS, run.plan, WORK, SimOptions(warmup_s=10.0))
    assert report.timelines[0].attainment == again.attainment == run.sim.attainment


def test_periodic_oracle_runs() -> None:
    settings = dataclasses.replace(SETTINGS, strategies=("periodic/oracle",), capacity=False)
    (line,) = build_replan([CASE], settings).timelines
    assert line.strategy == "periodic/oracle"
    assert len(line.window_attainment) == 3
    assert all(0 <= s.start_s < 30 and s.start_s % 10 == 0 for s in line.switches)


def test_scaled_workload() -> None:
    assert scaled(WORK, 1.0, 10.0, 0) is WORK
    double = scaled(WORK, 3.0, 10.0, 0)
    assert double.num_requests / WORK.num_requests == pytest.approx(3.0, rel=0.2)


def test_progress_and_json(report: ReplanReport) -> None:
    calls: list[tuple[int, int]] = []
    settings = dataclasses.replace(SETTINGS, strategies=("static",), capacity=False)
    build_replan([CASE], settings, progress=lambda d, t, _: calls.append((d, t)))
    assert calls == [(1, 1)]
    data = json.loads(json.dumps(encode(report)))
    assert parse_report(data) == report
    assert data["kind"] == "replan"


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"strategies": ()}, "strategies: needs at least one strategy"),
        ({"strategies": ("static", "psychic")}, "strategies: unknown strategy 'psychic'"),
        ({"strategies": ("static", "static")}, "strategies: lists a strategy twice"),
        ({"solver": "best"}, "solver: must be one of"),
        ({"window_s": -1.0}, "window_s: must be a finite number > 0"),
        ({"target_attainment": 0.0}, "target_attainment: must be in (0, 1]"),
        ({"forecaster": "tea-leaves"}, "forecast: unknown forecaster"),
    ],
)
def test_bad_settings(changes: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError) as error:
        ReplanSettings(**changes)
    assert str(error.value).startswith(message)


def test_no_cases_and_bad_json() -> None:
    with pytest.raises(ValueError, match=r"^cases: needs at least one"):
        build_replan([], SETTINGS)
    data = {"kind": "replan", "title": "t", "inputs": {}, "target_attainment": 1.5}
    with pytest.raises(ValueError, match=r"^report\.capacity: is required"):
        parse_report(data)
    data.update(capacity=[], timelines=[])
    with pytest.raises(ValueError, match=r"^report\.target_attainment: must be in \(0, 1\]"):
        parse_report(data)


def test_experiment_data_becomes_a_report() -> None:
    report = from_experiment(EXPERIMENT)
    assert report.target_attainment == 0.99 and report.timelines == ()
    assert [(r.strategy, r.max_rate, r.ratio_to_static, r.rate_unit) for r in report.capacity] == [
        ("static", 40.0, 1.0, "req/s"),
        ("periodic/forecast", 48.0, 1.2, "req/s"),
        ("clockwork++ (free)", 44.0, 1.1, "req/s"),
        ("upper bound", 52.0, 1.3, "req/s"),
    ]
    assert report.capacity[0].model_set == "s1 (8 dev)"
    assert [r.note for r in report.capacity] == [
        "",
        "forecaster ewma(0.5)",
        "switches at no cost (as published)",
        "no plan exceeds it (free switches, no queueing)",
    ]
    cv, devices = report.sweeps
    assert (cv.knob, cv.values, dict(cv.ratio_to_static)) == (
        "cv",
        (1.0, 4.0),
        {"periodic/oracle": (1.25, 1.5)},
    )
    assert dict(devices.ratio_to_static) == {"static": (None,)}
    merged = with_timelines(
        report,
        build_replan([CASE], dataclasses.replace(SETTINGS, strategies=("static",), capacity=False)),
    )
    assert merged.capacity == report.capacity and len(merged.timelines) == 1
    assert merged.target_attainment == 0.99


def test_an_experiment_row_that_passed_nowhere_is_below_its_lowest_rate() -> None:
    data = json.loads(json.dumps(EXPERIMENT))
    data["rows"][1].update(max_rate_rps=None, lowest_rate_rps=3.0, ratio_to_static=None)
    data["rows"][2].update(max_rate_rps=0.0, probes=[[44.0, 0.9], [11.0, 0.95]])  # older data
    _, new, old, _ = from_experiment(data).capacity
    assert (new.max_rate, new.lowest_rate_tried) == (None, 3.0)
    assert (old.max_rate, old.lowest_rate_tried) == (None, 11.0)


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda d: d.update(kind="compare"), "experiment.kind: must be 'replan-experiment'"),
        (
            lambda d: d["rows"][1].update(max_rate_rps=None, probes=[]),
            "experiment.rows[1].probes: must be a non-empty list of [rate, attainment]",
        ),
        (
            lambda d: d["rows"][1].pop("max_rate_rps"),
            "experiment.rows[1].max_rate_rps: is required",
        ),
        (
            lambda d: d["rows"][0].update(switches="many"),
            "experiment.rows[0].switches: must be a number",
        ),
        (lambda d: d["sweeps"][2].pop("knob"), "experiment.sweeps[2].knob: is required"),
        (lambda d: d.update(rows={}), "experiment.rows: must be a list"),
    ],
)
def test_malformed_experiment(edit: Any, message: str) -> None:
    data = json.loads(json.dumps(EXPERIMENT))
    edit(data)
    with pytest.raises(ValueError) as error:
        from_experiment(data)
    assert str(error.value).startswith(message)


def test_goodput_rows_of_the_experiment() -> None:
    report = from_experiment(MEMORY_BOUND_EXPERIMENT)
    assert report.capacity == ()
    static, forecast, bound = report.goodput
    assert (forecast.model_set, forecast.workload, forecast.strategy) == (
        "s1 (4 dev)",
        "rotating-2019",
        "periodic/forecast",
    )
    assert (forecast.information, forecast.switching) == ("forecast holt", "real")
    assert (static.information, static.switching) == ("oracle (whole trace)", "none")
    assert (bound.information, bound.switching) == ("any plan, free switches", "free")
    assert (forecast.goodput_rps, forecast.x_static, forecast.share_captured) == (
        14.5,
        1.45,
        0.75,
    )
    assert (forecast.best_goodput_rps, forecast.best_rate_rps, forecast.best_at_cap) == (
        15.5,
        40.0,
        True,
    )
    assert static.best_at_cap is False
    # the measured end of the headroom; data written before it lacks it
    assert (forecast.reached_headroom, forecast.share_of_reached) == (1.5, 0.9)
    assert (static.reached_headroom, static.share_of_reached) == (None, None)
    merged = with_timelines(
        report,
        build_replan([CASE], dataclasses.replace(SETTINGS, strategies=("static",), capacity=False)),
    )
    assert merged.goodput == report.goodput
    assert parse_report(json.loads(json.dumps(encode(merged)))) == merged


def test_goodput_over_seeds_in_the_report() -> None:
    report = from_experiment(two_seeds())
    static, forecast, bound = report.over_seeds
    assert (forecast.model_set, forecast.workload, forecast.strategy, forecast.seeds) == (
        "s1 (4 dev)",
        "rotating-2019",
        "periodic/forecast",
        2,
    )
    # mean 1.375x in a headroom of 1.6x: 0.375 / 0.6; of the reached 1.5x: 0.375 / 0.5
    assert (forecast.x_static_min, forecast.x_static_max) == (1.3, 1.45)
    assert forecast.x_static == pytest.approx(1.375)
    assert forecast.share_captured == pytest.approx(0.625)
    assert forecast.share_of_reached == pytest.approx(0.75)
    assert (static.x_static, static.share_captured, static.share_of_reached) == (1.0, 0.0, None)
    assert (bound.share_captured, bound.share_of_reached) == (pytest.approx(1.0), None)
    assert parse_report(json.loads(json.dumps(encode(report)))) == report
    assert with_timelines(report, report).over_seeds == report.over_seeds * 2
    # a key field of any JSON value groups as its text
    data = two_seeds()
    for row in data["goodput_rows"]:
        row["devices"] = [4]
    assert [row.model_set for row in from_experiment(data).over_seeds] == ["s1 ([4] dev)"] * 3


def test_goodput_rows_of_several_seeds_name_their_seed() -> None:
    data = json.loads(json.dumps(MEMORY_BOUND_EXPERIMENT))
    rows = data["goodput_rows"]
    data["goodput_rows"] = [{**row, "seed": 0} for row in rows] + [
        {**row, "seed": 1} for row in rows
    ]
    report = from_experiment(data)
    assert [row.workload for row in report.goodput] == ["rotating-2019 (seed 0)"] * len(rows) + [
        "rotating-2019 (seed 1)"
    ] * len(rows)
    # one seed throughout: the rows read as before, with no table over seeds
    one = {**data, "goodput_rows": [{**row, "seed": 3} for row in rows]}
    assert [row.workload for row in from_experiment(one).goodput] == ["rotating-2019"] * len(rows)
    assert from_experiment(one).over_seeds == ()
    data["goodput_rows"][1]["seed"] = "one"
    with pytest.raises(ValueError, match=r"goodput_rows\[1\]\.seed: must be an integer, got 'one'"):
        from_experiment(data)


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda d: d.update(goodput_rows={}), "experiment.goodput_rows: must be a list"),
        (
            lambda d: d["goodput_rows"][1].pop("headroom"),
            "experiment.goodput_rows[1].headroom: is required",
        ),
        (
            lambda d: d["goodput_rows"][0].update(goodput_rps="lots"),
            "experiment.goodput_rows[0].goodput_rps: must be a number",
        ),
        (
            lambda d: d["goodput_rows"][1].update(share_of_reached="most"),
            "experiment.goodput_rows[1].share_of_reached: must be a number",
        ),
        (
            lambda d: d["goodput_rows"][2].pop("forecaster"),
            "experiment.goodput_rows[2].forecaster: is required",
        ),
    ],
)
def test_malformed_goodput_rows(edit: Any, message: str) -> None:
    data = json.loads(json.dumps(MEMORY_BOUND_EXPERIMENT))
    edit(data)
    with pytest.raises(ValueError) as error:
        from_experiment(data)
    assert str(error.value).startswith(message)
