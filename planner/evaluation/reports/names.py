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
    "milp": ("milp", {}),
    "sr": ("sr", {}),
    CLOCKWORK: (CLOCKWORK, {}),
}
"""Comparison label → (solver of :func:`planner.placement.solve.solve`, or
:data:`CLOCKWORK`, and its own options). Labels are solver names: the MILP
backend is the shared option ``milp_backend``, as for ``meshplan plan`` and
``POST /v1/plans``."""

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
