"""Build a :class:`CompareReport`: run several solvers on one cluster, model
set and workload, score every plan with the simulator, and sweep one input
at a time as the AlpaServe evaluation's figures do.

Sweep settings (each point re-solves every sweep solver from scratch):

- ``rate_scale`` / ``cv_scale``: fresh Gamma arrivals fitted per window of
  ``window_s`` seconds of the workload, every rate (or CV) times the factor
  (:func:`planner.workloads.redraw`, seeded);
- ``slo_scale``: every model's SLO set to the factor times its reference
  latency (:func:`planner.profiles.reference_latency_s`);
- ``num_devices``: the cluster with that many devices (``device_factors``
  times the cluster's, rounded, at least 1).

With solver option ``backend=ray`` the sweep points run as tasks on a Ray
cluster (:mod:`planner.evaluation.spread`); the report is the same.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from planner.codec import encode
from planner.deadline import Deadline
from planner.domain import Cluster, ModelSpec, Placement, TimedPlan, Workload
from planner.evaluation.reports.data import CompareReport, DeviceUse, SolverRow, Sweep
from planner.evaluation.reports.names import CLOCKWORK, SOLVER_CHOICES
from planner.evaluation.spread import remote_fan_out
from planner.fanout import Serial, as_is
from planner.placement.options import backend_hint, split_options
from planner.placement.solution import InfeasibleError, SolveResult, SolveTimeoutError
from planner.placement.solve import solve
from planner.profiles import reference_latency_s
from planner.replan.clockwork import ClockworkOptions
from planner.replan.timed import TimedResult, plan_over_time
from planner.sim import Instance, compile_case
from planner.validation import models_by_name, stage_memory_bytes
from planner.workloads import redraw, workload_stats

Progress = Callable[[int, int, str], None]
"""``progress(done, total, message)``: steps finished out of ``total``."""


def parse_solvers(text: str, field_name: str = "solvers") -> tuple[str, ...]:
    """Comma-separated solver labels (keys of :data:`SOLVER_CHOICES`)."""
    labels = tuple(part.strip() for part in text.split(",") if part.strip())
    return check_solvers(labels, field_name)


def check_solvers(labels: Sequence[str], field_name: str = "solvers") -> tuple[str, ...]:
    """``labels`` as a tuple; ValueError naming ``field_name`` when empty,
    repeated or unknown."""
    if not labels:
        raise ValueError(f"{field_name}: needs at least one solver")
    for label in labels:
        if label not in SOLVER_CHOICES:
            raise ValueError(
                f"{field_name}: unknown solver {label!r}{backend_hint(label)}; "
                f"choose from {', '.join(SOLVER_CHOICES)}"
            )
    if len(set(labels)) != len(labels):
        raise ValueError(f"{field_name}: lists a solver twice: {', '.join(labels)}")
    return tuple(labels)


def _positive(name: str, value: float) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"{name}: must be a number, got {value!r}")
    if not (math.isfinite(value) and value > 0):
        raise ValueError(f"{name}: must be a finite number > 0, got {value!r}")
    return float(value)


def _positive_tuple(name: str, values: Sequence[float]) -> tuple[float, ...]:
    return tuple(_positive(f"{name}[{i}]", value) for i, value in enumerate(values))


@dataclass(frozen=True)
class CompareSettings:
    """What :func:`build_compare` runs.

    ``time_limit_s`` bounds each solve of the table, ``sweep_time_limit_s``
    each solve of a sweep point. An empty tuple of scales skips that sweep.
    ``options`` are solver options (:func:`planner.placement.options.split_options`)
    shared by every solve; ``max_batch`` and ``warmup_s`` among them also set
    how plans are simulated."""

    solvers: tuple[str, ...] = tuple(SOLVER_CHOICES)
    sweep_solvers: tuple[str, ...] | None = None
    time_limit_s: float = 60.0
    sweep_time_limit_s: float = 10.0
    rate_scales: tuple[float, ...] = (0.25, 0.5, 1.0, 2.0, 4.0)
    cv_scales: tuple[float, ...] = (0.25, 0.5, 1.0, 2.0, 4.0)
    slo_scales: tuple[float, ...] = (1.0, 2.5, 5.0, 10.0)
    device_factors: tuple[float, ...] = (0.25, 0.5, 1.0, 2.0)
    window_s: float = 60.0
    seed: int = 0
    options: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "solvers", check_solvers(self.solvers))
        if self.sweep_solvers is not None:
            object.__setattr__(
                self, "sweep_solvers", check_solvers(self.sweep_solvers, "sweep_solvers")
            )
        for name in ("time_limit_s", "sweep_time_limit_s", "window_s"):
            object.__setattr__(self, name, _positive(name, getattr(self, name)))
        for name in ("rate_scales", "cv_scales", "slo_scales", "device_factors"):
            object.__setattr__(self, name, _positive_tuple(name, getattr(self, name)))
        split_options(self.options)
        object.__setattr__(self, "options", dict(self.options))

    @classmethod
    def quick(cls, **changes: Any) -> CompareSettings:
        """Fewer points and shorter solves, for a report in about a minute."""
        base = cls(
            time_limit_s=10.0,
            sweep_time_limit_s=2.0,
            rate_scales=(0.5, 1.0, 2.0),
            cv_scales=(0.5, 1.0, 2.0),
            slo_scales=(2.5, 5.0, 10.0),
            device_factors=(0.5, 1.0, 2.0),
        )
        return dataclasses.replace(base, **changes)

    @property
    def sweep_labels(self) -> tuple[str, ...]:
        return self.solvers if self.sweep_solvers is None else self.sweep_solvers

    def instance(
        self, cluster: Cluster, models: Sequence[ModelSpec], workload: Workload
    ) -> Instance:
        """The instance every plan is solved for and simulated on: the
        options' ``max_batch`` and ``warmup_s`` set how plans are simulated."""
        sim, _ = split_options(self.options)
        return Instance(cluster, tuple(models), workload, sim)

    def axes(self, cluster: Cluster) -> tuple[tuple[str, tuple[float, ...]], ...]:
        """``(axis, values)`` of every sweep to run, device counts resolved."""
        devices = sorted({max(1, round(f * cluster.num_devices)) for f in self.device_factors})
        axes = (
            ("rate_scale", self.rate_scales),
            ("cv_scale", self.cv_scales),
            ("slo_scale", self.slo_scales),
            ("num_devices", tuple(float(d) for d in devices)),
        )
        return tuple((axis, values) for axis, values in axes if values)

    def total_steps(self, cluster: Cluster) -> int:
        points = sum(len(values) for _, values in self.axes(cluster))
        return len(self.solvers) + points * len(self.sweep_labels)


def device_uses(
    cluster: Cluster, models: Sequence[ModelSpec], placement: Placement
) -> tuple[DeviceUse, ...]:
    """What every device of ``cluster`` holds under ``placement`` (which
    must pass :func:`planner.validation.validate`), in device order."""
    index = models_by_name(models)
    uses = {
        d: DeviceUse(device=d, group=-1, config="", stage=0, weights=(), workspace_bytes=0)
        for d in range(cluster.num_devices)
    }
    for g, group in enumerate(placement.groups):
        config = group.config
        totals = stage_memory_bytes(group, index)
        for stage in range(config.pp):
            weights = tuple(
                (name, index[name].profile[config].stage_weight_bytes[stage])
                for name in group.models
            )
            workspace = totals[stage] - sum(size for _, size in weights)
            for device in group.stage_devices(stage):
                uses[device] = DeviceUse(device, g, str(config), stage, weights, workspace)
    return tuple(uses[d] for d in range(cluster.num_devices))


def _none_if_nan(value: float) -> float | None:
    return None if math.isnan(value) else value


def plan_of(result: SolveResult | TimedResult) -> Placement | TimedPlan:
    """A solver's placement, or a time-varying strategy's timed plan."""
    return result.placement if isinstance(result, SolveResult) else result.plan


@dataclass(frozen=True)
class SolveFacts:
    """What a solve said about its plan, the plan aside: the solver (or
    time-varying strategy), its status, the attainment it reported itself
    (in [0, 1]), its wall time (s), its relative optimality gap on its
    proxy (None for heuristics), the certified upper bound on attainment
    and the gap to it in points (None when unknown) and the proxy-simulator
    rank correlation (None when not measured). A solve run here and a job
    the service ran both give these."""

    solver: str
    status: str
    attainment: float
    wall_s: float
    gap: float | None = None
    upper_bound: float | None = None
    gap_points: float | None = None
    proxy_rank_correlation: float | None = None


def facts_of(result: SolveResult | TimedResult) -> SolveFacts:
    """The facts of a result solved here."""
    if isinstance(result, SolveResult):
        correlation = result.stats.get("proxy_rank_correlation")
        return SolveFacts(
            result.solver,
            result.status,
            result.attainment,
            result.wall_s,
            result.gap,
            result.upper_bound,
            result.gap_points,
            float(correlation) if isinstance(correlation, int | float) else None,
        )
    return SolveFacts(result.strategy, result.status, result.attainment, result.wall_s)


def plan_row(
    label: str, plan: Placement | TimedPlan, facts: SolveFacts, instance: Instance
) -> SolverRow:
    """The table row of one plan: ``plan`` simulated on ``instance`` next to
    what its solve said; a timed plan's first placement stands for its
    groups and memory. The placement must pass :func:`planner.validation.validate`."""
    cluster = instance.cluster
    timed, placement = (plan, plan.steps[0][1]) if isinstance(plan, TimedPlan) else (None, plan)
    sim = compile_case(instance).run(plan)
    latency = sim.latency_percentiles_s()
    devices = device_uses(cluster, instance.models, placement)
    return SolverRow(
        label=label,
        solver=facts.solver,
        status=facts.status,
        attainment=sim.attainment,
        solver_attainment=facts.attainment,
        goodput_rps=sim.goodput_rps,
        latency_p50_s=_none_if_nan(latency["p50"]),
        latency_p99_s=_none_if_nan(latency["p99"]),
        solve_s=facts.wall_s,
        gap=facts.gap,
        num_groups=len(placement.groups),
        replicas=placement.num_replicas,
        memory_used_bytes=sum(use.used_bytes for use in devices),
        memory_total_bytes=cluster.num_devices * cluster.device_mem_bytes,
        switches=0 if timed is None else len(timed.steps) - 1,
        placement=placement,
        timed_plan=timed,
        devices=devices,
        per_model_attainment=sim.per_model_attainment(),
        upper_bound=facts.upper_bound,
        gap_points=facts.gap_points,
        proxy_rank_correlation=facts.proxy_rank_correlation,
    )


def solver_row(label: str, result: SolveResult | TimedResult, instance: Instance) -> SolverRow:
    """The table row of one solver's (or time-varying strategy's) result
    (:func:`plan_row`)."""
    return plan_row(label, plan_of(result), facts_of(result), instance)


def solve_label(
    label: str, instance: Instance, settings: CompareSettings, time_limit_s: float
) -> SolveResult | TimedResult:
    """Run the solver (or the Clockwork++ strategy, :data:`CLOCKWORK`) behind
    report label ``label`` with the shared options (``instance`` is
    :meth:`CompareSettings.instance`'s)."""
    solver, own = SOLVER_CHOICES[label]
    _, options = split_options({**settings.options, **own})
    if solver == CLOCKWORK:
        return plan_over_time(instance, ClockworkOptions(time_limit_s=time_limit_s, solver=options))
    return solve(instance, solver=solver, deadline=Deadline.after(time_limit_s), options=options)


def sweep_variant(
    axis: str, value: float, instance: Instance, settings: CompareSettings
) -> Instance:
    """The instance of one sweep point (see the module docstring)."""
    workload = instance.workload
    window_s = min(settings.window_s, workload.duration_s)
    if axis == "rate_scale":
        return dataclasses.replace(
            instance, workload=redraw(workload, window_s, settings.seed, rate_scale=value)
        )
    if axis == "cv_scale":
        return dataclasses.replace(
            instance, workload=redraw(workload, window_s, settings.seed, cv_scale=value)
        )
    if axis == "slo_scale":
        models = tuple(
            dataclasses.replace(m, slo_s=value * reference_latency_s(m.profile))
            for m in instance.models
        )
        return dataclasses.replace(instance, models=models)
    if axis == "num_devices":
        cluster = dataclasses.replace(instance.cluster, num_devices=int(value))
        return dataclasses.replace(instance, cluster=cluster)
    raise ValueError(f"axis: unknown sweep axis {axis!r}")


SWEEP_NOTES = {
    "rate_scale": "Gamma arrivals refitted per {window:g} s window, every rate times the scale",
    "cv_scale": "Gamma arrivals refitted per {window:g} s window, every CV times the scale",
    "slo_scale": "every SLO = scale x the model's reference latency",
    "num_devices": "cluster of that many devices, same workload",
}


class _Steps:
    """Counts finished steps and reports them to a progress callback."""

    def __init__(self, total: int, progress: Progress | None) -> None:
        self.done = 0
        self.total = total
        self.progress = progress

    def step(self, message: str) -> None:
        self.done += 1
        if self.progress is not None:
            self.progress(self.done, self.total, message)


def sweep_tasks(settings: CompareSettings, cluster: Cluster) -> list[tuple[str, float, str]]:
    """Every ``(axis, value, solver label)`` the sweeps solve, in report order."""
    return [
        (axis, value, label)
        for axis, values in settings.axes(cluster)
        for value in values
        for label in settings.sweep_labels
    ]


SweepPoint = tuple[float | None, str, float | None, float | None]
"""One solve of a sweep: attainment, status, certified gap (points) and wall
time (s); attainment, gap and time are None when no model fits (status
``infeasible``) or no placement is found in time (``no_solution``)."""


def solve_sweep_point(
    state: tuple[Instance, CompareSettings], task: tuple[str, float, str]
) -> SweepPoint:
    """One solver at one sweep setting (:data:`SweepPoint`)."""
    instance, settings = state
    axis, value, label = task
    variant = sweep_variant(axis, value, instance, settings)
    try:
        result = solve_label(label, variant, settings, settings.sweep_time_limit_s)
    except InfeasibleError:
        return None, "infeasible", None, None
    except SolveTimeoutError:
        return None, "no_solution", None, None
    facts = facts_of(result)
    attainment = compile_case(variant).run(plan_of(result)).attainment
    return attainment, facts.status, facts.gap_points, facts.wall_s


def run_sweeps(instance: Instance, settings: CompareSettings, steps: _Steps) -> tuple[Sweep, ...]:
    """Re-solve every sweep solver at every setting of every axis: here, or
    on Ray when the settings' options ask for it (:mod:`planner.evaluation.spread`).
    Each point records the solve's status, certified gap and wall time."""
    tasks = sweep_tasks(settings, instance.cluster)
    runner, inner = remote_fan_out(settings.options)
    state = (instance, dataclasses.replace(settings, options=inner))
    points: dict[tuple[str, float, str], SweepPoint] = {}
    for index, point in (runner or Serial()).map_unordered(as_is, solve_sweep_point, state, tasks):
        axis, value, label = tasks[index]
        points[tasks[index]] = point
        steps.step(f"{axis}={value:g}: {label}")
    window_s = min(settings.window_s, instance.workload.duration_s)

    def series(axis: str, values: tuple[float, ...], field: int) -> dict[str, tuple[Any, ...]]:
        return {
            label: tuple(points[axis, value, label][field] for value in values)
            for label in settings.sweep_labels
        }

    return tuple(
        Sweep(
            axis=axis,
            values=values,
            attainment=series(axis, values, 0),
            note=SWEEP_NOTES[axis].format(window=window_s),
            status=series(axis, values, 1),
            gap_points=series(axis, values, 2),
            solve_s=series(axis, values, 3),
        )
        for axis, values in settings.axes(instance.cluster)
    )


def describe_inputs(instance: Instance) -> dict[str, Any]:
    """The report header's data: cluster, model set and workload."""
    cluster, models, workload = instance.cluster, instance.models, instance.workload
    stats = workload_stats(workload)
    families: dict[str, int] = {}
    for model in models:
        families[model.family] = families.get(model.family, 0) + 1
    return {
        "cluster": encode(cluster),
        "models": {
            "count": len(models),
            "families": families,
            "slo_s": {"min": min(m.slo_s for m in models), "max": max(m.slo_s for m in models)},
        },
        "workload": {
            "requests": workload.num_requests,
            "duration_s": workload.duration_s,
            "rate_rps": stats.total_rate_rps,
            "kind": workload.meta.get("kind", "custom"),
        },
    }


def build_compare(
    cluster: Cluster,
    models: Sequence[ModelSpec],
    workload: Workload,
    settings: CompareSettings,
    *,
    title: str = "Solver comparison",
    results: Mapping[str, SolveResult | TimedResult] | None = None,
    progress: Progress | None = None,
) -> CompareReport:
    """Compare ``settings.solvers`` on one instance. ``results`` may supply
    already solved plans by label (e.g. plans made by the planning service);
    the other labels are solved here with ``settings.time_limit_s``. Raises
    ValueError naming the field for bad input and
    :class:`planner.placement.solution.InfeasibleError` when no placement exists."""
    given = dict(results or {})
    unknown = sorted(set(given) - set(settings.solvers))
    if unknown:
        raise ValueError(f"results.{unknown[0]}: not one of the report's solvers")
    steps = _Steps(settings.total_steps(cluster), progress)
    instance = settings.instance(cluster, models, workload)
    rows = []
    for label in settings.solvers:
        result = given.get(label) or solve_label(label, instance, settings, settings.time_limit_s)
        rows.append(solver_row(label, result, instance))
        steps.step(f"{label}: attainment {rows[-1].attainment:.4f}")
    sweeps = run_sweeps(instance, settings, steps)
    return CompareReport(
        title=title,
        inputs={**describe_inputs(instance), "settings": encode(settings)},
        rows=tuple(rows),
        sweeps=sweeps,
    )
