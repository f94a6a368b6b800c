"""The report's live re-placement section, from its JSON data: gaps per
window by hand, the tables and figure on the page, the terminal tables,
and a report of the live section alone."""

from __future__ import annotations

from typing import Any

import pytest
from rich.console import Console

from api.reporting.html import render_html
from api.reporting.live import console_tables, gap_points, summary_lines, top_counts
from planner.evaluation.reports import CompareReport


def window(
    j: int, live: tuple[float | None, float], static: tuple[float | None, float]
) -> dict[str, Any]:
    return {
        "window": j,
        "start_s": 5 * j,
        "observed": {"m00": 3 + j, "m01": 1},
        "sent": 4 + j,
        "live_measured": live[0],
        "live_simulated": live[1],
        "live_simulated_applied": live[1],
        "static_measured": static[0],
        "static_simulated": static[1],
    }


DATA: dict[str, Any] = {
    "scenario": {
        "models": 12,
        "background": 6,
        "min_gain": 0.05,
        "replicas_per_device": 1,
        "phases": 2,
        "phase_s": 10.0,
        "hot_sets": [["m00"], ["m01"]],
        "hot_rps": 2.0,
        "cold_rps": 0.1,
        "window_s": 5,
        "forecaster": "last",
    },
    "cluster": {"num_devices": 8, "device_mem_bytes": 10**6},
    "slo_s": 0.25,
    "requests": 22,
    "first_plan_id": 1,
    "windows": [
        window(0, (0.9, 0.95), (0.9, 0.9)),
        window(1, (0.5, 0.6), (0.5, 0.5)),
        window(2, (None, 1.0), (0.75, 0.7)),  # no live request in window 2
    ],
    "decisions": [
        {
            "window": 1,
            "decided_s": 5.2,
            "forecast_rps": {"m01": 1.5, "m00": 0.25},
            "keep_attainment": 0.5,
            "candidate_attainment": 0.8,
            "switch_cost": {"replicas_loaded": 1, "load_s": 0.02, "lost_replica_s": 0.02},
            "action": "switch",
            "chosen": True,
            "reason": "periodic re-plan; 1/1 blocks moved",
        }
    ],
    "switches": [
        {
            "version": 2,
            "window": 1,
            "action": "switch",
            "activated_s": 5.2,
            "applied_s": 6.1,
            "loads": [{"model": "m01", "group": 0, "seconds": 0.02, "bytes": 100, "version": 2}],
            "evicted": ["m00"],
        }
    ],
    "totals": {
        "live": {"requests": 9, "measured": 0.7, "simulated": 0.8, "simulated_applied": 0.75},
        "static": {"requests": 9, "measured": 0.7, "simulated": 0.7, "simulated_applied": None},
    },
    "latency_parts": {
        "live": {
            "requests": 7,
            "queue_p50_s": 0.001,
            "compute_p50_s": 0.002,
            "hops_p50_s": 0.003,
            "queue_p90_s": 0.004,
            "compute_p90_s": 0.005,
            "hops_p90_s": 0.006,
        }
    },
    "hops": {
        "model": "m00",
        "requests": 30,
        "direct_s": 0.002,
        "routed_s": 0.003,
        "agent_s": 0.0007,
        "compute_s": 0.0006,
        "profile_s": 0.0006,
        "router_hop_s": 0.001,
        "agent_http_s": 0.0013,
    },
    "phases_s": {"setup": 1.0},
}


def test_gaps_are_mean_and_largest_over_windows_with_requests() -> None:
    assert gap_points(DATA, "live") == pytest.approx((7.5, 10.0))  # |0.9-0.95|, |0.5-0.6|
    assert gap_points(DATA, "static") == pytest.approx((5 / 3, 5.0))  # 0, 0, |0.75-0.7|
    assert gap_points({"windows": []}, "live") is None


def test_top_counts_rank_the_largest_first_and_skip_zeros() -> None:
    assert top_counts({"a": 1, "b": 5, "c": 0, "d": 5}, limit=3) == "b 5, d 5, a 1"
    assert top_counts({"a": 0}) == "none"


def test_the_page_has_the_live_tables_figure_and_summary_without_solver_sections() -> None:
    html = render_html(CompareReport(title="live only", inputs={"live": DATA}, rows=()))
    for anchor in ("live-heading", "live-figure", "live-windows", "live-decisions"):
        assert f'id="{anchor}"' in html
    assert 'id="live-switches"' in html and 'id="live-latency"' in html
    assert 'id="table-heading"' not in html and 'id="placements-heading"' not in html
    assert "m01 0.02 s" in html  # the switch's measured load
    assert "mean 7.5, max 10.0 points" in html
    assert "router hop 1.0 ms" in html


def test_the_terminal_tables_carry_the_same_rows() -> None:
    console = Console(width=250, record=True)
    for table in console_tables(DATA):
        console.print(table)
    text = console.export_text()
    assert "Decisions" in text and "switch" in text and "80.00%" in text
    assert "60.00%" in text and "90.00%" in text
    labels = [label for label, _ in summary_lines(DATA)]
    assert labels == ["Live scenario", "Live replay", "Static replay", "Hops (one at a time)"]
    # data made before the drift watch says it had none; with it, its threshold and pace
    assert summary_lines(DATA)[0][1].endswith("minimum gain 0.05, no drift watch")
    watching = {**DATA, "scenario": {**DATA["scenario"], "react_drift": 0.25, "nowcast_s": 3}}
    assert summary_lines(watching)[0][1].endswith(
        "re-solved inside a window when the mix drifts by > 0.25 (checked every 3 s)"
    )
    polling = {**watching, "scenario": {**watching["scenario"], "poll_s": 0.25}}
    assert summary_lines(polling)[0][1].endswith(
        "(checked every 3 s); the agent and the router poll every 0.25 s"
    )
