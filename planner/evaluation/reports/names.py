"""Names the report builders accept, in a module that imports nothing
heavy (command lines read them for their option help)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

CLOCKWORK = "clockwork"
"""The comparison's one time-varying column: Clockwork++
(:mod:`planner.replan.timed`), not a solver of :func:`planner.placement.solve.solve`."""

SOLVER_CHOICES: Mapping[str, tuple[str, Mapping[str, Any]]] = {
    "greedy": ("greedy", {}),
    "cpsat": ("cpsat", {}),
    "milp-cbc": ("milp", {"milp_backend": "cbc"}),
    "milp-highs": ("milp", {"milp_backend": "highs"}),
    "sr": ("sr", {}),
    CLOCKWORK: (CLOCKWORK, {}),
}
"""Comparison label → (solver of :func:`planner.placement.solve.solve`, or
:data:`CLOCKWORK`, and its own options)."""

STRATEGIES = (
    "static",
    "periodic/oracle",
    "periodic/forecast",
    "triggered/oracle",
    "triggered/forecast",
    "clockwork",
    "clockwork-free",
)
"""Re-placement strategies of :mod:`planner.evaluation.reports.replan`."""

DEFAULT_STRATEGIES = (
    "static",
    "periodic/oracle",
    "periodic/forecast",
    "triggered/forecast",
    "clockwork",
    "clockwork-free",
)
