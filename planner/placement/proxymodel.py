"""The proxy model an exact solver searches, built on any modelling
backend: the partition master (:mod:`planner.placement.master`, the
default) or, with option ``partition="seed"``, the formulation on the
seed's groups (:mod:`planner.placement.formulation`). CP-SAT and the MILP
build it the same way here and differ only in how they search it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from planner.deadline import Deadline
from planner.placement import formulation
from planner.placement import master as master_model
from planner.placement.enumeration import EnumerationResult
from planner.placement.formulation import Backend
from planner.placement.options import SolveOptions
from planner.placement.partition import prepare_master
from planner.placement.scoring import Scorer
from planner.placement.seeded import Progress, Run, prepare

Value = Callable[[Any], float]
"""A variable's value in one solution."""


@dataclass(frozen=True)
class ProxyModel:
    """A built proxy model: ``hint`` (the seed, a value per variable),
    ``decisions`` (the integer variables a trusted solution has integral),
    ``objective`` (its expression), ``scale`` (the proxy's total weighted
    demand: objective and bound over it estimate attainment), ``sizes``
    (for the stats) and ``offer(value, objective)``, which decodes a
    solution and hands it to the run's referee to simulate."""

    hint: Mapping[Any, int]
    decisions: tuple[Any, ...]
    objective: Any
    scale: int
    sizes: Mapping[str, object]
    offer: Callable[[Value, float], None]


def build_proxy_model(
    backend: Backend,
    scorer: Scorer,
    options: SolveOptions,
    deadline: Deadline,
    progress: Progress | None,
    seed: EnumerationResult | None,
) -> tuple[Run, ProxyModel | None]:
    """Prepare the run (the seed from ``seed`` or the best greedy, and the
    proxy's data), then build its model on ``backend``; the model is None
    when ``deadline`` passed while preparing or building (then the run's
    referee holds the seed, and nothing should be searched)."""
    model: ProxyModel
    if options.partition == "seed":
        prepared = prepare(scorer, options, deadline, progress, seed)
        if deadline.expired():
            return prepared, None
        variables = formulation.build(backend, prepared.data)

        def offer_layout(value: Value, objective: float) -> None:
            layout = formulation.decode(prepared.data, variables, value)
            prepared.referee.offer(layout, proxy=objective)

        run: Run = prepared
        model = ProxyModel(
            hint=formulation.hint(prepared.data, variables, prepared.seed.layout),
            decisions=(*variables.config.values(), *variables.replica.values()),
            objective=variables.objective,
            scale=prepared.data.weighted_demand,
            sizes=prepared.sizes,
            offer=offer_layout,
        )
    else:
        master = prepare_master(scorer, options, deadline, progress, seed)
        if deadline.expired():
            return master, None
        master_vars = master_model.build(backend, master.data)

        def offer_counts(value: Value, objective: float) -> None:
            master.offer(master_model.decode(master.data, master_vars, value))

        run = master
        model = ProxyModel(
            hint=master_model.hint(master.data, master_vars, master.seed_counts),
            decisions=tuple(master_vars.count),
            objective=master_vars.objective,
            scale=master.data.weighted_demand,
            sizes=master.sizes,
            offer=offer_counts,
        )
    return run, None if deadline.expired() else model
