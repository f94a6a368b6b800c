"""What a re-placement is asked to do and what it returns: the options of
:func:`planner.replan.loop.replan`, each window's decision and the result.
Every option is checked when built (ValueError naming the field)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from planner.codec import encode
from planner.domain import TimedPlan
from planner.placement.solve import SOLVERS
from planner.replan.forecast import Ewma, Forecaster
from planner.replan.transition import SwitchCost
from planner.sim import Instance, Outcome, SimResult

INFORMATION = ("oracle", "forecast")
TRIGGERS = ("periodic", "triggered")


def check_choice(name: str, value: str, choices: tuple[str, ...]) -> None:
    """ValueError naming ``name`` unless ``value`` is one of ``choices``."""
    if value not in choices:
        raise ValueError(f"{name}: must be one of {', '.join(choices)}; got {value!r}")


def check_seconds(name: str, value: float) -> None:
    """ValueError naming ``name`` unless ``value`` is a finite number > 0."""
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not math.isfinite(value)
        or value <= 0
    ):
        raise ValueError(f"{name}: must be a finite number > 0, got {value!r}")


def _bounds(low: float, high: float) -> str:
    """``>= low``, or ``in [low, high]`` when ``high`` is finite."""
    return f">= {low:g}" if math.isinf(high) else f"in [{low:g}, {high:g}]"


def check_number(name: str, value: float, low: float, high: float = math.inf) -> None:
    """ValueError naming ``name`` unless ``low <= value <= high``."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not low <= value <= high:
        raise ValueError(f"{name}: must be a number {_bounds(low, high)}, got {value!r}")


def check_integer(name: str, value: int, low: int, high: float = math.inf) -> None:
    """ValueError naming ``name`` unless ``value`` is an integer (not a
    bool) with ``low <= value <= high``."""
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ValueError(f"{name}: must be an integer {_bounds(low, high)}, got {value!r}")


@dataclass(frozen=True)
class ReplanOptions:
    """How to re-place (module docstring).

    - ``window_s``: window length (s), > 0 and at most the workload's duration.
    - ``information``: ``"oracle"`` or ``"forecast"``; ``forecaster`` is used
      in forecast mode.
    - ``trigger``: ``"periodic"`` or ``"triggered"``; ``drift_threshold``
      and ``trigger_attainment`` fire the triggered re-planner.
    - ``horizon_windows``: windows the next placement is planned and judged
      on (its switching loss is paid once over them).
    - ``solver``, ``time_limit_s`` (s, per solve: a deadline that far from
      each solve's start), ``solver_options``: passed to
      :func:`planner.placement.solve.solve` (``max_batch`` defaults to the
      instance's, ``certify`` to false: no window reports the certified
      bound; the instance's simulator options judge switches and give
      the final score).
    - ``min_gain``: judged attainment a switch must gain over keeping.
    - ``forecast_floor``: in forecast mode, no model's rate is forecast
      below this fraction of its mean rate so far (a model that had traffic
      keeps a replica; :func:`planner.replan.forecast.forecast_window`).
    - ``headroom``: in forecast mode, plan and judge on the forecast with
      every rate times ``1 + headroom``, to hedge against a forecast that
      falls short of the traffic.
    - ``hedge``: also solve the history plan on all traffic observed so
      far and move to it when it judges better than the window plan
      (module docstring, step 3): a plan fitted to one window or one
      forecast draw is brittle.
    - ``react_after``: in forecast mode, react inside a window when a model
      with no replica in the serving placement has had this many requests
      (>= 2; 0 never reacts; module docstring, step 5).
    - ``nowcast_s``: a reaction re-estimates every model's rate from the
      window's arrivals so far, the forecast counting as this many seconds
      of observation (``(requests + forecast x nowcast_s) / (elapsed +
      nowcast_s)``); 0 keeps the forecast for every model but the one that
      triggered (module docstring, step 5).
    - ``react_replan``: a reaction also re-solves the placement on the
      nowcast and moves to the parts of it that pay, besides loading the
      one model (needs ``nowcast_s`` > 0).
    - ``trust_windows``: in forecast mode with ``hedge``, before each
      window's decision, score the window and history plans solved at each
      of the last ``trust_windows`` windows on what those windows really
      carried (both in place from the window's start); while the window
      plans served fewer requests in total, only the history plan is a
      candidate (module docstring of :mod:`planner.replan.loop`, step 3).
      0 trusts the forecast always.
    - ``fill_spare``: every plan solved (the bootstrap's and each window
      candidate) also hosts the models it drops wherever memory is spare,
      so a model that turns hot finds a replica (step 3).
    - ``react_drift``: in forecast mode with ``nowcast_s``, every
      ``nowcast_s`` seconds inside a window, re-solve on the nowcast and
      move to what pays when its mix drifted by more than this
      (:func:`planner.replan.forecast.drift`) from the mix the serving
      placement was planned or last checked for (module docstring of
      :mod:`planner.replan.loop`, step 5); 0 never checks.
    - ``seed``: seeds the forecast draws.
    """

    window_s: float
    information: str = "oracle"
    forecaster: Forecaster = field(default_factory=Ewma)
    trigger: str = "periodic"
    horizon_windows: int = 1
    drift_threshold: float = 0.25
    trigger_attainment: float = 0.99
    min_gain: float = 0.0
    headroom: float = 0.0
    forecast_floor: float = 0.25
    solver: str = "greedy"
    time_limit_s: float = 30.0
    solver_options: Mapping[str, Any] = field(default_factory=dict)
    hedge: bool = True
    react_after: int = 0
    nowcast_s: float = 0.0
    react_replan: bool = False
    fill_spare: bool = False
    trust_windows: int = 0
    react_drift: float = 0.0
    seed: int = 0

    def __post_init__(self) -> None:
        check_seconds("window_s", self.window_s)
        check_choice("information", self.information, INFORMATION)
        check_choice("trigger", self.trigger, TRIGGERS)
        check_choice("solver", self.solver, SOLVERS)
        check_integer("horizon_windows", self.horizon_windows, 1)
        check_number("drift_threshold", self.drift_threshold, 0.0)
        check_number("trigger_attainment", self.trigger_attainment, 0.0, 1.0)
        check_number("min_gain", self.min_gain, 0.0, 1.0)
        check_number("headroom", self.headroom, 0.0)
        check_number("forecast_floor", self.forecast_floor, 0.0)
        check_seconds("time_limit_s", self.time_limit_s)
        if not isinstance(self.hedge, bool):
            raise ValueError(f"hedge: must be a bool, got {self.hedge!r}")
        react = self.react_after
        if isinstance(react, bool) or not isinstance(react, int) or react == 1 or react < 0:
            raise ValueError(f"react_after: must be 0 or an integer >= 2, got {react!r}")
        check_number("nowcast_s", self.nowcast_s, 0.0)
        if not isinstance(self.react_replan, bool):
            raise ValueError(f"react_replan: must be a bool, got {self.react_replan!r}")
        if not isinstance(self.fill_spare, bool):
            raise ValueError(f"fill_spare: must be a bool, got {self.fill_spare!r}")
        check_integer("trust_windows", self.trust_windows, 0)
        if self.trust_windows and (self.information != "forecast" or not self.hedge):
            raise ValueError(
                "trust_windows: weighing the forecast against history needs forecast mode and hedge"
            )
        check_number("react_drift", self.react_drift, 0.0)
        if self.react_drift and (self.information != "forecast" or not self.nowcast_s):
            raise ValueError(
                "react_drift: watching the mix inside a window needs forecast mode and nowcast_s > 0"
            )
        if self.react_replan and not self.nowcast_s:
            raise ValueError("react_replan: re-solving on a reaction needs nowcast_s > 0")
        if react and self.information != "forecast":
            raise ValueError(
                "react_after: reactions are for forecast mode (oracle knows the window)"
            )

    @property
    def label(self) -> str:
        """E.g. ``periodic/oracle`` or ``triggered/forecast ewma(0.5)``."""
        information = (
            "oracle" if self.information == "oracle" else f"forecast {self.forecaster.name}"
        )
        return f"{self.trigger}/{information}"


@dataclass(frozen=True)
class WindowDecision:
    """What the re-planner did at the start of one window, or inside it
    when it reacted (step 5; ``start_s`` is then the reaction's instant).

    ``action`` is ``"bootstrap"`` (window 0), ``"keep"`` or ``"switch"``;
    ``reason`` says why in words. ``drift`` is the traffic-mix change since
    the current placement was planned; ``keep_attainment``,
    ``switch_attainment`` and ``target_attainment`` are judged attainments
    of keeping, of the chosen switch and of switching to the whole new plan
    (None where not judged). ``candidate`` is the plan those refer to,
    ``"window"`` or ``"history"`` (module docstring, step 3; None where
    nothing was solved). ``cost`` is what the switch loaded."""

    window: int
    start_s: float
    action: str
    reason: str
    solved: bool
    drift: float | None = None
    keep_attainment: float | None = None
    switch_attainment: float | None = None
    target_attainment: float | None = None
    candidate: str | None = None
    cost: SwitchCost = field(default_factory=SwitchCost)


@dataclass(frozen=True, eq=False)
class ReplanResult:
    """A re-placement of ``instance``: the timed plan, its simulation over
    the whole workload (real switching cost, the instance's options), and
    every window's decision; ``status`` is ``timeout`` when some solve
    stopped at its deadline, else ``heuristic``. ``unavailable_requests``
    counts scored requests lost because every replica of their model was
    loading."""

    plan: TimedPlan
    instance: Instance
    options: ReplanOptions
    windows: tuple[WindowDecision, ...]
    result: SimResult
    status: str
    wall_s: float
    solves: int
    judge_simulations: int

    @property
    def attainment(self) -> float:
        return self.result.attainment

    @property
    def strategy(self) -> str:
        return self.options.label

    @property
    def log(self) -> tuple[str, ...]:
        """One line per decision."""
        return tuple(
            f"window {w.window} at {w.start_s:g} s: {w.action} ({w.reason})" for w in self.windows
        )

    @property
    def stats(self) -> dict[str, Any]:
        return {
            "switches": self.switches,
            "solves": self.solves,
            "judge_simulations": self.judge_simulations,
            "unavailable_requests": self.unavailable_requests,
        }

    @property
    def switches(self) -> int:
        return sum(1 for w in self.windows if w.action == "switch")

    @property
    def cost(self) -> SwitchCost:
        """Total cost of the switches (the bootstrap load is not counted)."""
        total = SwitchCost()
        for window in self.windows:
            if window.action == "switch":
                total = total + window.cost
        return total

    @property
    def unavailable_requests(self) -> int:
        scored = self.result.outcome[self.result.scored]
        return int(np.count_nonzero(scored == Outcome.UNAVAILABLE))

    def to_json(self, include_plan: bool = False) -> dict[str, Any]:
        """Codec hook: a summary (the options that tell strategies apart,
        totals, every window's decision; the plan with ``include_plan``),
        not the fields (the simulation's per-request arrays)."""
        options = self.options
        data: dict[str, Any] = {
            "strategy": self.strategy,
            "information": options.information,
            "forecaster": options.forecaster.name if options.information == "forecast" else None,
            "trigger": options.trigger,
            "window_s": options.window_s,
            "horizon_windows": options.horizon_windows,
            "solver": options.solver,
            "policy": self.instance.options.policy,
            "attainment": self.attainment,
            "switches": self.switches,
            "switch_cost": encode(self.cost),
            "unavailable_requests": self.unavailable_requests,
            "wall_s": self.wall_s,
            "solves": self.solves,
            "judge_simulations": self.judge_simulations,
            "windows": encode(self.windows),
        }
        if include_plan:
            data["plan"] = encode(self.plan)
        return data
