"""What the exact solvers share when the partition is a decision
(``partition="free"``, the default): the greedy seed, the calibrated
master on the whole cluster, and the simulator as referee.

1. The seed is the best greedy placement (at most
   :data:`planner.placement.seeded.SEED_SHARE` of the time limit,
   :func:`planner.placement.seeded.seed_run`) or the one the caller passes; its
   groups become columns and its column counts the solver's starting
   solution.
2. :class:`Context` holds what every master on the instance shares: the
   configs a group may run (group sizes that divide a node or are whole
   nodes, as the enumeration allows), each model's calibrated
   served-fraction curve (:mod:`planner.placement.calibration`, fitted on
   the simulator before the solve), the demand windows and the request
   costs.
3. The master (:mod:`planner.placement.master`) over a pool of columns
   (:mod:`planner.placement.columns`) chooses the partition, configs and
   replicas; the number of demand windows shrinks on large pools so that
   the model keeps at most :data:`SERVED_VARIABLES` service variables.
4. Every solution is placed on devices, validated and simulated with its
   fast-greedy polish, and with its replicas chosen again by the greedy
   (:func:`refill`), by the seed's :class:`planner.placement.seeded.Referee`,
   which keeps the simulated best starting from the seed: the returned plan
   is never worse than greedy by the simulator. The proxy value of every
   visited plan (the seed, one fast-greedy plan per config that divides
   the cluster, :func:`probe`, and the solver's solutions) and its simulated
   attainment give the proxy's rank correlation.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from planner.deadline import Deadline
from planner.domain import ParallelConfig
from planner.placement.calibration import ServedCurve, calibrated_costs, fit_curves, rate_rps
from planner.placement.columns import Column, column_pool, layout_columns
from planner.placement.enumeration import FULL_GREEDY_PAIRS, EnumerationResult, block_configs
from planner.placement.greedy import ReplicaTable, run_greedy
from planner.placement.master import MasterData, Windows, counts_of, evaluate, master_data, place
from planner.placement.options import SolveOptions
from planner.placement.proxy import default_window_s, demand_windows, pair_tables
from planner.placement.scoring import Layout, Scorer, stand_in_devices
from planner.placement.seeded import SEED_SHARE, Run, seed_run

Progress = Callable[[float, str], None]

SERVED_VARIABLES = 40_000
"""Most service variables (model × column × window) a master is built with."""

ALONE_CONFIGS = 3
"""Configs per model, cheapest per device by calibrated cost, on which the
pool gives it a group of its own (when the pool is not exhaustive)."""

CALIBRATION_SHARE = 0.2
"""Most of the time left after the seed that the curves' simulations use."""

PROBE_SHARE = 0.2
"""Most of the time left after the calibration that :func:`probe` uses."""


@dataclass(frozen=True)
class Context:
    """What every master on one instance shares (module docstring)."""

    scorer: Scorer
    table: ReplicaTable
    configs: tuple[ParallelConfig, ...]
    curves: dict[int, ServedCurve]
    cost_us: dict[tuple[int, ParallelConfig], int]
    rates: tuple[float, ...]
    window_s: float

    def windows(self, count: int) -> Windows:
        demand, weight = demand_windows(self.scorer, self.window_s, count)
        return Windows(demand, weight, max(1, round(self.window_s * 1e6)))

    def configs_for(self, devices: int) -> list[ParallelConfig]:
        """The context's configs whose groups fit ``devices`` devices."""
        return [c for c in self.configs if c.size <= devices]


def build_context(
    scorer: Scorer,
    options: SolveOptions,
    extra: Sequence[ParallelConfig],
    deadline: Deadline,
    tick: Callable[[], None] = lambda: None,
) -> Context:
    """The context for ``scorer``'s instance; ``extra`` configs (the
    seed's) are allowed besides the enumeration's. ``tick()`` is called
    after each model's calibration (it may raise to stop)."""
    instance = scorer.instance
    configs = sorted(
        {*block_configs(instance.cluster, instance.cluster.num_devices, instance.models, options)}
        | set(extra),
        key=lambda c: (c.size, c.pp),
    )
    table = ReplicaTable(scorer, configs)
    _, _, cost = pair_tables(scorer, configs)
    usable = {
        m: [c for c in configs if (m, c) in cost and table.usable[c][m]]
        for m in range(scorer.num_models)
        if scorer.demand[m] > 0
    }
    curves = fit_curves(scorer, usable, deadline, tick)
    return Context(
        scorer=scorer,
        table=table,
        configs=tuple(configs),
        curves=curves,
        cost_us=calibrated_costs(cost, curves),
        rates=tuple(rate_rps(scorer, m) for m in range(scorer.num_models)),
        window_s=default_window_s(scorer, options.window_s),
    )


def window_count(columns: Sequence[Column], wanted: int, budget: int = SERVED_VARIABLES) -> int:
    """Demand windows for a master over ``columns``: ``wanted``, fewer
    (at least 2) when the service variables would exceed ``budget``."""
    pairs = max(1, sum(len(column.models) for column in columns))
    return max(min(2, wanted), min(wanted, budget // pairs))


def build_master(
    context: Context,
    models: Sequence[int],
    devices: int,
    seed_columns: Sequence[Column],
    windows: int,
    fixed: Layout | None = None,
    budget: int = SERVED_VARIABLES,
) -> tuple[MasterData, bool]:
    """The master for ``models`` on ``devices`` devices (the columns of
    ``seed_columns`` included; ``fixed`` groups kept; at most about
    ``budget`` service variables) and whether its pool is exhaustive."""
    usable = [m for m in models if m in context.curves]
    configs = context.configs_for(devices)
    alone = {
        m: sorted(
            (c for c in configs if (m, c) in context.cost_us),
            key=lambda c: (context.cost_us[m, c] * c.size, c.size, c.pp),
        )[:ALONE_CONFIGS]
        for m in usable
    }
    columns, exhaustive = column_pool(
        context.table, configs, usable, context.rates, seed_columns, alone
    )
    data = master_data(
        context.scorer,
        columns,
        devices,
        context.curves,
        context.windows(window_count(columns, windows, budget)),
        context.cost_us,
        fixed,
    )
    return data, exhaustive


@dataclass
class MasterRun(Run):
    """A run of the partition master on the whole cluster."""

    data: MasterData = field(kw_only=True)
    exhaustive: bool = field(kw_only=True)
    context: Context = field(kw_only=True)
    probes: int = field(kw_only=True)

    @property
    def seed_counts(self) -> list[int]:
        return counts_of(self.data, self.seed.layout)

    @property
    def sizes(self) -> dict[str, object]:
        return {
            "columns": len(self.data.columns),
            "windows": len(self.data.demand),
            "exhaustive_pool": self.exhaustive,
            "probes": self.probes,
        }

    def offer(self, counts: Sequence[int]) -> None:
        """Simulate the plan of ``counts``, its polish and its
        :func:`refill`; the referee keeps the best and records their proxy
        values (:func:`layout_value`)."""
        cluster = self.context.scorer.instance.cluster
        devices, layout = place(self.data, counts, range(cluster.num_devices))
        self.referee.offer(layout, devices)
        self.referee.consider(refill(self.context.scorer, layout, self.deadline), devices, None)


def refill(scorer: Scorer, layout: Layout, deadline: Deadline, keep: int = 0) -> Layout:
    """The partition and configs of ``layout`` with the replicas of its
    groups from ``keep`` on chosen again by the simulator-guided greedy
    (the full greedy where models × groups is small, as the enumeration
    does): the solver decides the partition, the simulator the replicas."""
    start = Layout(layout.configs, layout.hosted[:keep] + ((),) * (len(layout.configs) - keep))
    pairs = scorer.num_models * (len(layout.configs) - keep)
    mode = "full" if pairs <= FULL_GREEDY_PAIRS else "fast"
    return run_greedy(scorer, layout.configs, mode=mode, start=start, deadline=deadline).layout


def layout_value(context: Context, windows: Windows, layout: Layout) -> float:
    """The proxy value of any layout on the whole cluster, as a share of
    the windows' weighted demand: :func:`planner.placement.master.evaluate`
    on a master whose columns are the layout's groups."""
    data = master_data(
        context.scorer,
        layout_columns(layout),
        context.scorer.instance.cluster.num_devices,
        context.curves,
        windows,
        context.cost_us,
    )
    total = sum(w * sum(d) for w, d in zip(windows.weight, windows.demand, strict=True))
    return evaluate(data, counts_of(data, layout)).objective / max(total, 1)


def prepare_master(
    scorer: Scorer,
    options: SolveOptions,
    deadline: Deadline,
    progress: Progress | None,
    seed: EnumerationResult | None = None,
) -> MasterRun:
    """Seed (``seed``, else the best greedy: :func:`planner.placement.seeded.seed_run`),
    context and master (module docstring); the seed's proxy value and
    attainment are the first visited plan."""
    run = seed_run(scorer, options, deadline, progress, seed)
    tick = calibrating(progress)
    context = build_context(
        scorer, options, run.seed.layout.configs, deadline.share(CALIBRATION_SHARE), tick
    )
    probes = probe(run, context, deadline.share(PROBE_SHARE), tick)
    data, exhaustive = build_master(
        context,
        range(scorer.num_models),
        scorer.instance.cluster.num_devices,
        sorted({c for layout in (run.seed.layout, *probes) for c in layout_columns(layout)}),
        options.proxy_windows,
    )
    master = MasterRun(
        run.seed,
        run.referee,
        run.start,
        run.deadline,
        data=data,
        exhaustive=exhaustive,
        context=context,
        probes=len(probes),
    )
    windows = Windows(data.demand, data.window_weight, data.window_us)
    value = functools.partial(layout_value, context, windows)
    run.referee.visited.extend(
        (value(layout), scorer.attainment(scorer.served(layout)))
        for layout in (run.seed.layout, *probes)
    )
    run.referee.value = value
    return master


def calibrating(progress: Progress | None) -> Callable[[], None]:
    """A ``tick`` reporting the calibration at :data:`SEED_SHARE` (where
    a cancel raises)."""

    def tick() -> None:
        if progress is not None:
            progress(SEED_SHARE, "calibrating the proxy on the simulator")

    return tick


def probe(
    run: Run, context: Context, deadline: Deadline, tick: Callable[[], None] = lambda: None
) -> list[Layout]:
    """One plan per config that divides the cluster: as many groups of it
    as fit, filled by the fast greedy; each is offered to the referee (one
    may beat the seed) and returned. Diverse partitions: their groups join
    the master's columns, and the proxy's ranking is measured across
    partitions."""
    cluster = context.scorer.instance.cluster
    found = []
    for config in context.configs:
        if deadline.expired():
            break
        if cluster.num_devices % config.size:
            continue
        configs = [config] * (cluster.num_devices // config.size)
        layout = run_greedy(context.scorer, configs, mode="fast", deadline=deadline).layout
        run.referee.consider(layout, stand_in_devices(configs), None)
        found.append(layout)
        tick()
    return found
