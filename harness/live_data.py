"""What a live re-placement run (:mod:`harness.live`) is given and
produces: its scenario, the replays next to the simulator's predictions,
the hop probe, the agent's loads, and the run as the JSON of the report's
live section (:meth:`LiveRun.to_json`, drawn by :mod:`api.reporting.live`);
with the pure helpers that build the simulated plans.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from executor.replay import (
    LatencyParts,
    Sent,
    attainment,
    latency_parts,
)
from harness.loopback import Scenario
from planner.domain import Cluster, ModelSpec, Placement, TimedPlan, Workload
from planner.workloads import PhaseShift, rotating_hot_sets


@dataclass(frozen=True)
class LiveScenario:
    """The stated parameters of the live run (module docstring): ``models``
    tiny BERTs whose popularity rotates (phase ``k`` heats ``hot_size`` of
    them at ``hot_rps`` each, the others get none) and ``background`` ones
    always at ``cold_rps``, on ``devices`` devices of
    ``replicas_per_device`` replica each; with the defaults the hot set
    and some of the background fit, the rest of the background does not
    (so a plan is predicted at 90-99%), and the models that were hot have
    no traffic once their phase is over, so the re-planner may evict them
    (it keeps the last replica of a model with traffic). A switch must
    gain ``min_gain`` (above the noise of the background's few requests
    per window). Every model's SLO is ``slo_s``, far above the tiny
    model's compute, so that what fails is mostly placement (a model no
    replica serves) rather than this shared machine's noise
    (``bench.live_fidelity`` scores the same replays at tighter SLOs). The
    window is long against the load time the re-planner charges a switch:
    the agents' measured loads, which for a model loaded once at the start
    are a cold compile (2-4 s here, where a switch's loads take 0.01-0.06 s
    with the compiled code reused). The re-planner also checks the traffic
    mix every ``nowcast_s`` seconds inside each window and re-solves when
    it drifted more than ``react_drift`` (0: it decides at window starts
    only): a phase that starts with a window is then followed a few
    seconds in, not a window later, as the last window's forecast would.
    The agent polls the API for plan changes, and the router refreshes
    its view of the agents, every ``poll_s`` seconds: a switch serves from
    when both have it, which the simulated replay (from the activation)
    does not see."""

    models: int = 12
    background: int = 6
    hot_size: int = 4
    phases: int = 3
    phase_s: float = 20.0
    window_s: int = 10
    hot_rps: float = 2.0
    cold_rps: float = 0.15
    cv: float = 1.0
    slo_s: float = 0.25
    devices: int = 8
    replicas_per_device: int = 1
    forecaster: str = "last"
    min_gain: float = 0.05
    react_drift: float = 0.25
    nowcast_s: int = 3
    seed: int = 0
    static: bool = True
    poll_s: float = 0.25

    @property
    def names(self) -> tuple[str, ...]:
        """The ``models`` whose popularity rotates, then the ``background``."""
        rotating = tuple(f"m{i:02d}" for i in range(self.models))
        return rotating + tuple(f"bg{i}" for i in range(self.background))

    def shift(self) -> PhaseShift:
        hot = rotating_hot_sets(self.names[: self.models], self.phases, self.hot_size)
        return PhaseShift(self.names, hot, self.phase_s, self.hot_rps, self.cold_rps, self.cv)

    def loopback(self) -> Scenario:
        """The loopback scenario that declares the models and the cluster."""
        return Scenario(
            models=dict.fromkeys(self.names, "bert"),
            slo_scale=0.0,
            slo_floor_s=self.slo_s,
            max_batch=1,
            agents=1,
            devices_per_agent=self.devices,
            replicas_per_device=self.replicas_per_device,
            scale="tiny",
        )

    def describe(self) -> dict[str, Any]:
        shift = self.shift()
        return {
            **dataclasses.asdict(self),
            "hot_sets": [list(hot) for hot in shift.hot_sets],
            "duration_s": shift.duration_s,
        }


@dataclass(frozen=True)
class Load:
    """A replica the agent built: model, group, seconds, weight bytes on
    its fullest device, the plan version it built for."""

    model: str
    group: int
    seconds: float
    bytes: int
    version: int


@dataclass(frozen=True)
class Replayed:
    """One replay: what was sent (arrival times from its start), the
    simulator's per-window prediction for it (a window without requests
    counts as 1.0), the plan and cluster (load times) it simulated; for
    the live replay also the prediction with each switch when the agent
    reported it applied (``simulated_applied``: the plan's propagation to
    the agent and the router included) instead of when it was activated."""

    sent: tuple[Sent, ...]
    measured: tuple[tuple[int, int], ...]
    simulated: tuple[float, ...]
    simulated_total: float
    plan: TimedPlan
    cluster: Cluster
    simulated_applied: tuple[float, ...] | None = None
    simulated_applied_total: float | None = None

    @property
    def attainment(self) -> float:
        return attainment(self.sent)

    @property
    def parts(self) -> LatencyParts | None:
        return latency_parts(self.sent)


@dataclass(frozen=True)
class HopProbe:
    """Requests for one model sent one at a time (nothing queues),
    alternately to the agent directly and through the router: medians (s)
    of the client's latency each way, of the agent's own time (queue +
    compute) and compute, next to the profile's batch-1 latency (what the
    simulator charges)."""

    model: str
    requests: int
    direct_s: float
    routed_s: float
    agent_s: float
    compute_s: float
    profile_s: float

    @property
    def router_hop_s(self) -> float:
        return self.routed_s - self.direct_s

    @property
    def agent_http_s(self) -> float:
        return self.direct_s - self.agent_s


@dataclass(frozen=True)
class LiveRun:
    """What the live run produced (module docstring): ``origin`` is the unix
    time of the live replay's start (the first window's start), windows are
    ``scenario.window_s`` long from there."""

    scenario: LiveScenario
    cluster: Cluster
    models: tuple[ModelSpec, ...]
    workload: Workload
    origin: float
    first_plan_id: int
    first_version: int
    live: Replayed
    static: Replayed | None
    traffic: tuple[dict[str, Any], ...]
    decisions: tuple[dict[str, Any], ...]
    loads: tuple[Load, ...]
    applied_s: Mapping[int, float]
    hops: HopProbe
    phases_s: Mapping[str, float]

    def window_of(self, unix_s: float) -> int:
        return round((unix_s - self.origin) / self.scenario.window_s)

    def to_json(self) -> dict[str, Any]:
        """The report's live section (:mod:`api.reporting.live`)."""
        return {
            "scenario": self.scenario.describe(),
            "cluster": {
                "num_devices": self.cluster.num_devices,
                "device_mem_bytes": self.cluster.device_mem_bytes,
            },
            "slo_s": min(spec.slo_s for spec in self.models),
            "requests": self.workload.num_requests,
            "first_plan_id": self.first_plan_id,
            "windows": self._windows(),
            "decisions": [self._decision(d) for d in self.decisions],
            "switches": self._switches(),
            "totals": {
                name: {
                    "requests": len(replayed.sent),
                    "measured": replayed.attainment,
                    "simulated": replayed.simulated_total,
                    "simulated_applied": replayed.simulated_applied_total,
                }
                for name, replayed in self._replays().items()
            },
            "latency_parts": {
                name: dataclasses.asdict(replayed.parts)
                for name, replayed in self._replays().items()
                if replayed.parts is not None
            },
            "hops": {
                **dataclasses.asdict(self.hops),
                "router_hop_s": self.hops.router_hop_s,
                "agent_http_s": self.hops.agent_http_s,
            },
            "phases_s": dict(self.phases_s),
        }

    def _replays(self) -> dict[str, Replayed]:
        return {"live": self.live} | ({"static": self.static} if self.static else {})

    def _windows(self) -> list[dict[str, Any]]:
        observed = {self.window_of(w["start"]): w["requests"] for w in self.traffic}
        rows = []
        for j, (sent, _) in enumerate(self.live.measured):
            row: dict[str, Any] = {
                "window": j,
                "start_s": j * self.scenario.window_s,
                "observed": observed.get(j, {}),
                "sent": sent,
            }
            for name, replayed in self._replays().items():
                requests, good = replayed.measured[j]
                row[f"{name}_measured"] = good / requests if requests else None
                row[f"{name}_simulated"] = replayed.simulated[j]
                if replayed.simulated_applied is not None:
                    row[f"{name}_simulated_applied"] = replayed.simulated_applied[j]
            rows.append(row)
        return rows

    def _decision(self, decision: Mapping[str, Any]) -> dict[str, Any]:
        keys = (
            "action",
            "chosen",
            "reason",
            "forecast_rps",
            "keep_attainment",
            "candidate_attainment",
            "switch_cost",
            "version",
            "replayed_switch",
            "replayed_keep",
        )
        return {
            "window": self.window_of(decision["window_start"]),
            "at_s": decision["at_s"],
            "decided_s": unix_seconds(decision["created_at"]) - self.origin,
            **{key: decision[key] for key in keys},
        }

    def _switches(self) -> list[dict[str, Any]]:
        rows = []
        for decision in self.decisions:
            if not decision["chosen"]:
                continue
            version = decision["version"]
            loads = [load for load in self.loads if load.version == version]
            rows.append(
                {
                    "version": version,
                    "window": self.window_of(decision["window_start"]),
                    "action": decision["action"],
                    "activated_s": unix_seconds(decision["created_at"]) - self.origin,
                    "applied_s": self.applied_s.get(version),
                    "loads": [dataclasses.asdict(load) for load in loads],
                    "evicted": [
                        step["model"] for step in decision["steps"] if step["action"] == "evict"
                    ],
                }
            )
        return rows


def unix_seconds(stamp: str) -> float:
    """An API timestamp (ISO 8601; naive means UTC) as unix seconds."""
    moment = dt.datetime.fromisoformat(stamp)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return moment.timestamp()


def timed_plan(first: Placement, switches: Sequence[tuple[float, Placement]]) -> TimedPlan:
    """``first`` from 0, then each switch's placement from its time (s),
    nudged 1 ms past the previous step where times tie or run backwards."""
    steps: list[tuple[float, Placement]] = [(0.0, first)]
    for at, placement in switches:
        steps.append((max(at, steps[-1][0] + 1e-3), placement))
    return TimedPlan(tuple(steps))


def switch_load_seconds(loads: Sequence[Load], first_version: int) -> dict[str, float]:
    """Per model, its longest load in the switches after ``first_version``
    (the first plan's loads compile cold, a switch's reuse the compiled
    code); over every load when no switch loaded anything."""
    chosen = [load for load in loads if load.version > first_version] or list(loads)
    seconds: dict[str, float] = {}
    for load in chosen:
        seconds[load.model] = max(seconds.get(load.model, 0.0), load.seconds)
    return seconds
