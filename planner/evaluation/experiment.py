"""The re-placement experiment: for each model set and time-varying
workload, the largest mean request rate (requests/s) at which SLO
attainment stays at or above the target, for a static plan and for
re-placement strategies, found by bisection (:mod:`planner.evaluation.capacity`).

Strategies (:class:`Strategy`):

- ``static``: one placement for the whole trace (``solver``, by default the
  enumeration + greedy), planned on the whole trace (oracle information);
  the baseline of every ratio;
- ``static (first window)``: one placement planned on the bootstrap window
  alone, i.e. on what is known when it is deployed
  (``information="forecast"``: the past only);
- ``periodic/oracle``, ``periodic/forecast``, ``triggered/forecast`` (and
  any other trigger × information pair): re-placement (:mod:`planner.replan.timed`)
  with the real switching cost;
- ``clockwork++``: the Clockwork++ baseline of the reference evaluation
  (Selective Replication re-solved every window), simulated with switches
  at no cost (``switching="free"``, as published) or with the real load
  time (``switching="real"``).

Each may run with a queue ``policy`` of the simulator (``"fcfs"``, or the
SLO-aware preemption policy when the simulator has it). Every run plans
for and is scored on the same drawn workload at the rate tried, with the
first window left out of the score (re-placement bootstraps on it). A
strategy's rate search starts from the static plan's result. Results are
plain JSON data; ``rows`` holds one entry per model set × workload ×
strategy, ``sweeps`` the ratio of re-placement to static while one knob
(devices, SLO scale, CV) varies.

Where the devices cannot host every model (``metric``; :meth:`ExperimentConfig.memory_bound`
for the memory-bound cases), ``goodput_rows`` replace the capacity rows:
goodput at the trace's rate and over a rate sweep, with the headroom bound
and the share of it each strategy captures (:mod:`planner.evaluation.goodput`).
Workloads: the synthetic generator, a 2019 trace file, or a traffic family
of :mod:`planner.workloads.shifts` written in either trace format
(:data:`SHIFTING_WORKLOADS`).
"""

from __future__ import annotations

import dataclasses
import math
import re
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Any

from planner.codec import encode
from planner.domain import Cluster, ModelSpec, TimedPlan, Workload
from planner.evaluation.baselines import clockwork_run
from planner.evaluation.capacity import MaxScale, max_rate_scale
from planner.evaluation.goodput import (
    MAX_RATE_FACTOR,
    RATE_FACTORS,
    bound_described,
    goodput_rows,
)
from planner.evaluation.headroom import replica_kinds
from planner.evaluation.spread import remote_fan_out
from planner.evaluation.traffic import (
    TRACE_FORMATS,
    Traffic,
    azure2019_traffic,
    family_traffic,
    synthetic_traffic,
)
from planner.fanout import as_is
from planner.placement.bound import attainment_bound
from planner.placement.options import split_options
from planner.placement.solution import SolveResult
from planner.profiles import model_set
from planner.replan.clockwork import instant_load
from planner.replan.forecast import make_forecaster
from planner.replan.options import INFORMATION, TRIGGERS, ReplanOptions, check_choice
from planner.replan.solvecache import SolveCache
from planner.replan.timed import plan_over_time
from planner.replan.transition import SwitchCost, switch_cost
from planner.sim import POLICIES, Instance, Outcome, SimOptions, SimResult, compile_case
from planner.workloads.shifts import FAMILIES, family_config
from planner.workloads.synthetic import AzureLikeConfig
from planner.workloads.timerange import TimeRange
from planner.workloads.windows import window_workload

Progress = Callable[[str], None]
OpenTrace = Callable[[str], AbstractContextManager[Iterable[str]]]
"""Opens the named trace file's lines (:func:`planner.files.open_lines`)."""
KINDS = ("static", "replan", "clockwork++")
SHIFTING_WORKLOADS = tuple(f"{family}-{fmt}" for family in FAMILIES for fmt in TRACE_FORMATS)
"""The traffic families of :mod:`planner.workloads.shifts` written in the
2019 or 2021 trace format and replayed (:func:`planner.evaluation.traffic.family_traffic`)."""
WORKLOADS = ("synthetic", "azure2019", *SHIFTING_WORKLOADS)
METRICS = ("auto", "capacity", "goodput")
MAX_SHRINK = 64.0
"""The rate search stays within this factor of its start (a strategy that
fails 1/64 of the static plan's rate scores 0)."""
BOUND = "upper bound"
"""The name of the upper-bound row (:meth:`StrategyRunner.bound_capacity`)."""
FIRST_WINDOW = "static (first window)"
"""The name of the static plan made from the bootstrap window alone."""
PREEMPTION_POLICY = "slack"
"""The simulator's SLO-aware preemption policy (least slack first, hopeless
requests dropped)."""


_STRATEGY_NAME = re.compile(r"^(?P<base>.*?)(?:\+(?P<policy>[a-z]+))?$")
"""A strategy's name: its base, then ``+policy`` unless the policy is fcfs."""


@dataclass(frozen=True)
class Strategy:
    """One way to place models over time (module docstring)."""

    kind: str
    information: str = "oracle"
    trigger: str = "periodic"
    policy: str = "fcfs"
    switching: str = "real"

    @property
    def forecasts(self) -> bool:
        """Whether it is re-placement in forecast mode: the only kind that
        reacts inside a window and weighs its forecast against history."""
        return self.kind == "replan" and self.information == "forecast"

    def __post_init__(self) -> None:
        check_choice("kind", self.kind, KINDS)
        check_choice("information", self.information, INFORMATION)
        check_choice("trigger", self.trigger, TRIGGERS)
        check_choice("policy", self.policy, POLICIES)
        check_choice("switching", self.switching, ("real", "free"))
        if self.switching == "free" and self.kind == "static":
            raise ValueError("switching: a static plan never switches")

    @property
    def name(self) -> str:
        """E.g. ``static``, ``periodic/forecast+slack``, ``clockwork++ (free)``,
        ``periodic/oracle (free)`` (re-placement says only free switching)."""
        free = " (free)" if self.switching == "free" else ""
        base = {
            "static": "static" if self.information == "oracle" else FIRST_WINDOW,
            "replan": f"{self.trigger}/{self.information}{free}",
            "clockwork++": f"clockwork++ ({self.switching})",
        }[self.kind]
        return base if self.policy == "fcfs" else f"{base}+{self.policy}"

    @classmethod
    def parse(cls, text: str) -> Strategy:
        """The inverse of :attr:`name`; ValueError naming ``strategy``."""
        match = _STRATEGY_NAME.match(text.strip())
        assert match is not None  # the pattern matches any text
        base, policy = match.group("base"), match.group("policy") or "fcfs"
        try:
            if base in ("static", FIRST_WINDOW):
                information = "oracle" if base == "static" else "forecast"
                return cls("static", information=information, policy=policy)
            if base.startswith("clockwork++"):
                switching = base.removeprefix("clockwork++").strip(" ()") or "free"
                return cls("clockwork++", policy=policy, switching=switching)
            switching = "free" if base.endswith(" (free)") else "real"
            trigger, _, information = base.removesuffix(" (free)").partition("/")
            return cls(
                "replan",
                information=information,
                trigger=trigger,
                policy=policy,
                switching=switching,
            )
        except ValueError as error:
            raise ValueError(f"strategy: {text!r}: {error}") from None


AT_WILL = Strategy("replan", "oracle", "periodic", switching="free")
"""Oracle re-placement whose loads take no time: the best placement the
window solver finds for each window's actual traffic, in place from the
window's start. The memory-bound cases run it as the measured end of the
headroom (:mod:`planner.evaluation.goodput`)."""


def default_strategies(preemption: bool = True) -> tuple[Strategy, ...]:
    """Static (whole trace, then first window), periodic (oracle, forecast),
    forecast-triggered and both Clockwork++ variants; with ``preemption``
    the whole-trace static and the re-placement ones again with
    preemption."""
    base = (
        Strategy("static"),
        Strategy("replan", "oracle", "periodic"),
        Strategy("replan", "forecast", "periodic"),
        Strategy("replan", "forecast", "triggered"),
    )
    clockwork = (
        Strategy("clockwork++", switching="free"),
        Strategy("clockwork++", switching="real"),
    )
    plain = (base[0], Strategy("static", "forecast"), *base[1:], *clockwork)
    if not preemption:
        return plain
    return plain + tuple(dataclasses.replace(s, policy=PREEMPTION_POLICY) for s in base)


@dataclass(frozen=True)
class ExperimentConfig:
    """What to run; times in seconds, memory in bytes, rates in
    requests/s. ``devices`` is per model set: one count, or several (the
    set is run on each). ``solver_options`` go to every solve;
    ``horizon_windows`` is the triggered re-planner's, ``hedge`` every
    re-planner's and ``react_after`` the forecast re-planners'
    (:class:`planner.replan.options.ReplanOptions`), as are ``nowcast_s``,
    ``react_replan``, ``fill_spare``, ``react_drift`` (without
    ``nowcast_s``, none) and ``trust_windows`` (the forecast re-planners'
    with ``hedge``). ``azure2019_path`` names
    the trace file the ``azure2019`` workload replays (read through
    :func:`run_experiment`'s ``open_trace``).

    ``metric``: ``capacity`` (the largest rate at the target attainment),
    ``goodput`` (:mod:`planner.evaluation.goodput`: goodput at the trace's
    own rate and over ``goodput_rates`` times it, widened while goodput
    rises up to ``goodput_max_rate_factor`` times it, with the headroom bound)
    or ``auto`` (goodput where the devices cannot host one replica of every
    model, capacity elsewhere). The trace's own rate is ``trace_load`` times
    :meth:`StrategyRunner.start_rate`. Each shifting workload
    (:data:`SHIFTING_WORKLOADS`) is generated with ``family_requests``
    requests in its trace, then replayed."""

    model_sets: tuple[str, ...] = ("s1", "s2", "s3")
    devices: Mapping[str, int | tuple[int, ...]] = field(
        default_factory=lambda: {"s1": (16, 8), "s2": 8, "s3": 8}
    )
    device_mem_bytes: int = 20 * 10**9
    devices_per_node: int = 8
    load_bw_bytes_per_s: float = 12e9
    workloads: tuple[str, ...] = ("synthetic", "azure2019")
    duration_s: float = 1200.0
    window_s: float = 120.0
    rate_window_s: float = 60.0
    shift_every_s: float = 300.0
    cv: float = 2.0
    slo_scale: float = 5.0
    azure2019_path: str | None = None
    azure2019_range: tuple[str, str] = ("0.0.0", "0.12.0")
    strategies: tuple[Strategy, ...] = field(default_factory=default_strategies)
    forecaster: str = "holt"
    forecast_floor: float = 0.25
    horizon_windows: int = 2
    hedge: bool = True
    react_after: int = 8
    nowcast_s: float = 2.0
    react_replan: bool = True
    fill_spare: bool = True
    trust_windows: int = 4
    react_drift: float = 0.0
    target_attainment: float = 0.99
    rel_tol: float = 0.03
    solver: str = "greedy"
    time_limit_s: float = 60.0
    solver_options: Mapping[str, Any] = field(default_factory=lambda: {"greedy_mode": "fast"})
    max_batch: int = 1
    seed: int = 0
    sweeps: Mapping[str, tuple[float, ...]] = field(
        default_factory=lambda: {"devices": (4, 16), "slo_scale": (2.5, 10.0), "cv": (1.0, 4.0)}
    )
    bound: bool = True
    sweep_set: str = "s3"
    metric: str = "auto"
    trace_load: float = 1.0
    goodput_rates: tuple[float, ...] = RATE_FACTORS
    goodput_max_rate_factor: float = MAX_RATE_FACTOR
    family_requests: int = 60000
    sweep_strategies: tuple[Strategy, ...] = (
        Strategy("static"),
        Strategy("replan", "oracle", "periodic"),
    )

    def __post_init__(self) -> None:
        for name in self.model_sets:
            if name not in self.devices:
                raise ValueError(f"devices: no device count for model set {name!r}")
        for name in self.workloads:
            if name not in WORKLOADS:
                raise ValueError(
                    f"workloads: unknown workload {name!r}; choose from {', '.join(WORKLOADS)}"
                )
        if not self.strategies or self.strategies[0] != Strategy("static"):
            raise ValueError("strategies: the first strategy must be static (the baseline)")
        check_choice("metric", self.metric, METRICS)
        if not self.trace_load > 0 or not self.goodput_rates or min(self.goodput_rates) <= 0:
            raise ValueError("trace_load: the trace's rate and its sweep factors must be > 0")
        if not self.goodput_max_rate_factor >= max(self.goodput_rates):
            raise ValueError(
                "goodput_max_rate_factor: must be at least the largest of goodput_rates, "
                f"got {self.goodput_max_rate_factor!r}"
            )
        for knob in self.sweeps:
            if knob not in ("devices", "slo_scale", "cv"):
                raise ValueError(f"sweeps: unknown knob {knob!r}; choose devices, slo_scale, cv")
        make_forecaster(self.forecaster)
        ReplanOptions(
            self.window_s,
            information="forecast",
            horizon_windows=self.horizon_windows,
            hedge=self.hedge,
            time_limit_s=self.time_limit_s,
            trust_windows=self.trust_windows if self.hedge else 0,
            nowcast_s=self.nowcast_s,
            react_drift=self.react_drift if self.nowcast_s else 0.0,
        )

    @classmethod
    def quick(cls) -> ExperimentConfig:
        """A few minutes on two cores: shorter traces, a coarser search,
        preemption only for static and periodic/oracle, no sweeps, goodput
        swept up to 4x the trace's rate."""
        return cls(
            duration_s=480.0,
            goodput_max_rate_factor=4.0,
            window_s=120.0,
            rel_tol=0.1,
            time_limit_s=20.0,
            strategies=(
                *default_strategies(preemption=False),
                Strategy("static", policy=PREEMPTION_POLICY),
                Strategy("replan", "oracle", "periodic", policy=PREEMPTION_POLICY),
            ),
            sweeps={},
        )

    @classmethod
    def memory_bound(cls, quick: bool = False) -> ExperimentConfig:
        """The memory-bound cases (S1 on 4 and 8 devices, S3 on 4, S2 on 8)
        in goodput on the shifting families, 60 s windows over 600 s, at
        the trace's rate and twice it (S1 on 4 and S2 on 8 on two families
        with ``quick``); the forecast re-planners forecast with whichever
        of Holt, EWMA and the last window forecast the last three windows
        best (``best``), and re-solve inside a window when the mix drifts
        by more than 0.25. The whole-trace static and the re-placement
        strategies also run with SLO-aware preemption: the headroom bound
        holds for any queue order, and on S3 with 4 devices the queue order
        alone closes much of its headroom over first-come-first-served.
        Oracle re-placement placed at will (:data:`AT_WILL`), with and
        without preemption, measures the headroom's reached end."""
        common: dict[str, Any] = {
            "duration_s": 600.0,
            "window_s": 60.0,
            "time_limit_s": 20.0,
            "strategies": (
                *default_strategies(),
                AT_WILL,
                dataclasses.replace(AT_WILL, policy=PREEMPTION_POLICY),
            ),
            "sweeps": {},
            "metric": "goodput",
            "goodput_rates": (1.0, 2.0),
            "react_drift": 0.25,
            "forecaster": "best",
        }
        if quick:
            return cls(
                model_sets=("s1", "s2"),
                devices={"s1": 4, "s2": 8},
                workloads=("rotating-2019", "onoff-2021"),
                **common,
            )
        return cls(
            model_sets=("s1", "s3", "s2"),
            devices={"s1": (4, 8), "s3": 4, "s2": 8},
            workloads=("rotating-2019", "onoff-2021", "diurnal-2019"),
            **common,
        )

    def trust_of(self, strategy: Strategy) -> int:
        """``trust_windows`` where ``strategy`` weighs it (forecast
        re-placement, with ``hedge``), else 0."""
        return self.trust_windows if strategy.forecasts and self.hedge else 0

    def drift_of(self, strategy: Strategy) -> float:
        """``react_drift`` where ``strategy`` weighs it (forecast
        re-placement with ``nowcast_s``), else 0."""
        return self.react_drift if strategy.forecasts and self.nowcast_s else 0.0

    def device_counts(self, model_set: str) -> tuple[int, ...]:
        """The cluster sizes ``model_set`` runs on."""
        counts = self.devices[model_set]
        return (counts,) if isinstance(counts, int) else tuple(counts)

    def to_json(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["strategies"] = [s.name for s in self.strategies]
        data["sweep_strategies"] = [s.name for s in self.sweep_strategies]
        data["devices"] = {name: list(self.device_counts(name)) for name in self.devices}
        data["sweeps"] = {k: list(v) for k, v in self.sweeps.items()}
        return data


@dataclass(frozen=True)
class Run:
    """One strategy at one rate: the simulated attainment, switches made,
    their cost (loads the simulator counted; zero for free switching), the
    scored requests that found every replica of their model loading, and
    the attainment per window (``window_s``; None where nothing is scored)."""

    attainment: float
    switches: int
    cost: SwitchCost
    unavailable_requests: int
    per_window: tuple[float | None, ...] = ()


def _unavailable(result: SimResult) -> int:
    return int(((result.outcome == Outcome.UNAVAILABLE) & result.scored).sum())


def _per_window(result: SimResult, window_s: float) -> tuple[float | None, ...]:
    """Attainment per window of ``window_s`` (None where none is scored)."""
    return tuple(
        None if math.isnan(value) else float(value)
        for value in result.per_window_attainment(window_s)
    )


def plan_switches(
    cluster: Cluster, models: Sequence[ModelSpec], plan: TimedPlan
) -> tuple[int, SwitchCost]:
    """Steps of ``plan`` that change the placement and their total cost."""
    switches, cost = 0, SwitchCost()
    for (_, before), (_, after) in zip(plan.steps, plan.steps[1:], strict=False):
        if after != before:
            switches += 1
            cost = cost + switch_cost(cluster, models, before, after)
    return switches, cost


class StrategyRunner:
    """Runs strategies on one cluster, model set and traffic."""

    def __init__(
        self,
        cluster: Cluster,
        models: Sequence[ModelSpec],
        traffic: Traffic,
        config: ExperimentConfig,
        cache: SolveCache,
    ) -> None:
        self.cluster = cluster
        self.models = tuple(models)
        self.traffic = traffic
        self.config = config
        self.cache = cache
        self.options = {"max_batch": config.max_batch, **config.solver_options}

    def workload(self, rate_rps: float) -> Workload:
        return self.traffic.at(rate_rps, self.config.seed)

    def sim(self, policy: str) -> SimOptions:
        config = self.config
        return SimOptions(max_batch=config.max_batch, warmup_s=config.window_s, policy=policy)

    def run(self, strategy: Strategy, rate_rps: float) -> Run:
        """Plan and simulate ``strategy`` at mean total rate ``rate_rps``."""
        config = self.config
        scored = Instance(
            self.cluster, self.models, self.workload(rate_rps), self.sim(strategy.policy)
        )
        workload = scored.workload
        if strategy.kind == "replan":
            if strategy.switching == "free":  # placed at will: loads take no time
                scored = dataclasses.replace(scored, cluster=instant_load(self.cluster))
            options = ReplanOptions(
                window_s=config.window_s,
                information=strategy.information,
                forecaster=make_forecaster(config.forecaster),
                forecast_floor=config.forecast_floor,
                trigger=strategy.trigger,
                horizon_windows=1 if strategy.trigger == "periodic" else config.horizon_windows,
                solver=config.solver,
                time_limit_s=config.time_limit_s,
                solver_options=self.options,
                hedge=config.hedge,
                react_after=config.react_after if strategy.forecasts else 0,
                nowcast_s=config.nowcast_s if strategy.forecasts else 0.0,
                react_replan=config.react_replan and strategy.forecasts,
                fill_spare=config.fill_spare and strategy.forecasts,
                trust_windows=config.trust_of(strategy),
                react_drift=config.drift_of(strategy),
                seed=config.seed,
            )
            done = plan_over_time(scored, options, cache=self.cache)
            return Run(
                done.attainment,
                done.switches,
                done.cost,
                done.unavailable_requests,
                _per_window(done.result, config.window_s),
            )
        if strategy.kind == "static":
            if strategy.information == "oracle":  # all that is scored: not the bootstrap
                planning, solving = workload, {**self.options, "warmup_s": config.window_s}
            else:
                planning, solving = window_workload(workload, 0.0, config.window_s), self.options
            found = self.solve(planning, config.solver, solving)
            result = compile_case(scored).run(found.placement)
            per_window = _per_window(result, config.window_s)
            return Run(result.attainment, 0, SwitchCost(), _unavailable(result), per_window)
        timed = clockwork_run(scored, config.window_s, config.time_limit_s, self.cache).plan
        if strategy.switching == "free":
            scored = dataclasses.replace(scored, cluster=instant_load(self.cluster))
        result = compile_case(scored).run(timed)
        switches, cost = plan_switches(scored.cluster, self.models, timed)
        per_window = _per_window(result, config.window_s)
        return Run(result.attainment, switches, cost, _unavailable(result), per_window)

    def solve(self, workload: Workload, solver: str, options: Mapping[str, Any]) -> SolveResult:
        """``solver`` on ``workload`` with the loose solver ``options``, cached."""
        sim, solving = split_options(options)
        return self.cache.solve(
            Instance(self.cluster, self.models, workload, sim),
            solver=solver,
            time_limit_s=self.config.time_limit_s,
            options=solving,
        )

    def start_rate(self) -> float:
        """Half of what the devices could serve at batch 1 if every request
        ran alone on one device of the fastest config's per-device speed."""
        per_device_rps = [
            1.0
            / min(stage.latency(1) * config.size for config, stage in m.profile.by_config.items())
            for m in self.models
        ]
        return 0.5 * self.cluster.num_devices * sum(per_device_rps) / len(per_device_rps)

    def capacity(
        self, strategies: Sequence[Strategy], progress: Progress | None
    ) -> list[dict[str, Any]]:
        """One row per strategy; the first must be static (the baseline).
        With the config's ``bound`` a last row holds :meth:`bound_capacity`."""
        rows: list[dict[str, Any]] = []
        static: MaxScale | None = None
        for strategy in strategies:
            started = time.monotonic()
            runs: dict[float, Run] = {}

            def evaluate(rate: float, strategy: Strategy = strategy, runs: dict = runs) -> float:
                runs[rate] = self.run(strategy, rate)
                if progress is not None:
                    progress(f"{strategy.name} @ {rate:.4g} rps: {runs[rate].attainment:.4f}")
                return runs[rate].attainment

            found = self.search(evaluate, None if static is None else static.scale)
            static = static or found
            at_max = None if found.scale is None else runs[found.scale]
            rows.append(_row(self.describe(strategy), found, static.scale, at_max, started))
        if self.config.bound and static is not None:
            rows.append(self.bound_capacity(static.scale, progress))
        return rows

    def describe(self, strategy: Strategy) -> dict[str, Any]:
        """What a row says about the strategy it ran."""
        replans = strategy.kind == "replan"
        return {
            "strategy": strategy.name,
            "kind": strategy.kind,
            "information": strategy.information,
            "forecaster": (
                make_forecaster(self.config.forecaster).name if strategy.forecasts else None
            ),
            "trust_windows": self.config.trust_of(strategy),
            "react_drift": self.config.drift_of(strategy),
            "trigger": strategy.trigger if replans else None,
            "policy": strategy.policy,
            "switching": strategy.switching if strategy.kind != "static" else None,
        }

    def search(self, evaluate: Callable[[float], float], static_rps: float | None) -> MaxScale:
        """The largest rate (requests/s) at which ``evaluate`` reaches the
        target attainment, searched from the static plan's rate when known."""
        start = static_rps or self.start_rate()
        return max_rate_scale(
            evaluate,
            target=self.config.target_attainment,
            start=start,
            factor=2.0 if static_rps is None else 1.25,
            rel_tol=self.config.rel_tol,
            min_scale=start / MAX_SHRINK,
            max_scale=start * MAX_SHRINK,
        )

    def bound_capacity(self, static_rps: float | None, progress: Progress | None) -> dict[str, Any]:
        """The row of the upper bound (:mod:`planner.placement.bound`): the largest
        rate at which no plan whatsoever, re-placed at will with free
        switches, could exceed the target attainment on this traffic."""
        started = time.monotonic()
        sim = self.sim("fcfs")

        def evaluate(rate: float) -> float:
            value = attainment_bound(Instance(self.cluster, self.models, self.workload(rate), sim))
            if progress is not None:
                progress(f"{BOUND} @ {rate:.4g} rps: {value:.4f}")
            return value

        found = self.search(evaluate, static_rps)
        described = bound_described(BOUND)
        at_max = None if found.attainment is None else Run(found.attainment, 0, SwitchCost(), 0)
        return _row(described, found, static_rps, at_max, started)


def _row(
    described: Mapping[str, Any],
    found: MaxScale,
    static_rps: float | None,
    at_max: Run | None,
    started: float,
) -> dict[str, Any]:
    """A capacity row: what was run (``described``), the rate search's
    result and ratio to static, and the run at the largest passing rate
    (None when nothing passed); ``started`` is its ``time.monotonic()``."""
    return {
        **described,
        "max_rate_rps": found.scale,
        "failing_rate_rps": None if math.isinf(found.failing_scale) else found.failing_scale,
        "lowest_rate_rps": found.lowest_tried,
        "ratio_to_static": (
            None if found.scale is None or static_rps is None else found.scale / static_rps
        ),
        "probes": [[p.scale, p.attainment] for p in found.probes],
        "attainment": None if at_max is None else at_max.attainment,
        "switches": 0 if at_max is None else at_max.switches,
        **encode(SwitchCost() if at_max is None else at_max.cost),
        "unavailable_requests": 0 if at_max is None else at_max.unavailable_requests,
        "wall_s": time.monotonic() - started,
    }


def make_traffic(
    name: str,
    models: Sequence[ModelSpec],
    config: ExperimentConfig,
    open_trace: OpenTrace | None = None,
) -> Traffic:
    """The named time-varying workload for ``models``; ``azure2019`` reads
    ``config.azure2019_path`` through ``open_trace``."""
    names = [m.name for m in models]
    if name == "synthetic":
        synthetic = AzureLikeConfig(
            num_models=len(models),
            duration_s=config.duration_s,
            total_rate_rps=1.0,
            cv=config.cv,
            window_s=config.rate_window_s,
            shift_every_s=config.shift_every_s,
        )
        return synthetic_traffic(names, synthetic, config.seed)
    if name in SHIFTING_WORKLOADS:
        family, _, trace_format = name.partition("-")
        return family_traffic(
            family_config(family, len(models), config.family_requests),
            trace_format,
            names,
            config.duration_s,
            round(config.duration_s / config.rate_window_s),
            config.cv,
            config.seed,
        )
    path, opener = _azure2019_trace(config, open_trace)
    windows = round(config.duration_s / config.rate_window_s)
    with opener(path) as lines:
        return azure2019_traffic(
            lines,
            path,
            names,
            TimeRange.parse(*config.azure2019_range),
            config.duration_s,
            windows,
            config.cv,
        )


def _azure2019_trace(
    config: ExperimentConfig, open_trace: OpenTrace | None
) -> tuple[str, OpenTrace]:
    if config.azure2019_path is None or open_trace is None:
        raise ValueError("azure2019_path: the azure2019 workload needs a trace file to open")
    return config.azure2019_path, open_trace


def hosts_every_model(cluster: Cluster, models: Sequence[ModelSpec]) -> bool:
    """Whether the devices' memory holds one replica of every model in its
    smallest config (:func:`planner.evaluation.headroom.replica_kinds`)."""
    smallest = [min((k.bytes_total for k in replica_kinds(m, cluster)), default=0) for m in models]
    return sum(smallest) <= cluster.num_devices * cluster.device_mem_bytes


def _cluster(config: ExperimentConfig, devices: int) -> Cluster:
    return Cluster(
        devices,
        config.device_mem_bytes,
        min(config.devices_per_node, devices),
        config.load_bw_bytes_per_s,
    )


Case = tuple[str, int, str] | tuple[str, float]
"""One unit of the experiment: ``(model set, devices, workload)`` or a
sweep point ``(knob, value)``."""


def experiment_cases(config: ExperimentConfig) -> list[Case]:
    """Every model set × devices × workload, then every sweep point, in order."""
    cases: list[Case] = [
        (set_name, devices, workload)
        for set_name in config.model_sets
        for devices in config.device_counts(set_name)
        for workload in config.workloads
    ]
    return cases + list(sweep_points(config))


TABLES = ("rows", "goodput_rows", "sweeps")
"""The experiment's tables: capacity rows (max rate at the target),
goodput rows (memory-bound cases) and sweep points."""

CaseRows = tuple[str, list[dict[str, Any]]]
"""A case's table (one of :data:`TABLES`) and its rows."""


def run_case(
    config: ExperimentConfig,
    case: Case,
    cache: SolveCache,
    progress: Progress | None,
    open_trace: OpenTrace | None,
) -> CaseRows:
    """The rows of one case (:func:`experiment_cases`): goodput rows when
    ``config.metric`` asks for them, or (``auto``) when the cluster's memory
    cannot hold one replica of every model; else capacity rows."""
    if len(case) == 2:
        return "sweeps", run_sweep_point(config, case, cache, progress)
    set_name, devices, workload = case
    models = model_set(set_name, slo_scale=config.slo_scale)
    cluster = _cluster(config, devices)
    runner = StrategyRunner(
        cluster, models, make_traffic(workload, models, config, open_trace), config, cache
    )
    say = None
    if progress is not None:
        say = lambda message: progress(f"{set_name}/{devices}/{workload}: {message}")  # noqa: E731
    where = {"model_set": set_name, "devices": cluster.num_devices, "workload": workload}
    goodput = config.metric == "goodput" or (
        config.metric == "auto" and not hosts_every_model(cluster, models)
    )
    if goodput:
        rate = config.trace_load * runner.start_rate()
        found = goodput_rows(
            runner,
            config.strategies,
            rate,
            config.goodput_rates,
            say,
            config.goodput_max_rate_factor,
        )
        return "goodput_rows", [{**where, **row} for row in found]
    return "rows", [{**where, **row} for row in runner.capacity(config.strategies, say)]


def run_remote_case(
    state: tuple[ExperimentConfig, OpenTrace | None], case: Case
) -> tuple[CaseRows, int, float]:
    """One case as a task elsewhere, with its own solve cache: ``(its
    table and rows, solves, solve seconds)``."""
    config, open_trace = state
    cache = SolveCache()
    rows = run_case(config, case, cache, None, open_trace)
    return rows, cache.solves, cache.solve_s


def run_experiment(
    config: ExperimentConfig,
    progress: Progress | None = None,
    checkpoint: Callable[[dict[str, Any]], None] | None = None,
    open_trace: OpenTrace | None = None,
) -> dict[str, Any]:
    """Run the experiment (module docstring) and return it as JSON data;
    ``checkpoint`` receives the data so far (with ``"partial": true``)
    after every case (model set × workload, sweep point). The ``azure2019``
    workload reads its trace through ``open_trace``. With solver option
    ``backend=ray`` the cases run as tasks on a Ray cluster, each with its
    own solve cache (``solves`` and ``solve_s`` then add up the cases';
    a solve two cases share is made twice), and the rows are the same."""
    if "azure2019" in config.workloads:
        _azure2019_trace(config, open_trace)
    started = time.monotonic()
    cases = experiment_cases(config)
    done: dict[int, CaseRows] = {}
    cache = SolveCache()
    totals = [0, 0.0]

    def result(partial: bool) -> dict[str, Any]:
        tables: dict[str, list[dict[str, Any]]] = {table: [] for table in TABLES}
        for index in sorted(done):
            table, rows = done[index]
            tables[table].extend(rows)
        return {
            "kind": "replan-experiment",
            "partial": partial,
            "target_attainment": config.target_attainment,
            "config": encode(config),
            **tables,
            "solves": cache.solves + totals[0],
            "solve_s": cache.solve_s + totals[1],
            "wall_s": time.monotonic() - started,
        }

    def save() -> None:
        if checkpoint is not None:
            checkpoint(result(partial=True))

    runner, inner = remote_fan_out(config.solver_options)
    if runner is None:
        for index, case in enumerate(cases):
            done[index] = run_case(config, case, cache, progress, open_trace)
            save()
        return result(partial=False)
    state = (dataclasses.replace(config, solver_options=inner), open_trace)
    for index, (rows, solves, solve_s) in runner.map_unordered(
        as_is, run_remote_case, state, cases
    ):
        done[index] = rows
        totals[0] += solves
        totals[1] += solve_s
        if progress is not None:
            progress(f"case {len(done)}/{len(cases)} done: {cases[index]}")
        save()
    return result(partial=False)


def sweep_points(config: ExperimentConfig) -> list[tuple[str, float]]:
    """Every ``(knob, value)`` of ``config.sweeps``, in order."""
    return [(knob, value) for knob, values in config.sweeps.items() for value in values]


def run_sweep_point(
    config: ExperimentConfig,
    point: tuple[str, float],
    cache: SolveCache,
    progress: Progress | None,
) -> list[dict[str, Any]]:
    """The capacity of ``sweep_strategies`` for ``sweep_set`` on the
    synthetic workload with one knob (devices, SLO scale or CV) changed."""
    knob, value = point
    devices = int(value) if knob == "devices" else config.device_counts(config.sweep_set)[0]
    changed = config
    if knob == "slo_scale":
        changed = dataclasses.replace(config, slo_scale=float(value))
    elif knob == "cv":
        changed = dataclasses.replace(config, cv=float(value))
    models = model_set(config.sweep_set, slo_scale=changed.slo_scale)
    traffic = make_traffic("synthetic", models, changed)
    runner = StrategyRunner(_cluster(changed, devices), models, traffic, changed, cache)
    say = None
    if progress is not None:
        say = lambda message: progress(f"sweep {knob}={value:g}: {message}")  # noqa: E731
    return [
        {
            "knob": knob,
            "value": value,
            "model_set": config.sweep_set,
            "devices": devices,
            "workload": "synthetic",
            **row,
        }
        for row in runner.capacity(config.sweep_strategies, say)
    ]


TABLE_COLUMNS = (
    "set",
    "devices",
    "workload",
    "strategy",
    "information",
    "max rate (rps)",
    "x static",
    "switches",
    "lost replica-s",
    "unavailable reqs",
)


def rate_text(row: Mapping[str, Any]) -> str:
    """A row's max rate for a table: ``12.5``, or ``< 3.1`` (below the
    lowest rate tried) when no rate tried reached the target."""
    if row["max_rate_rps"] is None:
        return f"< {row['lowest_rate_rps']:.1f}"
    return f"{row['max_rate_rps']:.1f}"


def information_text(row: Mapping[str, Any]) -> str:
    """What a row's strategy knew when it planned, in words."""
    if row["kind"] == "static":
        return "first window only" if row["information"] == "forecast" else "oracle (whole trace)"
    if row["kind"] == "bound":
        return "any plan, free switches"
    if row["forecaster"] is not None:
        trust = row.get("trust_windows") or 0
        earned = (
            f", trusted while its plans of the last {trust} windows served more" if trust else ""
        )
        drift = row.get("react_drift") or 0
        watched = f", re-solved inside a window when the mix drifts by > {drift:g}" if drift else ""
        return f"forecast {row['forecaster']}{earned}{watched}"
    return str(row["information"])


def switching_text(row: Mapping[str, Any]) -> str:
    """What a row's switches cost: ``none`` (one plan), ``free`` or
    ``real`` (the replicas that load serve nothing for their load time)."""
    if row["kind"] == "static":
        return "none"
    return "free" if row["switching"] == "free" else "real"


def table_rows(result: Mapping[str, Any]) -> list[tuple[Any, ...]]:
    """The experiment's capacity table (:data:`TABLE_COLUMNS`), one row per
    model set × workload × strategy, from :func:`run_experiment`'s data."""
    rows = []
    for row in result["rows"]:
        ratio = row["ratio_to_static"]
        rows.append(
            (
                row["model_set"],
                row["devices"],
                row["workload"],
                row["strategy"],
                information_text(row),
                rate_text(row),
                "-" if ratio is None else f"{ratio:.3f}",
                row["switches"],
                f"{row['lost_replica_s']:.1f}",
                row["unavailable_requests"],
            )
        )
    return rows


GOODPUT_COLUMNS = (
    "set",
    "devices",
    "workload",
    "strategy",
    "information",
    "switching",
    "rate (rps)",
    "goodput (rps)",
    "x static",
    "best goodput (rps)",
    "max rate @ target",
    "headroom",
    "share captured",
    "reached",
    "share of reached",
    "switches",
    "lost replica-s",
)


def fixed_text(value: float | None, digits: int) -> str:
    """``value`` with ``digits`` decimals, ``-`` for None (the tables' cells)."""
    return "-" if value is None else f"{value:.{digits}f}"


def goodput_table_rows(result: Mapping[str, Any]) -> list[tuple[Any, ...]]:
    """The goodput table (:data:`GOODPUT_COLUMNS`), one row per model set
    × devices × workload × strategy (:mod:`planner.evaluation.goodput`)."""
    return [
        (
            row["model_set"],
            row["devices"],
            row["workload"],
            row["strategy"],
            information_text(row),
            switching_text(row),
            f"{row['rate_rps']:.1f}",
            f"{row['goodput_rps']:.1f}",
            fixed_text(row["x_static"], 3),
            f"{row['best_goodput_rps']:.1f} @ {row['best_rate_rps']:.0f}"
            + (" (cap)" if row.get("best_at_cap") else ""),
            "none reached" if row["max_rate_rps"] is None else f"{row['max_rate_rps']:.1f}",
            fixed_text(row["headroom"], 3),
            fixed_text(row["share_captured"], 2),
            fixed_text(row.get("reached_headroom"), 3),
            fixed_text(row.get("share_of_reached"), 2),
            row["switches"],
            f"{row['lost_replica_s']:.1f}",
        )
        for row in result.get("goodput_rows", [])
    ]
