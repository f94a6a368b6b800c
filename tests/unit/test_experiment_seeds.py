"""An experiment over several seeds (planner/evaluation/seeds.py): rows
tagged with their seed, and goodput rows summarised over the seeds, worked
by hand."""

from __future__ import annotations

from typing import Any

import pytest

from planner.evaluation.seeds import over_seeds, seed_table_rows, with_seed


def row(
    seed: int, ratio: float | None, headroom: float | None, reached: float | None, **extra: Any
) -> dict[str, Any]:
    return {
        "model_set": "s3",
        "devices": 4,
        "workload": "onoff-2021",
        "strategy": "periodic/forecast",
        "kind": "replan",
        "information": "forecast",
        "seed": seed,
        "x_static": ratio,
        "headroom": headroom,
        "reached_headroom": reached,
        "share_of_reached": 0.0,
        **extra,
    }


def test_the_shares_pool_the_mean_gain_in_the_mean_headroom() -> None:
    # gains -0.02 and +0.06 (mean 0.02) in headrooms 0.02 and 0.18 (mean 0.10)
    # and reached 0.01 and 0.09 (mean 0.05); per-seed shares would average -0.33
    (summary,) = over_seeds([row(0, 0.98, 1.02, 1.01), row(1, 1.06, 1.18, 1.09)])
    assert (summary["seeds"], summary["x_static_min"], summary["x_static_max"]) == (2, 0.98, 1.06)
    assert summary["x_static"] == pytest.approx(1.02)
    assert summary["headroom"] == pytest.approx(1.10)
    assert summary["reached_headroom"] == pytest.approx(1.05)
    assert summary["share_captured"] == pytest.approx(0.2)
    assert summary["share_of_reached"] == pytest.approx(0.4)
    assert seed_table_rows([summary]) == [
        (
            "s3",
            4,
            "onoff-2021",
            "periodic/forecast",
            2,
            "1.020 [0.980, 1.060]",
            "1.100",
            "0.20",
            "1.050",
            "0.40",
        )
    ]


def test_rows_group_per_case_and_strategy_in_first_seen_order() -> None:
    rows = [
        row(0, 1.0, 1.1, 1.05, strategy="static"),
        row(0, 1.03, 1.1, 1.05),
        row(0, 1.2, 1.3, 1.2, devices=8),
        row(1, 1.0, 1.2, 1.1, strategy="static"),
        row(1, 1.05, 1.2, 1.1),
    ]
    summary = over_seeds(rows)
    assert [(s["strategy"], s["devices"], s["seeds"]) for s in summary] == [
        ("static", 4, 2),
        ("periodic/forecast", 4, 2),
        ("periodic/forecast", 8, 1),
    ]
    assert summary[0]["share_captured"] == pytest.approx(0.0)
    assert summary[1]["share_captured"] == pytest.approx(0.04 / 0.15)


def test_no_headroom_and_the_bound_row_have_no_share() -> None:
    (flat,) = over_seeds([row(0, 1.0, 1.0, 1.0), row(1, 0.99, 1.0, 1.0)])
    assert (flat["x_static"], flat["share_captured"], flat["share_of_reached"]) == (
        pytest.approx(0.995),
        None,
        None,
    )
    # the bound is no strategy: it has no share of what they reached
    bound = [row(seed, 1.5, 1.5, 1.4, kind="bound", share_of_reached=None) for seed in (0, 1)]
    (summary,) = over_seeds(bound)
    assert summary["share_captured"] == pytest.approx(1.0)
    assert summary["share_of_reached"] is None
    # a seed with nothing to capture has no share of its own, yet the pooled one is known
    gains = [row(0, 1.0, 1.1, 1.0, share_of_reached=None), row(1, 1.06, 1.1, 1.1)]
    assert over_seeds(gains)[0]["share_of_reached"] == pytest.approx(0.03 / 0.05)
    # a seed whose static served nothing has no ratio: no mean, the range of the rest
    (partial,) = over_seeds([row(0, 1.1, 1.2, 1.1), row(1, None, None, None)])
    assert (partial["x_static"], partial["x_static_max"], partial["share_captured"]) == (
        None,
        1.1,
        None,
    )


def test_with_seed_tags_every_row_of_every_table() -> None:
    result = {"rows": [{"a": 1}], "goodput_rows": [{"b": 2}, {"b": 3}], "solves": 4}
    tagged = with_seed(result, 7)
    assert tagged == {
        "rows": [{"a": 1, "seed": 7}],
        "goodput_rows": [{"b": 2, "seed": 7}, {"b": 3, "seed": 7}],
        "sweeps": [],
        "solves": 4,
    }
    assert result["rows"] == [{"a": 1}]  # the input is left as it was
