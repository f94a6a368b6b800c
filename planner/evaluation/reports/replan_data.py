"""What a re-placement comparison found, as plain frozen values: static
against periodic and forecast-triggered re-placement.

- :class:`CapacityRow`: the largest rate scale a strategy sustains at the
  target attainment on one model set and workload (the experiment's table).
- :class:`StrategyTimeline`: one strategy's attainment window by window,
  with the switches it made and what each cost (:class:`SwitchLoss`).
- :class:`KnobSweep`: capacity relative to static as one knob varies.
- :class:`GoodputRow`: a strategy's goodput on a memory-bound case, with
  the headroom bound and the share of it captured (the experiment's
  goodput table, :mod:`planner.evaluation.goodput`).
- :class:`SeedRow`: one strategy on one memory-bound case over the seeds
  the experiment ran (:mod:`planner.evaluation.seeds`).

Attainments are fractions in [0, 1], times in seconds. JSON forms come from
:mod:`planner.codec`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class CapacityRow:
    """``max_rate``: the largest load at which ``strategy`` kept attainment at
    or above the report's target on ``workload`` with ``model_set``, in
    ``rate_unit`` (``"x"``: a scale of the workload's rates; ``"req/s"``:
    requests per second); None when even ``lowest_rate_tried``, the
    smallest load the search tried, failed (the capacity lies below it,
    which is not 0). ``ratio_to_static`` divides it by the static plan's
    (None without a static row or when either is None). ``switches`` and
    ``lost_replica_s`` (replica-seconds of lost service while loading) are
    those of the run at ``max_rate`` (0 without one). ``note`` says how
    switching was counted. ``case`` names the timelines measured on the
    same traffic with the same runs: the search's run at their rate scale
    is theirs, so the row meets the target at that scale exactly when their
    ``attainment`` does. Empty when the row was measured apart (the
    experiment's own traces)."""

    model_set: str
    workload: str
    strategy: str
    max_rate: float | None
    ratio_to_static: float | None
    switches: int
    lost_replica_s: float
    note: str = ""
    rate_unit: str = "x"
    lowest_rate_tried: float | None = None
    case: str = ""

    def __post_init__(self) -> None:
        if self.max_rate is None and self.lowest_rate_tried is None:
            raise ValueError("lowest_rate_tried: is required when max_rate is None")


@dataclass(frozen=True)
class KnobSweep:
    """Capacity as one knob of the experiment varies (``devices``,
    ``slo_scale``, ``cv``): ``ratio_to_static[strategy][i]`` at
    ``values[i]`` (None where the static plan sustained nothing)."""

    knob: str
    values: tuple[float, ...]
    ratio_to_static: Mapping[str, tuple[float | None, ...]]
    note: str = ""

    def __post_init__(self) -> None:
        for strategy, series in self.ratio_to_static.items():
            if len(series) != len(self.values):
                raise ValueError(
                    f"ratio_to_static.{strategy}: has {len(series)} points for "
                    f"{len(self.values)} values"
                )
        object.__setattr__(self, "ratio_to_static", dict(self.ratio_to_static))


@dataclass(frozen=True)
class GoodputRow:
    """One strategy on one memory-bound case: ``goodput_rps`` (requests
    served within SLO per second) at the trace's rate ``rate_rps`` and its
    ratio ``x_static`` to the static plan's; the best goodput over the rate
    sweep and the rate it fell at (``best_rate_rps``; ``best_at_cap`` when
    that is the sweep's last rate, so goodput may rise further); the
    headroom bound's goodput at the trace's rate (``bound_goodput_rps``),
    ``headroom`` = bound / static and ``share_captured`` = (goodput -
    static) / (bound - static) (None with nothing to capture); the
    measured end of the headroom, ``reached_headroom`` (the best goodput of
    the case's strategies over static) and ``share_of_reached`` (None in
    data written before they were recorded); the switches
    at the trace's rate and their lost replica-seconds; what the strategy
    planned with (``information``) and what its switches cost
    (``switching``), in words."""

    model_set: str
    workload: str
    strategy: str
    information: str
    switching: str
    rate_rps: float
    goodput_rps: float
    x_static: float | None
    best_goodput_rps: float
    best_rate_rps: float
    bound_goodput_rps: float
    headroom: float | None
    share_captured: float | None
    switches: int
    lost_replica_s: float
    best_at_cap: bool = False
    reached_headroom: float | None = None
    share_of_reached: float | None = None


@dataclass(frozen=True)
class SeedRow:
    """One strategy on one memory-bound case over ``seeds`` seeds: the mean
    ratio to the static plan's goodput ``x_static`` with its range
    (``x_static_min``/``_max``), the mean headroom and reached headroom,
    and the shares of the mean gain over static in them (None for the
    bound's own row, or where a seed lacks the number)."""

    model_set: str
    workload: str
    strategy: str
    seeds: int
    x_static: float | None
    x_static_min: float | None
    x_static_max: float | None
    headroom: float | None
    share_captured: float | None
    reached_headroom: float | None
    share_of_reached: float | None


@dataclass(frozen=True)
class SwitchLoss:
    """One switch: at ``start_s`` (the start of window ``window``),
    ``replicas_loaded`` replicas were loaded for ``load_s`` seconds in all,
    losing ``lost_replica_s`` replica-seconds of service; ``lost_requests``
    scored requests found every replica of their model still loading before
    the next switch."""

    window: int
    start_s: float
    replicas_loaded: int
    load_s: float
    lost_replica_s: float
    lost_requests: int


@dataclass(frozen=True)
class StrategyTimeline:
    """One strategy on one case (``case`` names the model set, workload and
    rate scale, ``rate_scale`` the scale itself): overall ``attainment``,
    ``window_attainment[j]`` of the requests arriving in
    ``[j * window_s, (j + 1) * window_s)`` (None when none arrived) and
    every switch."""

    case: str
    strategy: str
    attainment: float
    window_s: float
    window_attainment: tuple[float | None, ...]
    switches: tuple[SwitchLoss, ...]
    note: str = ""
    rate_scale: float = 1.0

    @property
    def lost_replica_s(self) -> float:
        return sum((s.lost_replica_s for s in self.switches), 0.0)


@dataclass(frozen=True)
class ReplanReport:
    """Static against re-placement: the capacity table at
    ``target_attainment``, the timelines, the capacity sweeps and the
    goodput table of memory-bound cases (and, from several seeds, that
    table over them: ``over_seeds``), with ``inputs`` describing what was
    compared (JSON data for the report's header)."""

    title: str
    inputs: Mapping[str, Any]
    target_attainment: float
    capacity: tuple[CapacityRow, ...]
    timelines: tuple[StrategyTimeline, ...]
    sweeps: tuple[KnobSweep, ...] = ()
    kind: str = "replan"
    goodput: tuple[GoodputRow, ...] = ()
    over_seeds: tuple[SeedRow, ...] = ()

    def __post_init__(self) -> None:
        if self.kind != "replan":
            raise ValueError(f"kind: must be 'replan', got {self.kind!r}")
        if not 0 < self.target_attainment <= 1:
            raise ValueError(
                f"target_attainment: must be in (0, 1], got {self.target_attainment!r}"
            )
        object.__setattr__(self, "inputs", dict(self.inputs))

    @property
    def cases(self) -> tuple[str, ...]:
        """The timelines' cases, in first-seen order."""
        return tuple(dict.fromkeys(t.case for t in self.timelines))
