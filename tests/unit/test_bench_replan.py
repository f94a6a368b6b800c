"""bench.replan's summary: the best ratio to static per kind of strategy."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from bench.replan import (
    best_ratios,
    losing_windows,
    main,
    memory_bound_verdicts,
    oracle_of,
    over_seeds,
    seed_cases,
    split_cases,
)
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


def test_verdicts_set_the_share_beside_the_oracles() -> None:
    def named(strategy: str, share: float, information: str = "forecast") -> dict[str, Any]:
        row = goodput_row("s1", share, 1.1, 1.2)
        return {**row, "strategy": strategy, "information": information, "seed": 0}

    rows = [
        named("periodic/oracle", 0.67, "oracle"),
        named("periodic/oracle+slack", 0.9, "oracle"),
        named("periodic/forecast", 0.57),
        named("triggered/forecast", 0.61),
        named("periodic/forecast+slack", 0.85),
        {**named("periodic/forecast", 0.3), "seed": 1},  # another seed: no oracle row
    ]
    assert oracle_of("triggered/forecast+slack") == "periodic/oracle+slack"
    shares = [line.split(": ", 1)[1].split("; ")[1:] for line in memory_bound_verdicts(rows)]
    assert shares == [
        ["share 0.57 NOT met", "the oracle's share 0.67 (out of its reach too)"],
        ["share 0.61 NOT met", "the oracle's share 0.67 (out of its reach too)"],
        ["share 0.85 met", "the oracle's share 0.90"],
        ["share 0.30 NOT met"],
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


def test_seed_cases_repeat_every_case_seed_by_seed() -> None:
    config = dataclasses.replace(ExperimentConfig.memory_bound(quick=True), seed=5)
    cases = seed_cases(config, 2)
    assert [(c.seed, c.model_sets, c.workloads) for c in cases] == [
        (5, ("s1",), ("rotating-2019",)),
        (5, ("s1",), ("onoff-2021",)),
        (5, ("s2",), ("rotating-2019",)),
        (5, ("s2",), ("onoff-2021",)),
        (6, ("s1",), ("rotating-2019",)),
        (6, ("s1",), ("onoff-2021",)),
        (6, ("s2",), ("rotating-2019",)),
        (6, ("s2",), ("onoff-2021",)),
    ]


def seeded(
    set_name: str, seed: int, ratio: float, headroom: float, reached: float
) -> dict[str, Any]:
    return {
        **goodput_row(set_name, None, ratio, headroom),
        "seed": seed,
        "reached_headroom": reached,
        "share_of_reached": 0.0,
    }


def test_verdicts_over_seeds_judge_s2_on_its_worst_seed() -> None:
    rows = [
        seeded("s3", 0, 0.98, 1.02, 1.01),
        seeded("s3", 1, 1.06, 1.18, 1.09),
        seeded("s2", 0, 1.0, 1.0, 1.0),
        seeded("s2", 1, 0.99, 1.0, 1.0),
    ]
    s3, s2 = over_seeds(rows)
    assert memory_bound_verdicts([s3, s2]) == [
        "s3 (4 devices)/rotating-2019 periodic/forecast: 1.020x static, headroom 1.100x; "
        "share 0.20 NOT met; share of the reached 1.050x: 0.40",
        # the mean is 0.995 x static, but S2 must never fall below: its worst seed decides
        "s2 (4 devices)/rotating-2019 periodic/forecast: 0.995x static, headroom 1.000x; "
        ">= 1.0x NOT met",
    ]
    best = over_seeds([seeded("s2", 0, 1.01, 1.0, 1.0), seeded("s2", 1, 0.999, 1.0, 1.0)])
    assert memory_bound_verdicts(best)[0].endswith(">= 1.0x NOT met")


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--memory-bound", "--seeds", "0"], "--seeds: must be >= 1"),
        (["--seeds", "2"], "above 1 only with --memory-bound"),
        (
            ["--memory-bound", "--max-rate-factor", "0.5"],
            "--max-rate-factor: must be >= 1 (the trace's own rate), got 0.5",
        ),
    ],
)
def test_bad_seed_counts_and_rate_factors_are_refused(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        main(argv)
    assert exited.value.code == 2
    assert message in capsys.readouterr().err
