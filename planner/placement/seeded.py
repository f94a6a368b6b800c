"""What CP-SAT and the MILP share: the greedy seed, the proxy built on the
seed's groups, and the simulator as referee.

1. The seed is the best greedy placement found in at most
   :data:`SEED_SHARE` of the time limit
   (:func:`planner.placement.greedyseed.best_greedy`: the default greedy,
   the lazy full greedy, the full greedy on the best plan's groups, and the
   full greedy when its estimate fits), or the greedy result the
   caller passes (``seed``, as ``auto`` does). Its device groups are kept; each
   group may run any config of its size that the enumeration would allow
   on those devices (tensor-parallel stages within a node, ``op <= max_op``,
   ``pp <= max_pp``).
2. The exact solver optimises the proxy (:mod:`planner.placement.formulation`) from
   the seed's hint.
3. :class:`Referee` simulates every layout the solver reports, and the same
   layout with replicas added by the fast greedy where memory is left
   (:func:`polish`), and keeps the one serving the most requests, starting
   from the seed: the returned plan is never worse than the seed by the
   simulator.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from planner.deadline import NEVER, Deadline
from planner.domain import Cluster, Group, ParallelConfig, Placement
from planner.placement.agreement import rank_agreement
from planner.placement.enumeration import EnumerationResult
from planner.placement.greedy import run_greedy
from planner.placement.greedyseed import best_greedy
from planner.placement.options import SolveOptions
from planner.placement.proxy import ProxyData, ProxyGroup, build_proxy
from planner.placement.scoring import Counts, Layout, Scorer, layout_placement
from planner.placement.solution import SolveResult, relative_gap
from planner.validation import validate, validate_group

SEED_SHARE = 0.5
"""Most of the remaining time the greedy seed may use."""

Progress = Callable[[float, str], None]


def group_configs(
    cluster: Cluster, devices: tuple[int, ...], current: ParallelConfig, options: SolveOptions
) -> tuple[ParallelConfig, ...]:
    """Configs a group on ``devices`` may switch to, ``current`` first."""
    size = len(devices)
    configs = [current]
    for op in range(1, size + 1):
        config = ParallelConfig(op, size // op)
        if size % op or config == current or op > options.max_op or config.pp > options.max_pp:
            continue
        try:
            validate_group(0, Group(devices, config), cluster, {})
        except ValueError:
            continue
        configs.append(config)
    return tuple(configs)


def proxy_groups(cluster: Cluster, placement: Placement, options: SolveOptions) -> list[ProxyGroup]:
    """The seed's groups with the configs each may run."""
    return [
        ProxyGroup(group.devices, group_configs(cluster, group.devices, group.config, options))
        for group in placement.groups
    ]


def polish(scorer: Scorer, layout: Layout, deadline: Deadline) -> Layout:
    """``layout`` with replicas added by the fast greedy where memory is
    left: the proxy sees no value in replicas beyond its sampled windows,
    the simulator may."""
    return run_greedy(scorer, layout.configs, mode="fast", start=layout, deadline=deadline).layout


@dataclass
class Referee:
    """Keeps the simulated-best layout among those offered."""

    scorer: Scorer
    devices: Sequence[tuple[int, ...]]
    layout: Layout
    served: Counts
    deadline: Deadline = NEVER
    offered: int = 0
    improved: int = 0
    rejected: int = 0
    log: list[str] = field(default_factory=list)
    visited: list[tuple[float, float]] = field(default_factory=list)
    """(proxy value, simulated attainment) of the plans considered that
    have a proxy value."""
    value: Callable[[Layout], float] | None = None
    """The proxy value of any layout, when the solver has one."""

    @property
    def total(self) -> int:
        return int(self.served.sum())

    def offer(
        self,
        layout: Layout,
        devices: Sequence[tuple[int, ...]] | None = None,
        proxy: float | None = None,
    ) -> bool:
        """Simulate ``layout`` (on ``devices``, by default the referee's)
        and its :func:`polish`; keep the better if it serves more than the
        best so far. ``proxy``, the solver's value of ``layout`` (default:
        :attr:`value`), is recorded with its simulated attainment
        (:attr:`visited`)."""
        devices = self.devices if devices is None else devices
        kept = self.consider(layout, devices, proxy)
        polished = polish(self.scorer, layout, self.deadline)
        return self.consider(polished, devices, None) or kept

    def consider(
        self, layout: Layout, devices: Sequence[tuple[int, ...]], proxy: float | None
    ) -> bool:
        """Keep ``layout`` if it serves more. A layout that does not fit
        (never expected: the proxy rounds memory conservatively) is rejected
        and logged."""
        self.offered += 1
        try:
            validate(
                self.scorer.instance.cluster,
                self.scorer.instance.models,
                layout_placement(layout, devices, self.scorer.instance.models),
            )
        except ValueError as error:
            self.rejected += 1
            self.log.append(f"rejected an invalid solver layout: {error}")
            return False
        served = self.scorer.served(layout)
        if proxy is None and self.value is not None:
            proxy = self.value(layout)
        if proxy is not None:
            self.visited.append((proxy, self.scorer.attainment(served)))
        if int(served.sum()) <= self.total:
            return False
        self.layout, self.served, self.devices = layout, served, devices
        self.improved += 1
        return True

    def placement_of(self, layout: Layout) -> Placement:
        return layout_placement(layout, self.devices, self.scorer.instance.models)


@dataclass
class Run:
    """An exact solve under way: the seed, the referee, the
    ``time.monotonic()`` value it started at and its deadline."""

    seed: EnumerationResult
    referee: Referee
    start: float
    deadline: Deadline

    def fraction(self) -> float:
        """Progress while the exact solver runs: :data:`SEED_SHARE`, plus the
        rest in proportion to the share of the time limit used (at most 1)."""
        span = self.deadline.at_s - self.start
        done = min(1.0, (time.monotonic() - self.start) / max(span, 1e-9))
        return SEED_SHARE + (1 - SEED_SHARE) * done

    def elapsed(self) -> str:
        """Seconds since the solver started, of its time limit: ``"4.2 of 60 s"``."""
        used = time.monotonic() - self.start
        span = self.deadline.at_s - self.start
        return f"{used:.1f} of {span:.0f} s" if math.isfinite(span) else f"{used:.1f} s"


@dataclass
class Prepared(Run):
    """A run of the seeded formulation: ``data`` is the proxy on the
    seed's groups."""

    data: ProxyData = field(kw_only=True)

    @property
    def sizes(self) -> dict[str, object]:
        return {"groups": len(self.data.groups), "windows": len(self.data.demand)}


def seed_run(
    scorer: Scorer,
    options: SolveOptions,
    deadline: Deadline,
    progress: Progress | None,
    seed: EnumerationResult | None = None,
) -> Run:
    """Set up a referee holding the seed: ``seed`` when given, else the
    best greedy found in at most :data:`SEED_SHARE` of the time left
    (:func:`planner.placement.greedyseed.best_greedy`; a full greedy that
    started may use all of that time). The log says which seed was used
    and why."""
    start = time.monotonic()

    def seed_progress(fraction: float, message: str) -> None:
        if progress is not None:
            progress(SEED_SHARE * fraction, f"seed: {message}")

    if seed is None:
        # the seed's time is the seed's: a full greedy slower than its
        # estimate may use all of it (it keeps its best candidate so far)
        best = best_greedy(scorer, options, deadline.share(SEED_SHARE), seed_progress, overrun=None)
        seed, why = best.result, f"seed: {best.why}"
    else:
        why = "seed: the greedy plan the caller computed"
    referee = Referee(
        scorer,
        [group.devices for group in seed.placement.groups],
        seed.layout,
        np.asarray(seed.served, dtype=np.int64),
        deadline=deadline,
        log=[why],
    )
    return Run(seed, referee, start, deadline)


def prepare(
    scorer: Scorer,
    options: SolveOptions,
    deadline: Deadline,
    progress: Progress | None,
    seed: EnumerationResult | None = None,
) -> Prepared:
    """The seed (:func:`seed_run`) and the proxy on its groups (module docstring)."""
    run = seed_run(scorer, options, deadline, progress, seed)
    data = build_proxy(
        scorer,
        proxy_groups(scorer.instance.cluster, run.seed.placement, options),
        window_s=options.window_s,
        windows=options.proxy_windows,
    )
    return Prepared(run.seed, run.referee, run.start, run.deadline, data=data)


def partition_of(layout: Layout) -> list[tuple[int, int]]:
    """The group partition of a plan as its groups' sorted ``(op, pp)``
    (groups hosting nothing left out: their devices serve nothing)."""
    return sorted(
        (c.op, c.pp) for c, hosted in zip(layout.configs, layout.hosted, strict=True) if hosted
    )


def finish(
    solver: str,
    prepared: Run,
    *,
    status: str,
    objective: float | None,
    bound: float | None,
    scale: int,
    log: Sequence[str],
    stats: dict[str, object],
) -> SolveResult:
    """The result: the referee's plan; proxy objective and bound as
    attainment estimates (divided by ``scale``, the proxy's total weighted
    demand), and how the proxy ranked the visited plans against the
    simulator (:func:`planner.placement.agreement.rank_agreement`)."""
    referee = prepared.referee
    scale = max(scale, 1)
    proxy = None if objective is None else objective / scale
    best_bound = None if bound is None else bound / scale
    from_seed = referee.improved == 0
    agreement = rank_agreement(*zip(*referee.visited, strict=True)) if referee.visited else {}
    correlation = agreement.get("proxy_rank_correlation")
    return SolveResult(
        placement=referee.placement_of(referee.layout),
        attainment=referee.scorer.attainment(referee.served),
        solver=solver,
        status=status,
        wall_s=time.monotonic() - prepared.start,
        proxy_objective=proxy,
        bound=best_bound,
        gap=relative_gap(proxy, best_bound),
        log=(
            *prepared.seed.log,
            *referee.log,
            *log,
            f"{solver}: {referee.offered} solutions simulated, "
            + (
                "the greedy seed is best"
                if from_seed
                else f"{referee.improved} improved on the seed"
            ),
            *(
                ()
                if correlation is None
                else (
                    f"{solver}: proxy vs simulator rank correlation {correlation:.3f} "
                    f"over {len(referee.visited)} plans"
                )
            ),
        ),
        stats={
            **stats,
            **agreement,
            "seed_attainment": referee.scorer.attainment(prepared.seed.served),
            "partition_changed": partition_of(referee.layout) != partition_of(prepared.seed.layout),
            "solutions_simulated": referee.offered,
            "returned_seed": from_seed,
        },
    )


def unsearched(solver: str, prepared: Run) -> SolveResult:
    """The result when the deadline passed while the model was prepared:
    the referee's plan (the seed, or a better one met while preparing),
    status ``seed_only``, without building or searching the model."""
    return finish(
        solver,
        prepared,
        status="seed_only",
        objective=None,
        bound=None,
        scale=1,
        log=(f"{solver}: the time limit passed while preparing the model; not searched",),
        stats={"searched": False},
    )
