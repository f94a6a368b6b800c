"""The best greedy plan within a time budget: the best, by the simulator,
of the default greedy (``greedy_mode`` as given, ``auto`` by default), the
lazy full greedy (``greedy_mode="lazy"``: 4–9 times cheaper than the full
one; in ``bench.solvers`` within 0.25 points of it with 16 and 32
devices, 1.9 points below it on S3 with 4 devices), the full greedy on
the best plan's groups so far (:func:`regroup_greedy`: one partition
instead of the enumeration's) and the full greedy, the full one run only
when its estimated time fits.

``auto`` starts from it (the whole time limit as budget) and so do the
exact solvers (:func:`planner.placement.seeded.seed_run`: the seed's
share of the time), so that they are never below the best greedy that
fits; ``auto`` hands the result it computed to the exact solvers it
probes instead of letting them run the greedy again.
"""

from __future__ import annotations

import contextlib
import dataclasses
import time
from collections.abc import Callable
from dataclasses import dataclass

from planner.deadline import Deadline
from planner.placement.enumeration import (
    FULL_GREEDY_PAIRS,
    EnumerationResult,
    enumerate_placements,
)
from planner.placement.greedy import run_greedy
from planner.placement.options import SolveOptions
from planner.placement.scoring import Scorer, layout_placement
from planner.placement.solution import SolveTimeoutError

Progress = Callable[[float, str], None]

FULL_GREEDY_REFERENCE = (64, 4.0)
"""The full greedy's time is estimated as the default greedy's measured
time × ``slowdown × (pairs / reference pairs) ** 1.5`` with ``(reference
pairs, slowdown)`` this, pairs being models × devices (measured in
``bench.solvers``: S3, 16 models × 4 devices, the default greedy 0.8 s and
the full one 3.3 s; S1, 64 models × 32 devices, the default greedy
0.15–0.2 s since its blocks are triaged and the full one over 60 s, where
the estimate says 100–130 s). The estimate is rough: measured on the
suite's instances the full greedy took 1.2 to 120 times the default's
time (the default's blocks are triaged, the full greedy's cost grows with
the models × groups it tries per step). ``auto`` stops the full greedy at
:data:`FULL_GREEDY_OVERRUN` times its estimate, so a wrong estimate cannot
take all its time; the exact solvers' seed lets it use the seed's share."""

FULL_GREEDY_OVERRUN = 1.5

FULL_GREEDY_MIN_S = 2.0
"""The least time (s) ``auto`` gives a full greedy it starts (when the
time limit allows): on the mixed set with 8 devices the estimate said
0.6 s, the full greedy needed 0.7 s, and stopped at 1.5 × the estimate
it returned a plan 0.13 points below the one it finds."""

REGROUP_LIMIT_FACTOR = 20.0
"""With a bounded overrun (``auto``) the lazy full greedy and the full
greedy on the best plan's groups together stop after this many times the
default greedy's wall time (at least :data:`REGROUP_MIN_S`; the second
then completes with the fast greedy). Measured in ``bench.solvers`` (idle
machine): the second alone took 10 to 74 times the default's time, and
matched the full greedy's plan on S3 and the mixed set with 16 devices in
2 s where the full greedy took 5.5–8 s."""

REGROUP_MIN_S = 0.5

DEFAULT_SHARE = 0.5
"""Progress fraction reported when the default greedy is done."""


def full_greedy_estimate_s(greedy_s: float, num_models: int, num_devices: int) -> float:
    """Estimated wall time (s) of the full greedy on an instance where the
    default greedy took ``greedy_s`` (:data:`FULL_GREEDY_REFERENCE`)."""
    pairs, slowdown = FULL_GREEDY_REFERENCE
    return greedy_s * slowdown * (num_models * num_devices / pairs) ** 1.5


@dataclass(frozen=True)
class BestGreedy:
    """The best greedy plan (``result``) found by ``mode`` (``"full"``,
    ``"lazy"``, ``"regroup"`` or the default's ``greedy_mode``), the runs
    made (``ran``: ``"greedy"``, ``"greedy-lazy"``, ``"greedy-regroup"``,
    ``"greedy-full"``), the default greedy's plan and wall time (s), the
    total wall time (s), and one log line saying which plan won and why."""

    result: EnumerationResult
    mode: str
    ran: tuple[str, ...]
    default: EnumerationResult
    default_s: float
    wall_s: float
    why: str


def progress_stage(progress: Progress | None, low: float, high: float) -> Progress | None:
    """Progress of one stage of a longer solve, reported into ``[low, high]``."""
    if progress is None:
        return None
    return lambda fraction, message: progress(low + (high - low) * fraction, message)


def _better(chosen: BestGreedy, found: EnumerationResult, mode: str) -> BestGreedy:
    """``chosen`` with ``found`` (by ``mode``) as its plan when it serves more."""
    if int(found.served.sum()) > int(chosen.result.served.sum()):
        return dataclasses.replace(chosen, result=found, mode=mode)
    return chosen


def regroup_greedy(
    scorer: Scorer, options: SolveOptions, plan: EnumerationResult, deadline: Deadline
) -> EnumerationResult:
    """The full greedy from empty groups with the configs and devices of
    ``plan``, every model offered to every group where it fits
    (the enumeration offers a model only to its bucket's groups). When
    ``deadline`` passes it completes the replicas placed so far with the
    fast greedy, so it always returns a whole plan (``timed_out`` then)."""
    configs = plan.layout.configs
    full = run_greedy(
        scorer,
        configs,
        mode="full",
        beam_width=options.beam_width,
        top_models=options.top_models,
        deadline=deadline,
    )
    found = full
    if full.timed_out:  # the fast greedy costs about the default's time, already spent
        found = run_greedy(scorer, configs, mode="fast", start=full.layout)
    devices = [group.devices for group in plan.placement.groups]
    return dataclasses.replace(
        plan,
        placement=layout_placement(found.layout, devices, scorer.instance.models),
        layout=found.layout,
        served=found.served,
        timed_out=full.timed_out,
        log=(
            *plan.log,
            f"regroup: the full greedy on the plan's {len(configs)} groups "
            f"{'stopped at its limit after ' if full.timed_out else 'made '}"
            f"{full.additions} additions",
        ),
    )


def best_greedy(
    scorer: Scorer,
    options: SolveOptions,
    deadline: Deadline,
    progress: Progress | None = None,
    *,
    enough: float = 1.0,
    overrun: float | None = FULL_GREEDY_OVERRUN,
    refine: bool = True,
) -> BestGreedy:
    """The default greedy, then, when ``greedy_mode`` is ``auto``, the
    instance has more than :data:`FULL_GREEDY_PAIRS` models × devices (below
    that the default is the full greedy) and the best plan so far is below
    ``enough`` (``auto`` passes the certified bound less its tolerance):
    the lazy full greedy and :func:`regroup_greedy` on the better plan
    (unless ``refine`` is false), then the full greedy if
    :func:`full_greedy_estimate_s` fits before ``deadline``. With
    ``overrun`` the lazy and regroup steps stop at
    :data:`REGROUP_LIMIT_FACTOR` times the default's time and the full
    greedy at ``overrun`` times its estimate (at least
    :data:`FULL_GREEDY_MIN_S`); with None all stop at ``deadline`` (the
    full greedy keeps the best candidate solved by then). Raises
    :class:`SolveTimeoutError` when the default greedy finds no placement
    in time; a lazy or full greedy that finds none is ignored."""
    start = time.monotonic()
    default = enumerate_placements(
        scorer, options, deadline=deadline, progress=progress_stage(progress, 0.0, DEFAULT_SHARE)
    )
    default_s = time.monotonic() - start
    chosen = BestGreedy(
        default, options.greedy_mode, ("greedy",), default, default_s, default_s, why=""
    )
    attained = scorer.attainment(default.served)
    models, devices = scorer.num_models, scorer.instance.cluster.num_devices
    if options.greedy_mode != "auto":
        return dataclasses.replace(chosen, why=f"greedy {options.greedy_mode}: as asked")
    if models * devices <= FULL_GREEDY_PAIRS:
        return dataclasses.replace(chosen, why="greedy auto: the full greedy on this size")
    if attained >= enough:
        return dataclasses.replace(
            chosen, why=f"greedy auto {attained:.4f}: within tolerance of the bound"
        )
    seen = f"default {attained:.4f}"
    if refine:
        limit = (
            deadline.remaining_s()
            if overrun is None
            else max(REGROUP_MIN_S, REGROUP_LIMIT_FACTOR * default_s)
        )
        within = Deadline.after(min(limit, deadline.remaining_s()))
        if progress is not None:
            progress(DEFAULT_SHARE, "greedy: the lazy full greedy")
        lazy_options = dataclasses.replace(options, greedy_mode="lazy")
        with contextlib.suppress(SolveTimeoutError):  # no whole plan in time: skipped
            lazy = enumerate_placements(scorer, lazy_options, deadline=within)
            seen += f", lazy {scorer.attainment(lazy.served):.4f}"
            chosen = _better(chosen, lazy, "lazy")
        if progress is not None:
            progress(DEFAULT_SHARE, "greedy: the full greedy on the best plan's groups")
        regrouped = regroup_greedy(scorer, options, chosen.result, within)
        chosen = _better(chosen, regrouped, "regroup")
        chosen = dataclasses.replace(
            chosen, ran=("greedy", "greedy-lazy", "greedy-regroup"), wall_s=time.monotonic() - start
        )
        seen += f", regroup {scorer.attainment(regrouped.served):.4f}"
        if scorer.attainment(chosen.result.served) >= enough:
            return dataclasses.replace(
                chosen, why=f"greedy {chosen.mode} ({seen}): within tolerance of the bound"
            )
    estimate_s = full_greedy_estimate_s(default_s, models, devices)
    if estimate_s > deadline.remaining_s():
        return dataclasses.replace(
            chosen,
            why=f"greedy {chosen.mode} ({seen}): the full greedy's estimated {estimate_s:.1f} s "
            f"is more than the {deadline.remaining_s():.1f} s left",
        )
    limit_s = (
        deadline.remaining_s() if overrun is None else max(FULL_GREEDY_MIN_S, overrun * estimate_s)
    )
    within = Deadline.after(min(limit_s, deadline.remaining_s()))
    full_options = dataclasses.replace(options, greedy_mode="full")
    ran = (*chosen.ran, "greedy-full")
    try:
        full = enumerate_placements(
            scorer,
            full_options,
            deadline=within,
            progress=progress_stage(progress, DEFAULT_SHARE, 1.0),
        )
    except SolveTimeoutError:
        return dataclasses.replace(
            chosen,
            ran=ran,
            wall_s=time.monotonic() - start,
            why=f"greedy {chosen.mode} ({seen}): the full greedy (estimated {estimate_s:.1f} s) "
            "found no plan in time",
        )
    full_attained = scorer.attainment(full.served)
    chosen = _better(chosen, full, "full")
    return dataclasses.replace(
        chosen,
        ran=ran,
        wall_s=time.monotonic() - start,
        why=f"greedy {chosen.mode}: full greedy (estimated "
        f"{estimate_s:.1f} s{', stopped at its limit' if full.timed_out else ''}) "
        f"{full_attained:.4f}, {seen}",
    )
