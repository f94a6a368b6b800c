"""bench.replan's summary: the best ratio to static per kind of strategy."""

from __future__ import annotations

from typing import Any

from bench.replan import best_ratios


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
