"""Compare plans that were already made (by the planning service's jobs),
without solving: each stored placement is simulated on one instance and
set next to what its solve reported (:class:`SolveFacts`). The report has
the table and the placement pictures; it has no sweeps, since every sweep
point would need a new solve."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from planner.domain import Cluster, ModelSpec, Placement, Workload
from planner.evaluation.reports.compare import SolveFacts, describe_inputs, plan_row
from planner.evaluation.reports.data import CompareReport
from planner.sim import Instance, SimOptions
from planner.validation import validate


@dataclass(frozen=True)
class StoredPlan:
    """A plan made elsewhere: its report label, placement and solve facts."""

    label: str
    placement: Placement
    facts: SolveFacts


def compare_stored(
    cluster: Cluster,
    models: Sequence[ModelSpec],
    workload: Workload,
    plans: Sequence[StoredPlan],
    *,
    sim: SimOptions,
    source: Mapping[str, Any],
    title: str = "Solver comparison",
) -> CompareReport:
    """One row per plan, in order, each simulated on the same instance
    (``sim`` sets batching and warm-up). ``source`` says where the plans
    came from (the header's ``source``). ValueError naming
    ``plans[i].placement`` when a plan does not fit the cluster and models."""
    if not plans:
        raise ValueError("plans: needs at least one plan")
    instance = Instance(cluster, tuple(models), workload, sim)
    for i, plan in enumerate(plans):
        try:
            validate(cluster, instance.models, plan.placement)
        except ValueError as error:
            raise ValueError(f"plans[{i}].placement ({plan.label}): {error}") from None
    rows = tuple(plan_row(p.label, p.placement, p.facts, instance) for p in plans)
    return CompareReport(
        title=title, inputs={**describe_inputs(instance), "source": dict(source)}, rows=rows
    )
