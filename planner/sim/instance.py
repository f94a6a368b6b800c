"""One problem instance: a cluster, a model set, a workload and how plans are
simulated on it, checked once when built.

It sits in the simulator's package because that is the lowest layer holding
all four (it needs :class:`SimOptions`); the simulator, the placement
solvers, the transition judge and the re-planner all take it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from planner.domain import Cluster, ModelSpec, Workload
from planner.sim.options import SimOptions
from planner.validation import models_by_name


def check_models(
    models: Sequence[ModelSpec], workload_model_names: Sequence[str]
) -> dict[str, ModelSpec]:
    """The model set by name. ValueError naming ``models`` when it is empty,
    ``models[i].name`` for a repeated name and ``workload.model_names`` for a
    workload model outside the set."""
    if not models:
        raise ValueError("models: needs at least one model")
    index = models_by_name(models)
    for name in workload_model_names:
        if name not in index:
            raise ValueError(f"workload.model_names: model {name!r} is not in the model set")
    return index


@dataclass(frozen=True, eq=False)
class Instance:
    """``cluster``, ``models`` (a tuple; names unique), ``workload`` (every
    model it names is in ``models``) and the simulator ``options`` (warm-up
    and cool-down leave part of the duration scored). Compared by identity:
    the workload holds arrays."""

    cluster: Cluster
    models: tuple[ModelSpec, ...]
    workload: Workload
    options: SimOptions = field(default_factory=SimOptions)

    def __post_init__(self) -> None:
        object.__setattr__(self, "models", tuple(self.models))
        check_models(self.models, self.workload.model_names)
        options = self.options
        if options.warmup_s >= self.workload.duration_s - options.cooldown_s:
            raise ValueError(
                f"warmup_s: warmup_s + cooldown_s = {options.warmup_s + options.cooldown_s} "
                f"must be less than the workload duration_s = {self.workload.duration_s}"
            )
