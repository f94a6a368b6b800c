"""Reports as data: solver against solver on one instance (the table, the
sweeps of the AlpaServe evaluation's figures, the placement pictures) and
static against re-placement. Plain frozen values with JSON forms; the HTML
rendering lives in :mod:`api.reporting`.

- :func:`build_compare` → :class:`CompareReport` (:mod:`planner.evaluation.reports.compare`).
- :func:`build_replan` → :class:`ReplanReport` (:mod:`planner.evaluation.reports.replan`).
- :func:`from_experiment` reads the re-placement experiment's JSON data
  (:mod:`planner.evaluation.experiment`) as a :class:`ReplanReport`.
- :func:`compare_stored` → :class:`CompareReport` of plans made elsewhere,
  simulated, not solved (:mod:`planner.evaluation.reports.stored`).
- :func:`parse_report` reads any report's JSON form by its ``kind``.
"""

from __future__ import annotations

from typing import Any

from planner.codec import decode
from planner.evaluation.reports.compare import (
    CompareSettings,
    SolveFacts,
    build_compare,
    device_uses,
    parse_solvers,
    plan_row,
    solver_row,
)
from planner.evaluation.reports.data import SWEEP_AXES, CompareReport, DeviceUse, SolverRow, Sweep
from planner.evaluation.reports.experiment import from_experiment, with_timelines
from planner.evaluation.reports.names import SOLVER_CHOICES, STRATEGIES
from planner.evaluation.reports.replan import (
    ReplanCase,
    ReplanSettings,
    build_replan,
)
from planner.evaluation.reports.replan_data import (
    CapacityRow,
    GoodputRow,
    KnobSweep,
    ReplanReport,
    SeedRow,
    StrategyTimeline,
    SwitchLoss,
)
from planner.evaluation.reports.stored import StoredPlan, compare_stored

__all__ = [
    "REPORT_KINDS",
    "SOLVER_CHOICES",
    "STRATEGIES",
    "SWEEP_AXES",
    "CapacityRow",
    "CompareReport",
    "CompareSettings",
    "DeviceUse",
    "GoodputRow",
    "KnobSweep",
    "ReplanCase",
    "ReplanReport",
    "ReplanSettings",
    "Report",
    "SeedRow",
    "SolveFacts",
    "SolverRow",
    "StoredPlan",
    "StrategyTimeline",
    "Sweep",
    "SwitchLoss",
    "build_compare",
    "build_replan",
    "compare_stored",
    "device_uses",
    "from_experiment",
    "parse_report",
    "parse_solvers",
    "plan_row",
    "solver_row",
    "with_timelines",
]

Report = CompareReport | ReplanReport

REPORT_KINDS: dict[str, type[CompareReport] | type[ReplanReport]] = {
    "compare": CompareReport,
    "replan": ReplanReport,
}
"""Report kind (the ``kind`` field of its JSON form) → its type."""


def parse_report(data: Any, where: str = "report") -> Report:
    """A report from its JSON form, by ``data["kind"]``; ValueError naming
    the field for anything malformed."""
    if not isinstance(data, dict):
        raise ValueError(f"{where}: must be an object, got {type(data).__name__}")
    kind = data.get("kind")
    if kind not in REPORT_KINDS:
        raise ValueError(f"{where}.kind: must be one of {', '.join(REPORT_KINDS)}; got {kind!r}")
    return decode(REPORT_KINDS[kind], data, where)
