"""Replan jobs: one decision of a cluster's live re-placement, run by the
solve worker on the job queue's lease machinery.

A replan job is a ``plan_jobs`` row of kind ``replan`` with no workload;
``options.window_start`` (unix s) is the start of the window it decides,
``options.at_s`` the seconds into it (0: the window's start; else a drift
check, with the re-planner's ``react_drift``, every ``nowcast_s``) and
``not_before`` that instant, so it is claimed once the instant comes. It
reads the cluster's observed traffic of up to :data:`HISTORY_WINDOWS`
windows before the window's start (a check also the window's bins that
start before its instant, and the mix its window's last decision planned
or checked for), the served plan, the measured load times and the recent
decisions, asks :func:`planner.replan.live.decide_live` (a check:
:func:`planner.replan.live.decide_watch`), and in one transaction (only
while its lease holds) stores the decision (a check only when it
re-solved), the new plan version with its transition when it moved,
finishes, and queues the job of the next check or window. So a worker
that dies mid-window leaves the job to be claimed again when its lease
expires, a late result of the dead worker is dropped, and an instant is
decided at most once (also guarded by the decisions' unique ``(cluster,
window_start, at_s)``). Turning the re-planner off cancels the queued job;
a job that finds it off ends without scheduling another."""

from __future__ import annotations

import dataclasses
import logging
import math
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from planner.codec import decode, encode
from planner.domain import Placement
from planner.replan.live import (
    HISTORY_WINDOWS,
    AppliedSwitch,
    LiveDecision,
    LiveInputs,
    LiveSettings,
    WatchInputs,
    decide_live,
    decide_watch,
)
from store.enums import DecisionAction, JobStatus
from store.models import Cluster, Plan, PlanJob, ReplanDecision, TrafficBin
from store.repositories import catalog, jobs, loads, plans, replanner, traffic
from store.repositories.jobs import Lease

log = logging.getLogger(__name__)

JOB_MARGIN_S = 60.0
"""A replan job's time limit past its solves' (s)."""


def live_settings(values: Mapping[str, Any]) -> LiveSettings:
    """The planner's settings from a cluster's stored ones (ValueError
    naming the field)."""
    return LiveSettings(
        window_s=float(values["window_s"]),
        forecaster=str(values["forecaster"]),
        min_gain=float(values["min_gain"]),
        max_switches_per_hour=int(values["max_switches_per_hour"]),
        revert_margin=float(values["revert_margin"]),
        trust_windows=int(values["trust_windows"]),
        react_drift=float(values["react_drift"]),
        nowcast_s=float(values["nowcast_s"]),
    )


def job_time_limit_s(settings: LiveSettings) -> float:
    """A replan job's limit: two solves (window and history plans) for the
    decided window and for each trusted window before it (``trust_windows``),
    and the judging, with a margin."""
    return (2 * (1 + settings.trust_windows) + 1) * settings.time_limit_s + JOB_MARGIN_S


def next_window_start(now_s: float, window_s: int) -> int:
    """The first window boundary (a multiple of ``window_s``, unix s) after ``now_s``."""
    return (math.floor(now_s) // window_s + 1) * window_s


def next_decision(
    window_start: int, at_s: int, settings: LiveSettings, now_s: float
) -> tuple[int, int]:
    """After the decision ``at_s`` seconds into the window from
    ``window_start``: the next one's ``(window start, seconds into it)``.
    That is the window's next drift check, else the next window's start;
    of those already due at ``now_s`` (a worker that fell behind), only
    the last, and the current window's start once a whole window passed."""
    window_s = int(settings.window_s)
    current = math.floor(now_s) // window_s * window_s
    if current > window_start + window_s:
        return current, 0
    instants = [(window_start, int(o)) for o in settings.check_offsets_s() if o > at_s]
    instants.append((window_start + window_s, 0))
    due = [instant for instant in instants if sum(instant) <= now_s]
    return due[-1] if due else instants[0]


def ensure_scheduled(
    session: Session, cluster_id: int, values: Mapping[str, Any], now_s: float
) -> PlanJob | None:
    """Queue the job of the next window when the re-planner is on and none
    is queued or running; the new job, or None."""
    if not values["enabled"]:
        return None
    window_s = int(values["window_s"])
    return replanner.schedule(
        session,
        cluster_id,
        next_window_start(now_s, window_s),
        job_time_limit_s(live_settings(values)),
    )


@dataclass(frozen=True)
class ReplanInputs:
    """What a replan job decides with. ``live`` is None when there is
    nothing to decide, and ``skip`` says why."""

    job_id: int
    cluster_id: int
    window_start: int
    values: Mapping[str, Any]
    time_limit_s: float
    at_s: int = 0
    live: LiveInputs | None = None
    so_far: Mapping[str, int] | None = None
    mix: Mapping[str, float] | None = None
    skip: str = ""
    from_version: int | None = None
    from_plan_id: int | None = None
    revert_plan_ids: Mapping[Placement, int] = dataclasses.field(default_factory=dict)

    @property
    def settings(self) -> LiveSettings:
        return live_settings(self.values)


def _history_windows(session: Session, cluster_id: int, window_start: int, window_s: int) -> int:
    """Windows from the earliest bin within :data:`HISTORY_WINDOWS` windows
    before ``window_start`` (at least 1)."""
    earliest = session.scalar(
        select(func.min(TrafficBin.start_s)).where(
            TrafficBin.cluster_id == cluster_id,
            TrafficBin.start_s >= window_start - HISTORY_WINDOWS * window_s,
            TrafficBin.start_s < window_start,
        )
    )
    if earliest is None:
        return 1
    return max(1, min(HISTORY_WINDOWS, math.ceil((window_start - earliest) / window_s)))


def load_inputs(session: Session, job: PlanJob) -> ReplanInputs:
    """The job's inputs; a reason to skip instead when the re-planner is
    off, the cluster serves no plan, the instant is already decided (a
    check: its window was not decided at its start, the watch is off, or
    the settings changed so that it is no check instant) or the stored rows
    do not make a decision's inputs."""
    cluster_id, window_start = job.cluster_id, replanner.window_start_of(job)
    at_s = replanner.at_of(job)
    values = replanner.settings_of(session, cluster_id)
    base = ReplanInputs(job.id, cluster_id, window_start, values, job.time_limit_s, at_s)
    active = plans.active_plan(session, cluster_id)
    if not values["enabled"]:
        return _skip(base, "the re-planner is off")
    if active is None:
        return _skip(base, "the cluster serves no plan")
    if replanner.decision_for(session, cluster_id, window_start, at_s) is not None:
        return _skip(base, f"window {window_start} is already decided at {at_s} s")
    if at_s and not values["react_drift"]:
        return _skip(base, "the watch is off (react_drift 0)")
    if at_s and at_s not in base.settings.check_offsets_s():
        return _skip(base, f"{at_s} s is not a check instant of the settings (changed since)")
    if at_s and replanner.decision_for(session, cluster_id, window_start) is None:
        return _skip(base, f"window {window_start} was not decided at its start")
    try:
        return _inputs(session, base, active.version, active.plan)
    except ValueError as error:  # stored rows that make no inputs: logged with the traceback
        log.warning("cluster %d: skipping a decision: %s", cluster_id, error, exc_info=True)
        return _skip(base, f"cannot load the inputs: {error}")


def _skip(base: ReplanInputs, reason: str) -> ReplanInputs:
    return dataclasses.replace(base, skip=reason)


def _inputs(session: Session, base: ReplanInputs, version: int, plan: Plan) -> ReplanInputs:
    window_s = int(base.values["window_s"])
    cluster_id, start = base.cluster_id, base.window_start
    n = _history_windows(session, cluster_id, start, window_s)
    observed = traffic.window_counts(session, cluster_id, start - n * window_s, window_s, n)
    so_far = _requests_in(session, cluster_id, start, base.at_s) if base.at_s else {}
    rows = catalog.models_named(session, [*plan.models, *observed, *so_far])
    missing = sorted(set(plan.models) - set(rows))
    if missing:
        raise ValueError(f"models: the served plan's {', '.join(missing)} left the catalog")
    names = sorted(rows)
    specs = tuple(catalog.model_values(session, [rows[name] for name in names]))
    current = decode(Placement, plan.placement, "placement")
    measured = loads.latest_seconds(session, cluster_id)
    switches: tuple[AppliedSwitch, ...] = ()
    revert_plan_ids: dict[Placement, int] = {}
    if not base.at_s:
        switches, revert_plan_ids = _window_switches(session, base, version, current)
    live = LiveInputs(
        cluster=catalog.cluster_value(session.get_one(Cluster, cluster_id)),
        models=specs,
        current=current,
        counts={name: observed.get(name, [0] * n) for name in names},
        load_s={name: seconds for name, seconds in measured.items() if name in rows},
        switches_last_hour=replanner.moves_since(session, cluster_id, start + base.at_s - 3600),
        window_switches=switches,
    )
    if not base.at_s:
        return dataclasses.replace(
            base,
            live=live,
            from_version=version,
            from_plan_id=plan.id,
            revert_plan_ids=revert_plan_ids,
        )
    latest = replanner.latest_in_window(session, cluster_id, start)
    mix = dict(latest.forecast_rps) if latest is not None and latest.forecast_rps else None
    return dataclasses.replace(
        base, live=live, so_far=so_far, mix=mix, from_version=version, from_plan_id=plan.id
    )


def _window_switches(
    session: Session, base: ReplanInputs, version: int, current: Placement
) -> tuple[tuple[AppliedSwitch, ...], dict[Placement, int]]:
    """For a window's start: the switches applied in the window before, in
    order, that led to the served version (the last run of switches, back
    to a revert or a break in the chain; those at drift checks with the
    requests after them), and the plan id of each one's ``before``; empty
    when the served version is not the last applied switch's."""
    window_s = int(base.values["window_s"])
    previous_start = base.window_start - window_s
    applied = replanner.applied_in_window(session, base.cluster_id, previous_start)
    chain: list[tuple[ReplanDecision, int]] = []  # each with the id of the plan it left
    leads_to: int | None = version
    for decision in reversed(applied):
        left = decision.from_plan_id
        if decision.action != DecisionAction.SWITCH or decision.version != leads_to or left is None:
            break
        chain.insert(0, (decision, left))
        leads_to = decision.from_version
    if not chain:
        return (), {}
    # each switch led to the version the next one left: its after is the next one's before
    befores = [_placement_of(session, left) for _, left in chain]
    switches: list[AppliedSwitch] = []
    for (decision, _), before, after in zip(chain, befores, [*befores[1:], current], strict=True):
        after_counts = None
        if decision.at_s:  # a switch at a drift check: the window's requests after it
            since = previous_start + decision.at_s
            after_counts = _requests_in(session, base.cluster_id, since, window_s - decision.at_s)
        switches.append(AppliedSwitch(before, after, decision.at_s, after_counts))
    revert_plan_ids = {before: left for (_, left), before in zip(chain, befores, strict=True)}
    return tuple(switches), revert_plan_ids


def _placement_of(session: Session, plan_id: int) -> Placement:
    return decode(Placement, session.get_one(Plan, plan_id).placement, "placement")


def _requests_in(session: Session, cluster_id: int, since_s: int, span_s: int) -> dict[str, int]:
    """Requests per model in the bins that start in ``[since_s, since_s +
    span_s)`` (unix s); only models with a stored bin."""
    counts = traffic.window_counts(session, cluster_id, since_s, span_s, 1)
    return {name: series[0] for name, series in counts.items()}


def decide(inputs: ReplanInputs) -> tuple[LiveDecision | None, str]:
    """The decision to store, or None, and what the job did in words: at a
    window's start always a decision; at a drift check one only when it
    re-solved, else what the check saw; None when the job skips, and
    why."""
    if inputs.live is None:
        return None, f"skipped: {inputs.skip}"
    seed = inputs.window_start + inputs.at_s
    if not inputs.at_s:
        decision = decide_live(inputs.live, inputs.settings, seed=seed)
        return decision, decision.reason
    watch = WatchInputs(inputs.live, inputs.so_far or {}, float(inputs.at_s), inputs.mix)
    outcome = decide_watch(watch, inputs.settings, seed=seed)
    note = (
        outcome.note
        if outcome.decision is not None
        else f"checked at {inputs.at_s} s: {outcome.note}"
    )
    return outcome.decision, note


def _activate(session: Session, inputs: ReplanInputs, decision: LiveDecision) -> tuple[Plan, int]:
    """The plan the decision moves to, activated with its transition; and
    the new version."""
    assert inputs.live is not None
    reverted_to = inputs.revert_plan_ids.get(decision.placement)
    if decision.action == DecisionAction.REVERT and reverted_to is not None:
        plan = session.get_one(Plan, reverted_to)
    else:
        # every model decided over, placed or not, as a solve's plan does: a
        # model the switch leaves out stays known to the router, which then
        # counts its demand, and so to the next decision
        known = catalog.models_named(session, [spec.name for spec in inputs.live.models])
        plan = plans.add_plan(
            session,
            inputs.cluster_id,
            decision.placement,
            plans.model_snapshot(session, [known[name] for name in sorted(known)]),
            solver="replan",
            attainment=decision.candidate_attainment,
        )
    transition = {
        "from_version": inputs.from_version,
        "steps": [encode(step) for step in decision.steps],
    }
    active = plans.activate(session, plan, transition=transition)
    return plan, active.version


def _record(session: Session, inputs: ReplanInputs, decision: LiveDecision) -> ReplanDecision:
    """Store the decision, activating its plan when it moves and the served
    version is still the one it decided from."""
    assert inputs.live is not None
    active = plans.active_plan(session, inputs.cluster_id)
    current_version = active.version if active is not None else None
    chosen = decision.moved and current_version == inputs.from_version
    reason = decision.reason
    if decision.moved and not chosen:
        reason += f"; not applied: version {current_version} was activated meanwhile"
    plan_id, version = None, None
    if chosen:
        plan, version = _activate(session, inputs, decision)
        plan_id = plan.id
    row = ReplanDecision(
        cluster_id=inputs.cluster_id,
        window_start=inputs.window_start,
        at_s=inputs.at_s,
        window_s=int(inputs.values["window_s"]),
        forecaster=str(inputs.values["forecaster"]),
        action=DecisionAction(decision.action),
        chosen=chosen,
        reason=reason,
        forecast_rps=dict(decision.forecast_rps),
        observed=dict(inputs.so_far) if inputs.so_far is not None else inputs.live.last_window(),
        keep_attainment=_finite(decision.keep_attainment),
        candidate_attainment=_finite(decision.candidate_attainment),
        replayed_switch=_finite(decision.replayed_switch),
        replayed_keep=_finite(decision.replayed_keep),
        switch_cost=encode(decision.cost),
        load_s=dict(inputs.live.load_s),
        steps=[encode(step) for step in decision.steps],
        from_version=inputs.from_version,
        from_plan_id=inputs.from_plan_id,
        version=version,
        plan_id=plan_id,
    )
    session.add(row)
    session.flush()
    return row


def _finite(value: float | None) -> float | None:
    return value if value is not None and math.isfinite(value) else None


def store(
    session: Session,
    lease: Lease,
    inputs: ReplanInputs,
    decided: tuple[LiveDecision | None, str],
) -> ReplanDecision | None:
    """If ``lease`` still holds the job: record the decision of
    :func:`decide` (unless the instant was decided meanwhile), finish the
    job with its note and queue the next decision's; the decision stored,
    or None."""
    job = jobs.held(session, lease)
    if job is None:
        return None
    if job.cancel_requested:
        jobs.finish(job, JobStatus.CANCELLED)
        return None
    decision, message = decided
    row = None
    stored = replanner.decision_for(session, inputs.cluster_id, inputs.window_start, inputs.at_s)
    if decision is not None and stored is None:
        row = _record(session, inputs, decision)
        at = f" at {inputs.at_s} s" if inputs.at_s else ""
        message = f"{row.action.value}{at}: {row.reason}"
    elif decision is not None:
        message = f"skipped: window {inputs.window_start} is already decided at {inputs.at_s} s"
    jobs.finish(job, JobStatus.SUCCEEDED, message=message)
    schedule_next(session, inputs)
    return row


def schedule_next(session: Session, inputs: ReplanInputs) -> None:
    """Queue the job of the decision after the decided one
    (:func:`next_decision`) if the re-planner is still on."""
    values = replanner.settings_of(session, inputs.cluster_id)
    if not values["enabled"]:
        return
    settings = live_settings(values)
    start, at_s = next_decision(inputs.window_start, inputs.at_s, settings, time.time())
    replanner.schedule(session, inputs.cluster_id, start, job_time_limit_s(settings), at_s)
