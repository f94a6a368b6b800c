"""Re-placement over workload windows, with the cost of moving weights
counted (DESIGN.md §6).

The horizon is cut into windows of ``window_s`` seconds. Window 0 is the
*bootstrap*: in every mode it is planned on its own traffic and its
placement is in place at time 0 (loaded before the trace starts); an
experiment that compares modes leaves it out of the score (``warmup_s``).
At the start of every later window ``k`` the re-planner decides what serves
next:

1. **Information.** ``oracle``: it plans and judges on the actual requests of
   the next ``horizon_windows`` windows (as the reference experiment does).
   ``forecast``: it sees only the arrivals before window ``k``; a
   :mod:`planner.replan.forecast` forecaster predicts each model's rate and CV, and
   two independent seeded draws from that forecast serve to plan and to
   judge (judging on the draw the plan was fitted to would flatter it).
2. **Trigger.** ``periodic``: it re-plans at every window. ``triggered``:
   it re-plans only when the traffic mix drifted by more than
   ``drift_threshold`` (:func:`planner.replan.forecast.drift`) from the mix the
   current placement was made for, or when the current placement's judged
   attainment is below ``trigger_attainment``.
3. **Plan.** Any solver of :func:`planner.placement.solve.solve` places the models on
   the planning traffic (the *window* plan). With ``hedge``, a second
   candidate, the *history* plan, is solved on all traffic observed so
   far: the actual arrivals before the end of the planning horizon in
   oracle mode, before window ``k`` in forecast mode. A plan fitted to one
   window (or one forecast draw) may drop models that the next window or a
   burst needs; the history plan is the robust alternative. With
   ``fill_spare`` each plan (and the bootstrap's) also hosts the models it
   dropped wherever memory is left over.
   :func:`planner.replan.transition.align` keeps as many of each candidate's
   replicas where they already are as a renaming of groups allows. With
   ``trust_windows`` (forecast mode, with the hedge) the forecast must
   earn its candidate: the window and history plans that were solved at
   each of the last ``trust_windows`` windows are scored on what those
   windows really carried, as if in place from their start; while the
   window plans served fewer requests in total, the forecast is
   *distrusted* and the history plan is the only candidate. A forecast
   that keeps missing a moving hot set then stops pulling the placement
   after it, and one that predicts well keeps its say.
4. **Switch, if it pays.** For each candidate,
   :func:`planner.replan.transition.choose_transition` moves to the parts of it
   whose judged gain beats their load time of lost service, and keeps the
   current placement unless the gain exceeds ``min_gain``. The candidate
   with the higher judged attainment wins (ties: fewer blocks switched,
   then the window plan); both are judged on the same traffic.

5. **React, in forecast mode** (``react_after``). A forecast cannot see a
   model that had no traffic turn hot, and a placement that dropped it
   serves none of its requests until the next window. So the re-planner
   watches the window's arrivals as they come: when a model with no
   replica in the serving placement has had ``react_after`` requests (since
   the window's start or the last reaction), it judges, at that request's
   arrival and on a draw of the rest of the window from the forecast with
   that model's rate raised to the rate its requests showed (at most
   :data:`MAX_RATE_JUMP` times the forecast total rate), loading the model
   into each group that can take it, evicting that group's least requested
   models until it fits (:func:`planner.replan.transition.swap_in`), against
   keeping; it makes the best move if it pays. A reaction is one load, not
   a re-plan: the rest of the placement keeps serving. Only arrivals up to
   that instant are read; a model whose move did not pay is not
   reconsidered in that window. With ``nowcast_s`` the draw uses every
   model's rate re-estimated from the window's arrivals so far (the
   forecast weighs as ``nowcast_s`` seconds of them), so a model that
   turned cold is evicted first and one just loaded is kept; with
   ``react_replan`` the reaction also re-solves the placement on that
   draw and may move to the parts of it that pay (one switch that loads
   the whole new hot set, not one load per trigger). With ``react_drift``
   (and ``nowcast_s``) it also checks, every ``nowcast_s`` seconds from
   the window's start, how far the nowcast mix drifted
   (:func:`planner.replan.forecast.drift`) from the mix the serving
   placement was planned or last checked for: past ``react_drift`` it
   re-solves on a draw of the nowcast and moves to the parts that pay, as
   ``react_replan`` does. A placement that hosts every model but gives
   the models that turned hot too few replicas is then rebalanced inside
   the window, not at its end; the nowcast becomes the mix checked against
   whether or not the move paid.

The result is a :class:`planner.domain.TimedPlan` (a step only where the
placement changes), simulated over the whole workload with the real
switching cost, and a per-window record of what was decided, why, and what
each switch cost.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from planner.domain import Placement, TimedPlan, Workload
from planner.placement.options import split_options
from planner.replan.forecast import (
    Forecast,
    drift,
    forecast_window,
    forecast_workload,
)
from planner.replan.options import ReplanOptions, ReplanResult, WindowDecision
from planner.replan.solvecache import SolveCache
from planner.replan.transition import (
    SwitchCost,
    Transition,
    TransitionJudge,
    align,
    choose_transition,
    fill_spare,
    swap_in,
    switch_cost,
)
from planner.sim import Instance, SimOptions, compile_case
from planner.workloads.windows import window_bounds, window_workload

MAX_RATE_JUMP = 10.0
"""A reaction plans on a model rate of at most this many times the
forecast total rate: a few near-simultaneous requests do not make the
planning draw explode."""

Progress = Callable[[float, str], None]
FloatArray = npt.NDArray[np.float64]


def window_rates(workload: Workload) -> FloatArray:
    """Per model (in ``model_names`` order) requests per second of ``workload``."""
    counts = np.bincount(workload.model_ids, minlength=len(workload.model_names))
    return counts.astype(np.float64) / workload.duration_s


def check_windows(workload: Workload, window_s: float) -> tuple[FloatArray, FloatArray]:
    """``(starts_s, ends_s)`` of the windows; ValueError naming ``window_s``
    when one window would be longer than the workload."""
    if window_s > workload.duration_s:
        raise ValueError(
            f"window_s: {window_s} s is longer than the workload ({workload.duration_s} s)"
        )
    return window_bounds(workload.duration_s, window_s)


@dataclass(frozen=True, eq=False)
class _Inputs:
    """What the re-planner knows at the start of a window: traffic to plan
    the window plan on, traffic to judge switches on, the expected
    per-model rates, and the end (s) of the actual traffic it may read."""

    planning: Workload
    judging: Workload
    rates_rps: FloatArray
    observed_s: float
    forecast: Forecast | None = None


class _Replanner:
    def __init__(
        self,
        instance: Instance,
        options: ReplanOptions,
        cache: SolveCache,
        progress: Progress | None,
    ) -> None:
        self.instance = instance
        self.options = options
        self.cache = cache
        self.progress = progress
        self.starts, self.ends = check_windows(instance.workload, options.window_s)
        sim = instance.options
        self.judge_options = SimOptions(max_batch=sim.max_batch, policy=sim.policy)
        # the windows' plans are judged by the simulator, never by the
        # certified bound: skip it unless the caller asks for it
        self.solve_sim, self.solve_options = split_options(
            {"max_batch": sim.max_batch, "certify": False, **options.solver_options}
        )
        self.judge_simulations = 0
        self.timed_out = False
        self.window_edges: dict[int, float] = {}

    def on(self, workload: Workload, options: SimOptions) -> Instance:
        """The instance's cluster and models with another workload and options."""
        return dataclasses.replace(self.instance, workload=workload, options=options)

    def solve(self, planning: Workload) -> Placement:
        result = self.cache.solve(
            self.on(planning, self.solve_sim),
            solver=self.options.solver,
            time_limit_s=self.options.time_limit_s,
            options=self.solve_options,
        )
        self.timed_out |= result.status == "timeout"
        return result.placement

    def inputs(self, k: int) -> _Inputs:
        options = self.options
        start_s = float(self.starts[k])
        end_s = float(self.ends[min(k + options.horizon_windows, len(self.ends)) - 1])
        if options.information == "oracle":
            actual = window_workload(self.instance.workload, start_s, end_s)
            return _Inputs(actual, actual, window_rates(actual), end_s)
        forecast = forecast_window(
            options.forecaster, self.instance.workload, options.window_s, k, options.forecast_floor
        )
        planned = forecast.scaled(1 + options.headroom)
        return _Inputs(
            forecast_workload(
                planned, end_s - start_s, np.random.default_rng([options.seed, k, 0])
            ),
            forecast_workload(
                planned, end_s - start_s, np.random.default_rng([options.seed, k, 1])
            ),
            forecast.rates_rps,
            start_s,
            forecast,
        )

    def run(self) -> ReplanResult:
        started = time.monotonic()
        solves_before = self.cache.solves + self.cache.hits
        first = window_workload(self.instance.workload, float(self.starts[0]), float(self.ends[0]))
        current = self.filled(self.solve(first), window_rates(first))
        steps: list[tuple[float, Placement]] = [(0.0, current)]
        planned_for = window_rates(first)
        decisions = [
            WindowDecision(0, 0.0, "bootstrap", "window 0 planned on its own traffic", True)
        ]
        count = len(self.starts)
        for k in range(1, count):
            inputs = self.inputs(k)
            decision, placement, mix = self.decide(k, current, planned_for, inputs)
            made = [(decision, placement)]
            reacts = self.options.react_after or self.options.react_drift
            if inputs.forecast is not None and reacts:
                made += self.react(
                    k, placement, inputs.forecast, planned_for if mix is None else mix
                )
            for step_decision, serving in made:
                decisions.append(step_decision)
                if step_decision.action == "switch":
                    # a reaction at the window's first instant replaces its step
                    if steps[-1][0] == step_decision.start_s:
                        steps.pop()
                    steps.append((step_decision.start_s, serving))
                    current = serving
            if mix is not None:
                planned_for = mix
            if self.progress is not None:
                self.progress(k / count, f"window {k + 1}/{count}: {decision.reason}")
        plan = TimedPlan(tuple(steps))
        result = compile_case(self.instance).run(plan)
        return ReplanResult(
            plan=plan,
            instance=self.instance,
            options=self.options,
            windows=tuple(decisions),
            result=result,
            status="timeout" if self.timed_out else "heuristic",
            wall_s=time.monotonic() - started,
            solves=self.cache.solves + self.cache.hits - solves_before,
            judge_simulations=self.judge_simulations,
        )

    def decide(
        self, k: int, current: Placement, planned_for: FloatArray, inputs: _Inputs
    ) -> tuple[WindowDecision, Placement, FloatArray | None]:
        """The decision at window ``k``, the placement to serve it, and the
        traffic mix the serving placement is now known to suit (None:
        unchanged)."""
        options = self.options
        start_s = float(self.starts[k])
        judge = TransitionJudge(self.on(inputs.judging, self.judge_options))
        changed = drift(planned_for, inputs.rates_rps)
        keep = judge.attainment(current, current)
        if options.trigger == "periodic":
            reason = "periodic re-plan"
        elif changed > options.drift_threshold:
            reason = f"traffic drifted by {changed:.3g} > {options.drift_threshold:g}"
        elif keep < options.trigger_attainment:
            reason = f"judged attainment {keep:.4f} < {options.trigger_attainment:g}"
        else:
            self.judge_simulations += judge.simulations
            return (
                WindowDecision(
                    k, start_s, "keep", "traffic stable", False, changed, keep_attainment=keep
                ),
                current,
                None,
            )
        weights = dict(
            zip(self.instance.workload.model_names, map(float, inputs.rates_rps), strict=True)
        )
        plans = self.candidates(inputs)
        edge = self.forecast_edge(k)
        if edge < 0:
            del plans["window"]
            reason += f"; forecast distrusted (its plans served {-edge:.0f} fewer requests)"
        judged: dict[Placement, tuple[str, Transition]] = {}
        for name, solved in plans.items():
            target = align(current, solved, weights)
            if target not in judged:
                judged[target] = name, choose_transition(judge, current, target, options.min_gain)
        self.judge_simulations += judge.simulations
        # max keeps the first of equals: the window plan wins full ties
        candidate, transition = max(
            judged.values(), key=lambda c: (c[1].attainment, -c[1].switched_blocks)
        )
        action, note, cost = "keep", "moving does not pay", SwitchCost()
        if transition.switched:
            action = "switch"
            note = (
                f"{transition.switched_blocks}/{transition.blocks} blocks"
                f" of the {candidate} plan moved"
            )
            cost = switch_cost(
                self.instance.cluster, self.instance.models, current, transition.placement
            )
        decision = WindowDecision(
            window=k,
            start_s=start_s,
            action=action,
            reason=f"{reason}; {note}",
            solved=True,
            drift=changed,
            keep_attainment=transition.keep_attainment,
            switch_attainment=transition.attainment,
            target_attainment=transition.target_attainment,
            candidate=candidate,
            cost=cost,
        )
        return decision, transition.placement, inputs.rates_rps

    def react(
        self, k: int, current: Placement, forecast: Forecast, mix: FloatArray
    ) -> list[tuple[WindowDecision, Placement]]:
        """Reactions inside window ``k`` (module docstring, step 5), each
        with the placement that serves after it; ``mix`` is the per-model
        rates (requests/s) the serving placement was planned or judged for."""
        options = self.options
        names = self.instance.workload.model_names
        arrivals = self.instance.workload.arrivals_s
        end_s = float(self.ends[k])
        first = int(np.searchsorted(arrivals, self.starts[k], side="left"))
        checked_s = float(self.starts[k])
        limit_rps = MAX_RATE_JUMP * max(
            forecast.total_rate_rps, options.react_after / options.window_s
        )
        ignored: set[int] = set()
        reactions: list[tuple[WindowDecision, Placement]] = []
        while True:
            trigger = self.unserved(first, end_s, current, ignored)
            until_s = end_s if trigger is None else float(arrivals[trigger[0]])
            shift = self.drifted(k, forecast, mix, checked_s, until_s)
            if shift is not None:
                at_s, at, rates, changed = shift
                decision, best = self.reaction(
                    k, current, forecast, (at_s, at), rates, [], self.drift_reason(changed)
                )
                mix = rates
            elif trigger is not None:
                at, model, rate_rps = trigger
                at_s = float(arrivals[at])
                rates = self.nowcast(forecast, k, at)
                rates[model] = max(rates[model], min(rate_rps, limit_rps))
                weights = dict(zip(names, map(float, rates), strict=True))
                moves = [
                    (self.swap_note(current, g, swapped), swapped)
                    for g, swapped in swap_in(
                        self.instance.cluster, self.instance.models, current, names[model], weights
                    )
                ]
                reason = f"{names[model]} had {options.react_after} requests and no replica"
                decision, best = self.reaction(
                    k, current, forecast, (at_s, at), rates, moves, reason
                )
                if names[model] not in best.model_names:
                    ignored.add(model)
            else:
                return reactions
            reactions.append((decision, best))
            current, first, checked_s = best, at + 1, at_s

    def reaction(
        self,
        k: int,
        current: Placement,
        forecast: Forecast,
        when: tuple[float, int],
        rates: FloatArray,
        moves: list[tuple[str, Placement]],
        reason: str,
    ) -> tuple[WindowDecision, Placement]:
        """One reaction in window ``k`` at ``when`` (seconds, and the index
        of the last request read): judged on a draw of the rest of the
        window at ``rates`` (requests/s, per model), the best of keeping,
        ``moves`` (note, placement) and, with ``react_replan`` or when the
        mix drifted (no ``moves``), the parts of a re-solve that pay."""
        options = self.options
        names = self.instance.workload.model_names
        at_s, at = when
        end_s = float(self.ends[k])
        planned = Forecast(k, names, rates, forecast.cvs).scaled(1 + options.headroom)
        judging = forecast_workload(
            planned, end_s - at_s, np.random.default_rng([options.seed, k, at])
        )
        judge = TransitionJudge(self.on(judging, self.judge_options))
        weights = dict(zip(names, map(float, rates), strict=True))
        moves = list(moves)
        if options.react_replan or not moves:
            planning = forecast_workload(
                planned, end_s - at_s, np.random.default_rng([options.seed, k, at, 1])
            )
            target = align(current, self.solve(planning), weights)
            moved_to = choose_transition(judge, current, target, options.min_gain)
            if moved_to.switched:
                note = f"{moved_to.switched_blocks}/{moved_to.blocks} blocks re-planned"
                moves.append((f"{note} on the window's traffic so far", moved_to.placement))
        keep = judge.attainment(current, current)
        best, best_score, note = current, keep, "moving does not pay"
        for move_note, placement in moves:
            score = judge.attainment(current, placement)
            if score > max(best_score, keep + options.min_gain):
                best, best_score, note = placement, score, move_note
        self.judge_simulations += judge.simulations
        moved = best != current
        decision = WindowDecision(
            window=k,
            start_s=at_s,
            action="switch" if moved else "keep",
            reason=f"{reason}; {note}",
            solved=options.react_replan or not moves,
            keep_attainment=keep,
            switch_attainment=best_score,
            cost=switch_cost(self.instance.cluster, self.instance.models, current, best)
            if moved
            else SwitchCost(),
        )
        return decision, best

    def drifted(
        self, k: int, forecast: Forecast, mix: FloatArray, after_s: float, until_s: float
    ) -> tuple[float, int, FloatArray, float] | None:
        """With ``react_drift``: the first check (every ``nowcast_s`` from
        window ``k``'s start) in ``(after_s, until_s)`` at which the nowcast
        drifted from ``mix`` by more than ``react_drift``, as ``(check time
        (s), index of the last request before it, the nowcast rates, the
        drift)``; None when none does."""
        options = self.options
        if not options.react_drift:
            return None
        start_s = float(self.starts[k])
        step = int((after_s - start_s) / options.nowcast_s) + 1
        while (check_s := start_s + step * options.nowcast_s) < until_s:
            seen = self.nowcast_at(k, forecast, mix, check_s)
            if seen is not None and seen[2] > options.react_drift:
                return (check_s, *seen)
            step += 1
        return None

    def drift_reason(self, changed: float) -> str:
        return f"the mix drifted by {changed:.3g} > {self.options.react_drift:g} since planned"

    def nowcast_at(
        self, k: int, forecast: Forecast, mix: FloatArray, check_s: float
    ) -> tuple[int, FloatArray, float] | None:
        """At ``check_s`` in window ``k``: the index of the last request
        before it, the nowcast rates and their drift from ``mix``; None when
        no request of the window arrived before it."""
        arrivals = self.instance.workload.arrivals_s
        at = int(np.searchsorted(arrivals, check_s, side="left")) - 1
        if at < int(np.searchsorted(arrivals, self.starts[k], side="left")):
            return None
        rates = self.nowcast(forecast, k, at)
        return at, rates, drift(mix, rates)

    def candidates(self, inputs: _Inputs) -> dict[str, Placement]:
        """The window plan and, with ``hedge``, the history plan of
        :meth:`inputs`, each with spare memory filled (step 3)."""
        plans = {"window": inputs.planning}
        if self.options.hedge:
            plans["history"] = window_workload(self.instance.workload, 0.0, inputs.observed_s)
        return {
            name: self.filled(self.solve(planning), inputs.rates_rps)
            for name, planning in plans.items()
        }

    def forecast_edge(self, k: int) -> float:
        """Requests the window plans of windows ``k - trust_windows .. k -
        1`` (from 1) served beyond the history plans of the same windows,
        each pair in place from its window's start and scored on that
        window's actual arrivals; 0 without ``trust_windows``. Reads only
        arrivals before window ``k``."""
        return sum(self.window_edge(j) for j in range(max(1, k - self.options.trust_windows), k))

    def window_edge(self, j: int) -> float:
        """Requests window ``j``'s window plan served beyond its history
        plan on window ``j``'s actual arrivals (both in place from its
        start); scored once per window, then remembered."""
        if j not in self.window_edges:
            plans = self.candidates(self.inputs(j))
            actual = window_workload(
                self.instance.workload, float(self.starts[j]), float(self.ends[j])
            )
            case = compile_case(self.on(actual, self.judge_options))
            served = {name: case.attainment(p) * actual.model_ids.size for name, p in plans.items()}
            self.judge_simulations += 2
            self.window_edges[j] = served["window"] - served["history"]
        return self.window_edges[j]

    def filled(self, placement: Placement, rates_rps: FloatArray) -> Placement:
        """With ``fill_spare``: ``placement`` with the models it drops
        added where memory is spare (:func:`planner.replan.transition.fill_spare`,
        by ``rates_rps``); else ``placement``."""
        if not self.options.fill_spare:
            return placement
        names = self.instance.workload.model_names
        weights = dict(zip(names, map(float, rates_rps), strict=True))
        return fill_spare(self.instance.cluster, self.instance.models, placement, weights)

    @staticmethod
    def swap_note(current: Placement, g: int, swapped: Placement) -> str:
        """Says which group a swap loads into and what it evicts."""
        evicted = sorted(set(current.groups[g].models) - set(swapped.groups[g].models))
        return f"loaded into group {g}" + (f" in place of {', '.join(evicted)}" if evicted else "")

    def nowcast(self, forecast: Forecast, k: int, at: int) -> FloatArray:
        """Every model's rate (requests/s) for the rest of window ``k`` as
        known at request index ``at``: the forecast, or with ``nowcast_s``
        the window's requests so far (up to and including ``at``) with the
        forecast worth ``nowcast_s`` seconds of observation."""
        rates = forecast.rates_rps.copy()
        prior_s = self.options.nowcast_s
        if not prior_s:
            return rates
        workload = self.instance.workload
        first = int(np.searchsorted(workload.arrivals_s, self.starts[k], side="left"))
        seen = np.bincount(workload.model_ids[first : at + 1], minlength=rates.size)
        elapsed_s = float(workload.arrivals_s[at] - self.starts[k])
        return (seen + rates * prior_s) / (elapsed_s + prior_s)

    def unserved(
        self, first: int, end_s: float, current: Placement, ignored: set[int]
    ) -> tuple[int, int, float] | None:
        """From request index ``first`` until ``end_s``: the first request
        that makes a model with no replica in ``current`` (and not in
        ``ignored``) reach ``react_after`` requests, as ``(request index,
        model index, the model's rate over those requests in requests/s)``;
        None when no model does."""
        needed = self.options.react_after
        if not needed:
            return None
        arrivals = self.instance.workload.arrivals_s
        stop = int(np.searchsorted(arrivals, end_s, side="left"))
        ids = self.instance.workload.model_ids[first:stop]
        hosted = current.model_names
        found: tuple[int, int, float] | None = None
        for model, name in enumerate(self.instance.workload.model_names):
            if name in hosted or model in ignored:
                continue
            mine = np.flatnonzero(ids == model)
            if mine.size < needed or (found is not None and first + mine[needed - 1] >= found[0]):
                continue
            times = arrivals[first + mine[:needed]]
            span_s = max(float(times[-1] - times[0]), 1e-9)
            found = (first + int(mine[needed - 1]), model, (needed - 1) / span_s)
        return found


@dataclass(frozen=True, eq=False)
class WindowChoice:
    """One window's decision (steps 1-4 of the module docstring), the
    placement that serves the window, the traffic the switch was judged on
    and, in forecast mode, the forecast."""

    decision: WindowDecision
    placement: Placement
    judging: Workload
    forecast: Forecast | None


def decide_window(
    instance: Instance,
    options: ReplanOptions,
    window: int,
    current: Placement,
    planned_for: FloatArray,
    *,
    cache: SolveCache | None = None,
) -> WindowChoice:
    """The decision at the start of window ``window`` (>= 1) of the
    instance's workload when ``current`` serves and was planned for the
    per-model rates ``planned_for`` (requests/s): one step of
    :func:`replan`, without reactions. In forecast mode only arrivals before
    the window's start are read, so the live re-planner
    (:mod:`planner.replan.live`) asks it with the window still empty."""
    replanner = _Replanner(instance, options, cache or SolveCache(), None)
    if not 1 <= window < len(replanner.starts):
        raise ValueError(f"window: must be in 1..{len(replanner.starts) - 1}, got {window}")
    inputs = replanner.inputs(window)
    decision, placement, _ = replanner.decide(window, current, planned_for, inputs)
    return WindowChoice(decision, placement, inputs.judging, inputs.forecast)


@dataclass(frozen=True, eq=False)
class DriftCheck:
    """One check of the mix inside a window (module docstring, step 5): the
    nowcast rates (requests/s per model), their drift from the mix checked
    against and, past ``react_drift``, the reaction's decision (else None)
    with the placement that serves after the check."""

    rates_rps: FloatArray
    drift: float
    decision: WindowDecision | None
    placement: Placement


def check_drift(
    instance: Instance,
    options: ReplanOptions,
    window: int,
    current: Placement,
    mix: FloatArray | None,
    check_s: float,
    *,
    cache: SolveCache | None = None,
) -> DriftCheck | None:
    """The drift check at ``check_s`` (s, inside window ``window``) of the
    instance's workload when ``current`` serves and was planned or last
    checked for the per-model rates ``mix`` (requests/s; None: the window's
    forecast): one check of :func:`replan`'s watch, read from the arrivals
    before ``check_s`` only, so the live re-planner
    (:mod:`planner.replan.live`) asks it with the window observed up to the
    check. None when no request of the window arrived before ``check_s``.
    Needs forecast mode and ``nowcast_s``."""
    replanner = _Replanner(instance, options, cache or SolveCache(), None)
    if not 1 <= window < len(replanner.starts):
        raise ValueError(f"window: must be in 1..{len(replanner.starts) - 1}, got {window}")
    start_s, end_s = float(replanner.starts[window]), float(replanner.ends[window])
    if not start_s < check_s < end_s:
        raise ValueError(f"check_s: must be inside ({start_s:g}, {end_s:g}), got {check_s!r}")
    forecast = replanner.inputs(window).forecast
    if forecast is None or not options.nowcast_s:
        raise ValueError("nowcast_s: a drift check needs forecast mode and nowcast_s > 0")
    mix = forecast.rates_rps if mix is None else mix
    seen = replanner.nowcast_at(window, forecast, mix, check_s)
    if seen is None:
        return None
    at, rates, changed = seen
    if changed <= options.react_drift:
        return DriftCheck(rates, changed, None, current)
    decision, placement = replanner.reaction(
        window, current, forecast, (check_s, at), rates, [], replanner.drift_reason(changed)
    )
    return DriftCheck(rates, changed, decision, placement)


def replan(
    instance: Instance,
    options: ReplanOptions,
    *,
    cache: SolveCache | None = None,
    progress: Progress | None = None,
) -> ReplanResult:
    """Re-place the instance's models on its cluster window by window over
    its workload (module docstring), scored with its simulator options.
    ``cache`` shares solves between calls; ``progress(fraction, message)``
    is called after every window. Raises ValueError naming ``window_s``
    when a window is longer than the workload, and the errors of
    :func:`planner.placement.solve.solve`."""
    return _Replanner(instance, options, cache or SolveCache(), progress).run()
