"""bench.replan's summary: the best ratio to static per kind of strategy."""

from __future__ import annotations

from typing import Any

from bench.replan import best_ratios, losing_windows, memory_bound_verdicts, split_cases
from planner.evaluation.experiment import ExperimentConfig


def row(kind: str, ratio: float | None, **extra: Any) -> dict[str, Any]:
    base = {"model_set": "s1", "devices": 8, "workload": "synthetic", "information": "oracle"}
    return {**base, "kind": kind, "ratio_to_static": ratio, "policy": "fcfs", **extra}


def test_best_ratio_per_kind_of_strategy() -> None:
    rows = [
        row("static", 1.0),
        row("static", 0.5, information="forecast"),
        row("replan", 0.97),
        row("replan", 1.03, information="forecast"),
        row("replan", 1.2, policy="slack"),
        row("static", 1.1, policy="slack"),
        row("clockwork++", 0.9),
        row("bound", 1.08, policy=None),
        row("replan", None),
        row("replan", 2.0, devices=16),
    ]
    assert best_ratios(rows) == {
        ("s1", 8, "synthetic"): {
            "static": 1.0,
            "first window": 0.5,
            "replan": 1.03,
            "replan preempt": 1.2,
            "static preempt": 1.1,
            "clockwork++": 0.9,
            "bound": 1.08,
        },
        ("s1", 16, "synthetic"): {"replan": 2.0},
    }


def goodput_row(
    set_name: str, share: float | None, ratio: float, headroom: float
) -> dict[str, Any]:
    return {
        "model_set": set_name,
        "devices": 4,
        "workload": "rotating-2019",
        "strategy": "periodic/forecast",
        "kind": "replan",
        "information": "forecast",
        "share_captured": share,
        "x_static": ratio,
        "headroom": headroom,
    }


def test_memory_bound_verdicts_against_the_targets() -> None:
    rows = [
        goodput_row("s1", 0.85, 1.25, 1.3),
        goodput_row("s1", 0.7, 1.15, 1.4),
        goodput_row("s2", None, 0.998, 1.0),
        {**goodput_row("s1", 1.0, 2.0, 2.0), "information": "oracle"},  # not a forecast row
    ]
    assert memory_bound_verdicts(rows) == [
        "s1 (4 devices)/rotating-2019 periodic/forecast: 1.250x static, headroom 1.300x; "
        "share 0.85 met; >= 1.2x met",
        "s1 (4 devices)/rotating-2019 periodic/forecast: 1.150x static, headroom 1.400x; "
        "share 0.70 NOT met; >= 1.2x NOT met",
        "s2 (4 devices)/rotating-2019 periodic/forecast: 0.998x static, headroom 1.000x; "
        ">= 1.0x NOT met",
    ]


def test_memory_bound_cases_split_one_per_process() -> None:
    cases = split_cases(ExperimentConfig.memory_bound(quick=True))
    assert [(c.model_sets, dict(c.devices), c.workloads) for c in cases] == [
        (("s1",), {"s1": 4}, ("rotating-2019",)),
        (("s1",), {"s1": 4}, ("onoff-2021",)),
        (("s2",), {"s2": 8}, ("rotating-2019",)),
        (("s2",), {"s2": 8}, ("onoff-2021",)),
    ]


def test_losing_windows_name_where_forecast_falls_under_static() -> None:
    static = {
        **goodput_row("s3", None, 1.0, 1.1),
        "kind": "static",
        "information": "oracle",
        "per_window_attainment": [None, 0.9, 0.95, 0.8],
    }
    forecast = {
        **goodput_row("s3", -0.3, 0.96, 1.1),
        "per_window_attainment": [None, 0.85, 0.945, 0.9],
    }
    winning = {**forecast, "x_static": 1.01}
    assert losing_windows([static, forecast, winning]) == [
        "s3 (4 devices)/rotating-2019 periodic/forecast loses to static in windows 1: 0.850 vs 0.900"
    ]
