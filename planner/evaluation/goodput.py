"""Goodput rows: the memory-bound regime's measure of a strategy.

When the devices cannot host every model (or the experiment asks for it),
no strategy may reach the target attainment at any rate, and the largest
rate that does is no measure. A goodput row reports instead, per strategy:

- ``goodput_rps``: scored requests served within SLO per scored second at
  the trace's own rate ``rate_rps`` (the first window is the bootstrap and
  is not scored), with ``x_static``, the ratio to the static plan's;
- ``best_goodput_rps`` over a sweep of ``rate_factors`` times that rate,
  widened (:func:`widening_sweep`) by doubling the top rate while the best
  goodput falls at it, up to ``max_rate_factor`` times the trace's rate;
  ``best_rate_rps`` is where the best fell and ``best_at_cap`` says it
  fell at that cap (goodput may rise beyond it) (``sweep``: ``[rate,
  goodput, attainment]`` per rate tried);
- ``max_rate_rps``: the largest swept rate whose attainment reaches the
  target, None ("none reached") when none does;
- the headroom bound of :mod:`planner.evaluation.headroom` at the same
  rate (``bound_goodput_rps``), ``headroom`` = bound / static goodput, and
  ``share_captured`` = (strategy - static) / (bound - static), None when
  the bound is within 0.1 % of static (nothing to capture);
- the measured end of the headroom: ``reached_goodput_rps``, the best
  goodput at the trace's rate of any strategy in the rows (the case's
  strategies may include oracle re-placement with free switching,
  :data:`planner.evaluation.experiment.AT_WILL`), ``reached_headroom`` =
  that over static and ``share_of_reached`` = (strategy - static) /
  (reached - static). The best plan re-placed at will lies between it and
  the bound: the bound ignores queueing, the reached end is one solver's
  plans;
- the switches at the trace's rate and their cost, the information the
  strategy plans with and its switching cost, and its attainment per
  window at that rate (``per_window_attainment``; None where nothing is
  scored: the bootstrap window), to tell where a strategy loses.

A last row, ``headroom bound``, holds the bound itself at every rate.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol

from planner.codec import encode
from planner.domain import Cluster, ModelSpec, Workload
from planner.evaluation.headroom import headroom_bound
from planner.replan.transition import SwitchCost
from planner.sim import Instance, SimOptions

Progress = Callable[[str], None]
HEADROOM_BOUND = "headroom bound"
RATE_FACTORS = (0.5, 1.0, 2.0)
"""Multiples of the trace's own rate that the goodput sweep tries."""
MAX_RATE_FACTOR = 8.0
"""The sweep widens up to this multiple of the trace's rate."""
RATE_STEP = 2.0
"""Each widening multiplies the sweep's top rate by this."""
NOTHING_TO_CAPTURE = 1e-3
"""Headroom below this relative size leaves ``share_captured`` None."""


class Run(Protocol):
    """One strategy's run at one rate (:class:`planner.evaluation.experiment.Run`)."""

    @property
    def attainment(self) -> float: ...

    @property
    def switches(self) -> int: ...

    @property
    def cost(self) -> SwitchCost: ...

    @property
    def unavailable_requests(self) -> int: ...

    @property
    def per_window(self) -> tuple[float | None, ...]: ...


class Config(Protocol):
    @property
    def window_s(self) -> float: ...

    @property
    def target_attainment(self) -> float: ...


class Runner(Protocol):
    """What runs strategies on one case
    (:class:`planner.evaluation.experiment.StrategyRunner`)."""

    cluster: Cluster
    models: tuple[ModelSpec, ...]

    @property
    def config(self) -> Config: ...

    def workload(self, rate_rps: float) -> Workload: ...

    def sim(self, policy: str) -> SimOptions: ...

    def run(self, strategy: Any, rate_rps: float) -> Run: ...

    def describe(self, strategy: Any) -> dict[str, Any]: ...


def bound_described(name: str) -> dict[str, Any]:
    """What a row says about an upper bound named ``name``: any plan,
    known traffic, free switches."""
    return {
        "strategy": name,
        "kind": "bound",
        "information": "oracle",
        "forecaster": None,
        "trigger": None,
        "policy": None,
        "switching": "free",
    }


def goodput_rps(run: Run, scored: int, span_s: float) -> float:
    """Requests served within SLO per second of the scored span."""
    return run.attainment * scored / span_s if span_s > 0 else 0.0


def share_captured(goodput: float, static: float, bound: float) -> float | None:
    """(goodput - static) / (bound - static); None with no headroom."""
    if bound - static <= NOTHING_TO_CAPTURE * max(bound, 1e-12):
        return None
    return (goodput - static) / (bound - static)


def widening_sweep(
    goodput_at: Callable[[float], float],
    rates: Sequence[float],
    cap_rps: float,
    step: float = RATE_STEP,
) -> dict[float, float]:
    """Goodput (requests/s) per rate: at every rate of ``rates``, then,
    while the best goodput so far falls at the top rate tried and that
    rate times ``step`` stays within ``cap_rps`` (and a relative 1e-9),
    at that next rate. So the sweep stops once goodput stops rising or at
    the cap; ``goodput_at`` is called once per rate, in rising order."""
    if step <= 1:
        raise ValueError(f"step: must be > 1, got {step!r}")
    goodput = {rate: goodput_at(rate) for rate in sorted(set(rates))}
    while True:
        top = max(goodput)
        best = max(goodput, key=lambda rate: (goodput[rate], -rate))
        if best != top or top * step > cap_rps * (1 + 1e-9):
            return goodput
        goodput[top * step] = goodput_at(top * step)


def goodput_rows(
    runner: Runner,
    strategies: Sequence[Any],
    rate_rps: float,
    rate_factors: Sequence[float] = RATE_FACTORS,
    progress: Progress | None = None,
    max_rate_factor: float = MAX_RATE_FACTOR,
) -> list[dict[str, Any]]:
    """One goodput row per strategy (the first must be static, the
    baseline) and the headroom bound's row (module docstring); each
    strategy's sweep (and the bound's) widens on its own, up to
    ``max_rate_factor`` times ``rate_rps``."""
    config = runner.config
    rates = sorted({rate_rps * f for f in rate_factors} | {rate_rps})
    cap_rps = max(rate_rps * max_rate_factor, max(rates))
    bounds: dict[float, float] = {}
    scored: dict[float, tuple[int, float]] = {}

    def bound_at(rate: float) -> float:
        if rate not in bounds:
            instance = Instance(
                runner.cluster, runner.models, runner.workload(rate), runner.sim("fcfs")
            )
            found = headroom_bound(instance, config.window_s)
            bounds[rate] = found.goodput_rps
            scored[rate] = found.scored, found.scored_span_s
            if progress is not None:
                progress(f"{HEADROOM_BOUND} @ {rate:.4g} rps: {found.goodput_rps:.4g} rps goodput")
        return bounds[rate]

    bound_goodput = widening_sweep(bound_at, rates, cap_rps)
    rows: list[dict[str, Any]] = []
    static: float | None = None
    for strategy in strategies:
        started = time.monotonic()
        runs: dict[float, Run] = {}

        def goodput_at(
            rate: float, strategy: Any = strategy, runs: dict[float, Run] = runs
        ) -> float:
            bound_at(rate)
            runs[rate] = runner.run(strategy, rate)
            if progress is not None:
                progress(f"{strategy.name} @ {rate:.4g} rps: {runs[rate].attainment:.4f}")
            return goodput_rps(runs[rate], *scored[rate])

        goodput = widening_sweep(goodput_at, rates, cap_rps)
        static = goodput[rate_rps] if static is None else static
        rows.append(
            _row(
                runner.describe(strategy),
                rate_rps,
                goodput,
                {rate: run.attainment for rate, run in runs.items()},
                runs[rate_rps],
                static,
                bounds,
                config.target_attainment,
                started,
            )
        )
    assert static is not None, "strategies: needs at least the static one"
    bound_attainment = {
        rate: min(1.0, bounds[rate] * scored[rate][1] / max(scored[rate][0], 1))
        for rate in bound_goodput
    }
    bound_row = _row(
        bound_described(HEADROOM_BOUND),
        rate_rps,
        bound_goodput,
        bound_attainment,
        None,
        static,
        bounds,
        config.target_attainment,
        time.monotonic(),
    )
    reached = max(row["goodput_rps"] for row in rows)
    rows.append(bound_row)
    for row in rows:  # the bound is no strategy: it has no share of what they reached
        row["reached_goodput_rps"] = reached
        row["reached_headroom"] = reached / static if static > 0 else None
        row["share_of_reached"] = (
            None if row is bound_row else share_captured(row["goodput_rps"], static, reached)
        )
    return rows


def _row(
    described: Mapping[str, Any],
    rate_rps: float,
    goodput: Mapping[float, float],
    attainment: Mapping[float, float],
    at_rate: Run | None,
    static: float,
    bounds: Mapping[float, float],
    target: float,
    started: float,
) -> dict[str, Any]:
    best = max(goodput, key=lambda rate: (goodput[rate], -rate))
    reaching = [rate for rate in goodput if attainment[rate] >= target]
    bound = bounds[rate_rps]
    return {
        **described,
        "metric": "goodput",
        "rate_rps": rate_rps,
        "goodput_rps": goodput[rate_rps],
        "attainment": attainment[rate_rps],
        "x_static": goodput[rate_rps] / static if static > 0 else None,
        "best_goodput_rps": goodput[best],
        "best_rate_rps": best,
        "best_at_cap": best == max(goodput),
        "sweep": [[rate, goodput[rate], attainment[rate]] for rate in sorted(goodput)],
        "max_rate_rps": max(reaching) if reaching else None,
        "bound_goodput_rps": bound,
        "headroom": bound / static if static > 0 else None,
        "share_captured": share_captured(goodput[rate_rps], static, bound),
        "switches": 0 if at_rate is None else at_rate.switches,
        **encode(SwitchCost() if at_rate is None else at_rate.cost),
        "unavailable_requests": 0 if at_rate is None else at_rate.unavailable_requests,
        "per_window_attainment": [] if at_rate is None else list(at_rate.per_window),
        "wall_s": time.monotonic() - started,
    }
