"""The re-placement report agrees with itself. A capacity row measured with
a case's runs meets the target at the case's rate exactly when the case's
table says the strategy did (a property over strategies, rates, targets and
seeds); a solve cut short once, as a wall-clock deadline may do, cannot set
the two tables apart; rows measured apart (the experiment's) are said to
be; a search that passed nowhere reads "below the lowest rate tried"."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from api.reporting.html import render_html
from planner.domain import Group, Placement
from planner.evaluation.reports import (
    STRATEGIES,
    ReplanCase,
    ReplanReport,
    ReplanSettings,
    build_replan,
    from_experiment,
    with_timelines,
)
from planner.evaluation.reports import replan as replan_module
from planner.placement.solution import SolveResult
from planner.placement.solve import solve
from tests.unit.report_cases import CLUSTER, EXPERIMENT, MODELS, P11, WORK

CASE = ReplanCase("tiny", "gamma", CLUSTER, MODELS, WORK)
ONLY_C = Placement((Group((0,), P11, ("c",)),))
"""What a greedy stopped early might return: one group, the least busy model."""


def check_consistent(report: ReplanReport) -> None:
    """Every capacity row against the case table it claims to share runs
    with, and the page's words for what it cannot check."""
    page = render_html(report)
    target = report.target_attainment
    for row in report.capacity:
        if row.max_rate is None:
            assert row.lowest_rate_tried is not None and row.ratio_to_static is None
            assert f">below {row.lowest_rate_tried:.3g} (lowest tried)</td>" in page
        else:
            assert row.max_rate > 0
        if not row.case:
            assert "were measured apart, on traffic of their own" in page
            continue
        assert f"Rows of {row.case}: measured on the same traffic as that case below" in page
        (line,) = [t for t in report.timelines if (t.case, t.strategy) == (row.case, row.strategy)]
        meets = row.max_rate is not None and row.max_rate >= line.rate_scale
        assert meets == (line.attainment >= target), (row, line.attainment)
        if row.max_rate == line.rate_scale:  # the very run of the case table
            assert (row.switches, row.lost_replica_s) == (len(line.switches), line.lost_replica_s)


@settings(max_examples=8, deadline=None)
@given(
    strategies=st.lists(st.sampled_from(STRATEGIES), min_size=1, max_size=3, unique=True),
    rate_scale=st.sampled_from([0.5, 1.0, 2.0]),
    target=st.sampled_from([0.8, 0.9, 0.99, 1.0]),
    seed=st.integers(0, 3),
)
def test_capacity_rows_agree_with_the_case_tables(
    strategies: list[str], rate_scale: float, target: float, seed: int
) -> None:
    chosen = ReplanSettings(
        strategies=tuple(strategies),
        window_s=10.0,
        time_limit_s=5.0,
        rate_scale=rate_scale,
        target_attainment=target,
        rel_tol=0.5,
        seed=seed,
    )
    report = build_replan([CASE], chosen)
    assert [row.strategy for row in report.capacity] == strategies
    check_consistent(report)
    experiment = from_experiment(EXPERIMENT)
    if target != experiment.target_attainment:  # one page, one target
        with pytest.raises(ValueError, match=r"^target_attainment: the capacity rows were"):
            with_timelines(experiment, report)
        return
    check_consistent(with_timelines(experiment, report))


def test_a_solve_cut_short_once_cannot_set_the_tables_apart(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    answers: list[SolveResult] = []

    def cut_short_first(*args: Any, **kwargs: Any) -> SolveResult:
        found = solve(*args, **kwargs)
        if not answers:  # the first solve stops at its deadline with a partial plan
            found = dataclasses.replace(found, placement=ONLY_C, status="timeout")
        answers.append(found)
        return found

    monkeypatch.setattr(replan_module, "solve", cut_short_first)
    chosen = ReplanSettings(strategies=("static",), window_s=10.0, rel_tol=0.5)
    report = build_replan([CASE], chosen)
    (line,) = report.timelines
    (row,) = report.capacity
    assert line.attainment < 0.5  # the partial plan serves c alone
    assert line.note == "a solve stopped at its time limit"  # and the table says why
    assert row.max_rate is not None and row.max_rate < 1.0  # not a second, full solve at x1
    check_consistent(report)


def test_rows_measured_apart_are_said_to_be() -> None:
    report = from_experiment(EXPERIMENT)
    page = render_html(report)
    assert "were measured apart, on traffic of their own" in page and "Rows of " not in page
    assert all(row.case == "" for row in report.capacity)
    check_consistent(report)
