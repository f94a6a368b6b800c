"""The live re-planner's decision, without a database: observed request
counts in, a decision and the ordered transition out. The service
(``api/replanner_jobs.py``) reads what it needs, calls :func:`decide_live`
once per window and stores the result.

One decision, at the start of window ``n`` (windows of ``window_s``
seconds, the ``n`` before it observed):

1. **Observed traffic.** The per-window counts become a workload
   (:func:`observed_workload`): each window's requests of a model drawn
   uniformly over the window (a Poisson process conditioned on the count),
   seeded, so the same counts always give the same arrivals.
2. **Revert.** When switches were applied in the window just observed
   (``window_switches``: at its start, or at drift checks inside it, each
   from the placement the one before it switched to), its observed
   arrivals after the first of them are replayed through the simulator on
   those switches, each at its instant with its load time, and on the
   placement before the first one kept; if the switches' replayed
   attainment is below the kept plan's by more than ``revert_margin``, the
   decision is a revert to that placement. Otherwise the last switch alone
   is judged the same way on the arrivals after it (a drift check may have
   moved on from a good switch to a bad one), and reverted when it lost.
   (The simulator's replay of the observed arrivals, not the agents'
   measured latencies, is the measured attainment.)
3. **Cap.** With ``max_switches_per_hour`` switches already made in the
   last hour, the decision is ``hold`` (nothing is solved).
4. **Decide.** :func:`planner.replan.loop.decide_window` forecasts the
   window with the chosen forecaster, solves a placement on the forecast
   (and one on the whole history; with ``trust_windows``, the forecast's
   is a candidate only while its plans of the last windows served those
   windows as well as the history plans did), and switches the blocks
   whose simulated gain beats their lost service while they load, if the
   gain exceeds ``min_gain``. Load times are the agents' measured ones
   where known (:func:`measured_cluster`), the cluster's bandwidth
   otherwise.
5. **Last replicas.** A switch must not evict the last replica of a model
   that had requests in the window just observed: each such model is put
   back (:func:`planner.replan.transition.swap_in`, evicting the group's
   least requested models that had no traffic) and the repaired placement
   judged again; when no group can take it back, memory forces the
   eviction and the decision says so.
6. **Transition.** The new placement's groups are put at their old
   indices where they are kept (:func:`keep_group_indices`), and
   :func:`transition_steps` orders the loads and evictions
   so that no device ever holds more than its memory under the validator's
   model (:func:`planner.validation.stage_memory_bytes`).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from planner.domain import Cluster, Group, ModelSpec, ParallelConfig, Placement, Workload
from planner.replan.forecast import Forecast, forecast_window, make_forecaster
from planner.replan.loop import check_drift, decide_window
from planner.replan.options import ReplanOptions, check_integer, check_number, check_seconds
from planner.replan.solvecache import SolveCache
from planner.replan.transition import SwitchCost, TransitionJudge, swap_in, switch_cost
from planner.sim import Instance, SimOptions
from planner.validation import models_by_name, stage_memory_bytes

FloatArray = npt.NDArray[np.float64]
ACTIONS = ("keep", "switch", "revert", "hold")


@dataclass(frozen=True)
class MeasuredLoadCluster(Cluster):
    """A cluster whose load time for a replica of ``weight_bytes`` bytes per
    device is the measured one where ``measured_s`` lists that size
    (``(weight bytes per device, seconds)`` pairs), the bandwidth model
    otherwise."""

    measured_s: tuple[tuple[int, float], ...] = ()

    def load_time_s(self, weight_bytes_per_device: int) -> float:
        for size, seconds in self.measured_s:
            if size == weight_bytes_per_device:
                return seconds
        return super().load_time_s(weight_bytes_per_device)


def measured_cluster(
    cluster: Cluster, models: Sequence[ModelSpec], load_s: Mapping[str, float]
) -> Cluster:
    """``cluster`` with each measured model's load time (``load_s``:
    seconds per replica, by model name) standing for every config it is
    profiled for. The simulator asks load times by weight bytes per device,
    so models of equal size share one time: the largest measured. Without
    measurements, ``cluster`` itself."""
    table: dict[int, float] = {}
    for spec in models:
        if spec.name not in load_s:
            continue
        for config in spec.profile.configs:
            size = spec.profile[config].weight_bytes
            table[size] = max(table.get(size, 0.0), float(load_s[spec.name]))
    if not table:
        return cluster
    fields = {f.name: getattr(cluster, f.name) for f in dataclasses.fields(Cluster)}
    return MeasuredLoadCluster(**fields, measured_s=tuple(sorted(table.items())))


def observed_workload(
    counts: Mapping[str, Sequence[int]],
    window_s: float,
    duration_s: float,
    seed: int,
    *,
    last_s: float | None = None,
) -> Workload:
    """Arrivals from per-window counts (``counts[model][w]`` requests in
    ``[w * window_s, (w + 1) * window_s)``), each drawn uniformly inside its
    window with the seeded generator; models in ``counts`` order. The
    windows must lie within ``duration_s``. With ``last_s`` the last window
    was observed for its first ``last_s`` seconds only, and its requests
    are drawn in those."""
    check_seconds("window_s", window_s)
    if last_s is not None and not 0 < last_s <= window_s:
        raise ValueError(f"last_s: must be in (0, {window_s:g}], got {last_s!r}")
    names = tuple(counts)
    rng = np.random.default_rng(seed)
    times: list[FloatArray] = []
    ids: list[npt.NDArray[np.int32]] = []
    for m, name in enumerate(names):
        series = counts[name]
        if len(series) * window_s > duration_s + 1e-9:
            raise ValueError(
                f"counts.{name}: {len(series)} windows of {window_s} s exceed {duration_s} s"
            )
        for w, count in enumerate(series):
            if count < 0:
                raise ValueError(f"counts.{name}[{w}]: must be >= 0, got {count}")
            span_s = last_s if last_s is not None and w == len(series) - 1 else window_s
            times.append(w * window_s + rng.uniform(0.0, span_s, int(count)))
            ids.append(np.full(int(count), m, dtype=np.int32))
    arrivals = np.concatenate(times) if times else np.zeros(0)
    model_ids = np.concatenate(ids) if ids else np.zeros(0, dtype=np.int32)
    order = np.argsort(arrivals, kind="stable")
    clipped = np.minimum(arrivals[order], np.nextafter(duration_s, 0.0))
    return Workload(clipped, model_ids[order], names, duration_s)


HISTORY_WINDOWS = 12
"""Windows of observed traffic a decision forecasts from, at most."""
MAX_TRUST_WINDOWS = HISTORY_WINDOWS - 1
"""The most windows ``trust_windows`` may weigh: each observed one but the
first, which has no past to forecast from."""
MAX_REACT_DRIFT = 10.0
"""The largest ``react_drift``: the drift of a mix whose total rate grew
elevenfold."""


@dataclass(frozen=True)
class LiveSettings:
    """A cluster's re-planner settings (checked when built, ValueError
    naming the field): window length (s), forecaster spec
    (:func:`planner.replan.forecast.make_forecaster`), the judged
    attainment a switch must gain, at most this many switches in any hour,
    the replayed attainment loss after a switch that makes it revert,
    windows over which the forecast's plans must have served as well as the
    history plan's to stay candidates (0: always), the solver and its time
    limit per solve (s)."""

    window_s: float = 60.0
    forecaster: str = "ewma"
    min_gain: float = 0.01
    max_switches_per_hour: int = 6
    revert_margin: float = 0.05
    trust_windows: int = 0
    react_drift: float = 0.0
    nowcast_s: float = 0.0
    solver: str = "greedy"
    time_limit_s: float = 20.0

    def __post_init__(self) -> None:
        check_seconds("window_s", self.window_s)
        make_forecaster(self.forecaster)
        check_number("min_gain", self.min_gain, 0.0, 1.0)
        check_number("revert_margin", self.revert_margin, 0.0, 1.0)
        check_integer("max_switches_per_hour", self.max_switches_per_hour, 0)
        check_integer("trust_windows", self.trust_windows, 0, MAX_TRUST_WINDOWS)
        if not 0 <= self.nowcast_s < self.window_s:
            raise ValueError(
                f"nowcast_s: must be in [0, window_s {self.window_s:g}), got {self.nowcast_s!r}"
            )
        check_number("react_drift", self.react_drift, 0.0, MAX_REACT_DRIFT)
        if self.react_drift and not self.nowcast_s:
            raise ValueError("react_drift: watching the mix inside a window needs nowcast_s > 0")

    @property
    def watches(self) -> bool:
        """Whether the mix is checked inside each window (every ``nowcast_s``)."""
        return self.react_drift > 0

    def check_offsets_s(self) -> tuple[float, ...]:
        """The drift checks' instants, seconds into each window (none
        without the watch)."""
        if not self.watches:
            return ()
        count = math.ceil(self.window_s / self.nowcast_s)
        return tuple(k * self.nowcast_s for k in range(1, count))

    def replan_options(self, seed: int) -> ReplanOptions:
        """The offline loop's options for one live window: forecast mode,
        re-planned every window, hedged by the history plan."""
        return ReplanOptions(
            window_s=self.window_s,
            information="forecast",
            forecaster=make_forecaster(self.forecaster),
            min_gain=self.min_gain,
            solver=self.solver,
            time_limit_s=self.time_limit_s,
            trust_windows=self.trust_windows,
            nowcast_s=self.nowcast_s,
            react_drift=self.react_drift,
            seed=seed,
        )


@dataclass(frozen=True)
class AppliedSwitch:
    """A switch applied in the window just observed: at its start, or
    ``at_s`` seconds into it (a drift check), with ``counts``, the requests
    per model (by name) in the rest of that window after it."""

    before: Placement
    after: Placement
    at_s: float = 0.0
    counts: Mapping[str, int] | None = None

    def __post_init__(self) -> None:
        if self.at_s and self.counts is None:
            raise ValueError("counts: a switch inside a window needs the requests after it")

    def requests_after(self, last_window: Mapping[str, int]) -> dict[str, int]:
        """Requests per model after the switch: ``counts``, or for a switch
        at the window's start the window's (``last_window``)."""
        return dict(last_window if self.counts is None else self.counts)


@dataclass(frozen=True)
class LiveInputs:
    """What one decision reads: the cluster and the models of the served
    plan, the serving placement, per-window request counts of the ``n``
    windows before the decided one (by model name, oldest first, every
    list of length ``n >= 1``), measured load seconds per model, switches
    made in the last hour, and the switches applied in the last window, in
    order (each from the placement the one before it switched to, the last
    to the serving one; only the first may be at the window's start)."""

    cluster: Cluster
    models: tuple[ModelSpec, ...]
    current: Placement
    counts: Mapping[str, Sequence[int]]
    load_s: Mapping[str, float]
    switches_last_hour: int = 0
    window_switches: tuple[AppliedSwitch, ...] = ()

    def __post_init__(self) -> None:
        names = {spec.name for spec in self.models}
        lengths = {len(series) for series in self.counts.values()}
        if len(lengths) != 1 or 0 in lengths:
            raise ValueError(
                f"counts: every model needs the same number >= 1 of windows, got {lengths}"
            )
        for name in self.counts:
            if name not in names:
                raise ValueError(f"counts.{name}: not a model of the plan")
        self._check_switches()

    def _check_switches(self) -> None:
        """ValueError naming ``window_switches`` unless they chain in order
        to the serving placement, none with more requests after it than
        after the one before it."""
        switches = self.window_switches
        window = self.last_window()
        for k, switch in enumerate(switches):
            where = f"window_switches[{k}]"
            following = switches[k + 1].before if k + 1 < len(switches) else self.current
            if switch.after != following:
                raise ValueError(
                    f"{where}.after: must be the placement the next switch left"
                    " (for the last, the serving one)"
                )
            if not k:
                continue
            earlier = switches[k - 1]
            if switch.at_s <= earlier.at_s:
                raise ValueError(f"{where}.at_s: must be after the switch before it")
            before_it = earlier.requests_after(window)
            for name, count in switch.requests_after(window).items():
                if count > before_it.get(name, 0):
                    raise ValueError(
                        f"{where}.counts.{name}: {count} requests after it,"
                        " more than after the switch before it"
                    )

    @property
    def windows(self) -> int:
        return len(next(iter(self.counts.values())))

    def last_window(self) -> dict[str, int]:
        """Requests per model in the window just observed."""
        return {name: int(series[-1]) for name, series in self.counts.items()}


@dataclass(frozen=True)
class Step:
    """One move of a transition: ``load`` ``model`` into group ``group`` of
    the new placement, or ``evict`` it from group ``group`` of the old one."""

    group: int
    action: str
    model: str


@dataclass(frozen=True)
class LiveDecision:
    """What the re-planner decided for one window (:data:`ACTIONS`): the
    placement that serves it, the ordered steps from the serving one (empty
    unless it moves), the forecast rates (requests/s per model), the judged
    attainments of keeping and of the candidate switch, the replayed ones
    of a revert check (``replayed_switch`` and ``replayed_keep``), the
    switch's cost and why, in words."""

    action: str
    reason: str
    placement: Placement
    steps: tuple[Step, ...] = ()
    forecast_rps: Mapping[str, float] = dataclasses.field(default_factory=dict)
    keep_attainment: float | None = None
    candidate_attainment: float | None = None
    replayed_switch: float | None = None
    replayed_keep: float | None = None
    cost: SwitchCost = dataclasses.field(default_factory=SwitchCost)

    @property
    def moved(self) -> bool:
        return self.action in ("switch", "revert")


def _instance(inputs: LiveInputs, cluster: Cluster, workload: Workload) -> Instance:
    return Instance(cluster, inputs.models, workload, SimOptions())


def _complete(inputs: LiveInputs) -> dict[str, Sequence[int]]:
    """The counts with every model of the plan (zeros where unreported)."""
    zeros = [0] * inputs.windows
    return {spec.name: inputs.counts.get(spec.name, zeros) for spec in inputs.models}


def _revert_check(
    inputs: LiveInputs, cluster: Cluster, settings: LiveSettings, seed: int
) -> LiveDecision | None:
    """A revert decision when the last window's replay says its switches,
    or else its last switch alone, did worse than keeping by more than the
    margin (module docstring, step 2)."""
    switches = inputs.window_switches
    if not switches:
        return None
    what = "the switch" if len(switches) == 1 else f"its {len(switches)} switches"
    reverted = _revert_of(inputs, cluster, settings, seed, switches, what)
    if reverted is None and len(switches) > 1:
        reverted = _revert_of(inputs, cluster, settings, seed, switches[-1:], "its last switch")
    return reverted


def _revert_of(
    inputs: LiveInputs,
    cluster: Cluster,
    settings: LiveSettings,
    seed: int,
    switches: tuple[AppliedSwitch, ...],
    what: str,
) -> LiveDecision | None:
    """A revert to the placement before ``switches[0]`` when the replay of
    the arrivals after it on ``switches`` (``what``, in words) is below
    keeping that placement by more than the margin; else None."""
    replay = _arrivals_after(inputs, switches, settings.window_s, seed)
    if not replay.model_ids.size:
        return None
    judge = TransitionJudge(_instance(inputs, cluster, replay))
    before, first_s = switches[0].before, switches[0].at_s
    switched = judge.replay(before, [(switch.at_s - first_s, switch.after) for switch in switches])
    kept = judge.attainment(before, before)
    if switched >= kept - settings.revert_margin:
        return None
    return LiveDecision(
        action="revert",
        reason=(
            f"the last window replayed at {switched:.4f} after {what}, "
            f"{kept - switched:.4f} below keeping ({kept:.4f}) > revert_margin "
            f"{settings.revert_margin:g}; back to the placement before it"
        ),
        placement=before,
        steps=transition_steps(cluster, inputs.models, inputs.current, before),
        replayed_switch=switched,
        replayed_keep=kept,
        cost=switch_cost(cluster, inputs.models, inputs.current, before),
    )


def _arrivals_after(
    inputs: LiveInputs, switches: tuple[AppliedSwitch, ...], window_s: float, seed: int
) -> Workload:
    """The last window's requests after ``switches[0]``, times (s) from its
    instant: each stretch's (from one switch to the next, the last to the
    window's end) drawn uniformly inside it (:func:`observed_workload`)."""
    window = inputs.last_window()
    names = [spec.name for spec in inputs.models]
    after = [switch.requests_after(window) for switch in switches]
    bounds = [switch.at_s for switch in switches] + [window_s]
    times: list[FloatArray] = []
    ids: list[npt.NDArray[np.int32]] = []
    for k, counts in enumerate(after):
        later = after[k + 1] if k + 1 < len(after) else {}
        span_s = bounds[k + 1] - bounds[k]
        stretch = {name: [counts.get(name, 0) - later.get(name, 0)] for name in names}
        drawn = observed_workload(stretch, span_s, span_s, seed + k)
        times.append(drawn.arrivals_s + (bounds[k] - bounds[0]))
        ids.append(drawn.model_ids)
    return Workload(np.concatenate(times), np.concatenate(ids), tuple(names), window_s - bounds[0])


def _rates(forecast: Forecast) -> dict[str, float]:
    """A forecast's rates (requests/s) by model name."""
    return dict(zip(forecast.model_names, map(float, forecast.rates_rps), strict=True))


def decide_live(
    inputs: LiveInputs, settings: LiveSettings, *, seed: int = 0, cache: SolveCache | None = None
) -> LiveDecision:
    """The decision for the window after the observed ones (module
    docstring). ``seed`` seeds the observed arrivals and the forecast draws
    (the service passes the window's start, so a retried window decides
    alike)."""
    cluster = measured_cluster(inputs.cluster, inputs.models, inputs.load_s)
    reverted = _revert_check(inputs, cluster, settings, seed)
    if reverted is not None:
        return reverted
    counts = _complete(inputs)
    n = inputs.windows
    options = settings.replan_options(seed)
    history = observed_workload(counts, settings.window_s, (n + 1) * settings.window_s, seed)
    if inputs.switches_last_hour >= settings.max_switches_per_hour:
        held = forecast_window(
            options.forecaster, history, settings.window_s, n, options.forecast_floor
        )
        return LiveDecision(
            "hold",
            f"{inputs.switches_last_hour} switches in the last hour "
            f"(max_switches_per_hour {settings.max_switches_per_hour})",
            inputs.current,
            forecast_rps=_rates(held),
        )
    if not any(sum(series) for series in counts.values()):
        return LiveDecision("keep", "no traffic observed", inputs.current)
    instance = _instance(inputs, cluster, history)
    last_rates = np.array([series[-1] for series in counts.values()], float) / settings.window_s
    choice = decide_window(instance, options, n, inputs.current, last_rates, cache=cache)
    forecast = {} if choice.forecast is None else _rates(choice.forecast)
    decision = choice.decision
    placement, reason = choice.placement, decision.reason
    candidate = decision.switch_attainment
    if _dropped_last_replicas(inputs, placement):
        judge = TransitionJudge(_instance(inputs, cluster, choice.judging))
        placement, candidate, note = _protect_last_replicas(
            inputs, cluster, judge, placement, forecast, settings.min_gain
        )
        reason = f"{reason}; {note}"
    return _keep_or_switch(
        inputs, cluster, placement, reason, forecast, decision.keep_attainment, candidate
    )


def _keep_or_switch(
    inputs: LiveInputs,
    cluster: Cluster,
    placement: Placement,
    reason: str,
    rates: Mapping[str, float],
    keep: float | None,
    candidate: float | None,
) -> LiveDecision:
    """A switch to ``placement`` (its groups at their serving indices, with
    its steps and cost), or a keep when it is the serving placement."""
    moved = placement != inputs.current
    placement = keep_group_indices(inputs.current, placement)
    return LiveDecision(
        action="switch" if moved else "keep",
        reason=reason,
        placement=placement,
        steps=transition_steps(cluster, inputs.models, inputs.current, placement) if moved else (),
        forecast_rps=rates,
        keep_attainment=keep,
        candidate_attainment=candidate,
        cost=switch_cost(cluster, inputs.models, inputs.current, placement)
        if moved
        else SwitchCost(),
    )


@dataclass(frozen=True)
class WatchInputs:
    """What one drift check inside the window after ``live``'s observed
    ones reads: those inputs, the requests per model counted in the window
    before the check (``so_far``; by name, absent: 0), the check's instant
    (``at_s``, seconds into the window) and the per-model rates
    (requests/s by name, absent: 0) the serving placement was planned or
    last checked for; None: the window's forecast."""

    live: LiveInputs
    so_far: Mapping[str, int]
    at_s: float
    mix: Mapping[str, float] | None = None


@dataclass(frozen=True)
class WatchOutcome:
    """A drift check's result: the drift of the nowcast from the mix (None
    when nothing was checked), what happened in words, and past
    ``react_drift`` the decision to store (keep or switch; its
    ``forecast_rps`` the nowcast, the mix the next check compares with)."""

    drift: float | None
    note: str
    decision: LiveDecision | None = None


def decide_watch(
    watch: WatchInputs, settings: LiveSettings, *, seed: int = 0, cache: SolveCache | None = None
) -> WatchOutcome:
    """The drift check at ``watch.at_s`` into the window after the observed
    ones: :func:`planner.replan.loop.check_drift` on the observed windows and
    the window so far (its requests drawn before the check), so it decides
    as the offline watch does; a switch it makes counts against
    ``max_switches_per_hour``, and with as many made, nothing is checked.
    Unlike a window's decision, it keeps no last replica back: the nowcast
    already counts the requests of the window so far."""
    inputs = watch.live
    if not settings.watches:
        return WatchOutcome(None, "the watch is off (react_drift 0)")
    if inputs.switches_last_hour >= settings.max_switches_per_hour:
        return WatchOutcome(
            None,
            f"{inputs.switches_last_hour} switches in the last hour "
            f"(max_switches_per_hour {settings.max_switches_per_hour})",
        )
    cluster = measured_cluster(inputs.cluster, inputs.models, inputs.load_s)
    n, window_s = inputs.windows, settings.window_s
    counts = {
        name: [*series, int(watch.so_far.get(name, 0))]
        for name, series in _complete(inputs).items()
    }
    observed = observed_workload(counts, window_s, (n + 1) * window_s, seed, last_s=watch.at_s)
    names = observed.model_names
    mix = None if watch.mix is None else np.array([watch.mix.get(m, 0.0) for m in names])
    check = check_drift(
        _instance(inputs, cluster, observed),
        settings.replan_options(seed),
        n,
        inputs.current,
        mix,
        n * window_s + watch.at_s,
        cache=cache,
    )
    if check is None:
        return WatchOutcome(None, f"no request in the window's first {watch.at_s:g} s")
    if check.decision is None:
        return WatchOutcome(
            check.drift,
            f"the mix drifted by {check.drift:.3g} <= react_drift {settings.react_drift:g}",
        )
    rates = dict(zip(names, map(float, check.rates_rps), strict=True))
    decision = _keep_or_switch(
        inputs,
        cluster,
        check.placement,
        check.decision.reason,
        rates,
        check.decision.keep_attainment,
        check.decision.switch_attainment,
    )
    return WatchOutcome(check.drift, decision.reason, decision)


def _dropped_last_replicas(inputs: LiveInputs, placement: Placement) -> list[str]:
    """The models served now that had requests in the last window and that
    ``placement`` hosts nowhere (sorted)."""
    busy = {name for name, count in inputs.last_window().items() if count > 0}
    return sorted(busy & inputs.current.model_names - placement.model_names)


def _protect_last_replicas(
    inputs: LiveInputs,
    cluster: Cluster,
    judge: TransitionJudge,
    placement: Placement,
    rates: Mapping[str, float],
    min_gain: float,
) -> tuple[Placement, float | None, str]:
    """``placement`` with the models that had requests in the last window
    and would lose their last replica put back where a group can take them
    without evicting another such model (module docstring, step 5); the
    judged attainment of the result and a note. When the repaired switch no
    longer pays, the current placement."""
    busy = {name for name, count in inputs.last_window().items() if count > 0}
    protected = busy & inputs.current.model_names
    dropped = _dropped_last_replicas(inputs, placement)
    forced: list[str] = []
    for name in dropped:
        # a busy model ranks above every idle one, so swap_in evicts idle models first
        weights = {m: rates.get(m, 0.0) + (1e9 if m in protected else 0.0) for m in rates}
        options = [
            candidate
            for _, candidate in swap_in(cluster, inputs.models, placement, name, weights)
            if protected & placement.model_names <= candidate.model_names
        ]
        if not options:
            forced.append(name)
            continue
        placement = max(options, key=lambda option: judge.attainment(inputs.current, option))
    kept_back = [name for name in dropped if name not in forced]
    notes = []
    if kept_back:
        notes.append(
            f"kept the last replica of {', '.join(kept_back)} (traffic in the last window)"
        )
    if forced:
        notes.append(f"memory forces evicting the last replica of {', '.join(forced)}")
    keep = judge.attainment(inputs.current, inputs.current)
    score = judge.attainment(inputs.current, placement)
    if kept_back and score <= keep + min_gain:
        return inputs.current, score, "; ".join([*notes, "the repaired switch does not pay"])
    return placement, score, "; ".join(notes)


def keep_group_indices(before: Placement, after: Placement) -> Placement:
    """``after`` with its groups reordered so that each group it keeps from
    ``before`` (same devices and config) sits at its index in ``before``
    where ``after`` has that index; the other groups fill the free indices
    in their order. When no group is added or removed, every index then
    names the same group in both, so a transition's loads and evictions in
    one group share its index."""
    old_index = {(g.devices, g.config): i for i, g in enumerate(before.groups)}
    slots: list[Group | None] = [None] * len(after.groups)
    rest: list[Group] = []
    for group in after.groups:
        i = old_index.get((group.devices, group.config))
        if i is not None and i < len(slots):
            slots[i] = group
        else:
            rest.append(group)
    free = iter(rest)
    return Placement(tuple(group if group is not None else next(free) for group in slots))


@dataclass
class _Slot:
    """A group during a transition: where it sits, the models resident now
    and those it ends with; its index in the old placement (evictions) and
    in the new one (loads), where it has one."""

    devices: tuple[int, ...]
    config: ParallelConfig
    resident: list[str]
    target: tuple[str, ...]
    old: int | None
    new: int | None


def _usage(slots: Sequence[_Slot], models: Mapping[str, ModelSpec]) -> dict[int, int]:
    """Bytes in use per device with the slots' resident models."""
    used: dict[int, int] = {}
    for slot in slots:
        group = Group(slot.devices, slot.config, tuple(slot.resident))
        per_stage = stage_memory_bytes(group, models) if slot.resident else (0,) * slot.config.pp
        for stage, bytes_ in enumerate(per_stage):
            for device in group.stage_devices(stage):
                used[device] = used.get(device, 0) + bytes_
    return used


def _fits(slots: Sequence[_Slot], models: Mapping[str, ModelSpec], memory: int) -> bool:
    return all(used <= memory for used in _usage(slots, models).values())


def transition_steps(
    cluster: Cluster,
    models: Sequence[ModelSpec] | Mapping[str, ModelSpec],
    before: Placement,
    after: Placement,
) -> tuple[Step, ...]:
    """The loads and evictions that take ``before`` to ``after``, ordered so
    that no device ever uses more than ``cluster.device_mem_bytes`` (both
    must fit): a group with the same devices and config in both is kept
    (only its changed models move); every other old group is emptied and
    every other new group filled. Loads come as early as memory allows (in
    each new group's model order, groups in order), evictions only when a
    load needs their room or at the end, so replicas that leave serve until
    their replacement is in. Load steps index ``after``'s groups, evict
    steps ``before``'s."""
    index = models if isinstance(models, Mapping) else models_by_name(models)
    memory = cluster.device_mem_bytes
    new_of = {(g.devices, g.config): j for j, g in enumerate(after.groups)}
    slots: list[_Slot] = []
    for i, group in enumerate(before.groups):
        j = new_of.pop((group.devices, group.config), None)
        target = after.groups[j].models if j is not None else ()
        slots.append(_Slot(group.devices, group.config, list(group.models), target, i, j))
    for (devices, config), j in sorted(new_of.items(), key=lambda item: item[1]):
        slots.append(_Slot(devices, config, [], after.groups[j].models, None, j))
    if not _fits(slots, index, memory):
        raise ValueError("before: does not fit device memory")
    loads = [
        (slot, name)
        for slot in sorted((s for s in slots if s.new is not None), key=lambda s: s.new or 0)
        for name in slot.target
        if name not in slot.resident
    ]
    evicts = [(slot, name) for slot in slots for name in slot.resident if name not in slot.target]
    steps: list[Step] = []
    while loads:
        for k, (slot, name) in enumerate(loads):
            slot.resident.append(name)
            if _fits(slots, index, memory):
                assert slot.new is not None
                steps.append(Step(slot.new, "load", name))
                del loads[k]
                break
            slot.resident.remove(name)
        else:
            if not evicts:
                raise ValueError("after: does not fit device memory")
            blocked = set(loads[0][0].devices)
            k = next((k for k, (s, _) in enumerate(evicts) if blocked & set(s.devices)), 0)
            slot, name = evicts.pop(k)
            slot.resident.remove(name)
            assert slot.old is not None
            steps.append(Step(slot.old, "evict", name))
    for slot, name in evicts:
        slot.resident.remove(name)
        assert slot.old is not None
        steps.append(Step(slot.old, "evict", name))
    return tuple(steps)
