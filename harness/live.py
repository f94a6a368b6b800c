"""Live re-placement on a loopback deployment (``meshplan demo --live``, the
end-to-end test, ``bench.live_fidelity``): a trace whose popularity shifts
is replayed through the router to one agent on emulated CPU devices while
the service re-plans, then replayed again on the first plan kept.

1. API with a job worker; the models (``models`` tiny BERTs, profiled on
   this machine by the profiler, :func:`harness.loopback.declare_models`);
   a cluster whose devices hold ``replicas_per_device`` model each, so the
   fleet hosts fewer models than there are (re-placement matters);
2. the trace (:class:`planner.workloads.phases.PhaseShift`: ``phases``
   phases of ``phase_s`` s, each with its own ``hot_size`` hot models);
   the first plan is solved (greedy, in the worker) on the first phase's
   arrivals and activated;
3. the agent on ``devices`` emulated CPU devices and the router (reporting
   its traffic every second);
4. **live**: the re-planner is turned on (window ``window_s``, forecaster
   ``forecaster``) and the trace replayed from the start of its first
   window, so the replay's windows are the re-planner's; meanwhile the
   agent's ``/v1/status`` is read every :data:`WATCH_S` s for its applied
   version and the measured load of every replica it builds;
5. the observed traffic, the decisions and the plans they activated are
   read from the API; the re-planner is turned off;
6. **static**: the first plan is activated again and, once the agent
   applied it, the same trace is replayed;
7. the simulator predicts each replay with the same arrivals and profiles:
   the live one with the plans the decisions activated, each from when it
   was activated, loading at the measured load times; the static one with
   the first plan. Attainment is compared window by window.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import threading
import time
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from executor.api_client import ApiClient
from executor.replay import Sent, attainment, replay, window_counts
from harness.loopback import (
    Deployment,
    Scenario,
    agents_applied,
    declare_models,
    scenario_cluster,
    solve_and_activate,
    wait_for,
)
from planner.codec import decode, encode
from planner.domain import Cluster, ModelSpec, Placement, TimedPlan, Workload
from planner.replan.live import measured_cluster
from planner.sim import SimOptions, simulate
from planner.workloads.phases import PhaseShift, rotating_hot_sets
from planner.workloads.windows import window_workload

Say = Callable[[str], None]

WATCH_S = 0.5
"""How often the agent's status is read during a replay (s)."""
AGENT_TIMEOUT_S = 600.0
"""How long the agent may take to build a plan's replicas."""
FLUSH_S = 2.5
"""Wait after a replay so the router's last traffic bins reach the API (s)."""


@dataclass(frozen=True)
class LiveScenario:
    """The stated parameters of the live run (module docstring)."""

    models: int = 12
    hot_size: int = 4
    phases: int = 3
    phase_s: float = 24.0
    window_s: int = 8
    hot_rps: float = 2.0
    cold_rps: float = 0.25
    cv: float = 1.0
    slo_scale: float = 50.0
    slo_floor_s: float = 0.25
    devices: int = 8
    replicas_per_device: int = 1
    forecaster: str = "last"
    min_gain: float = 0.01
    seed: int = 0
    static: bool = True

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(f"m{i:02d}" for i in range(self.models))

    def shift(self) -> PhaseShift:
        hot = rotating_hot_sets(self.names, self.phases, self.hot_size)
        return PhaseShift(self.names, hot, self.phase_s, self.hot_rps, self.cold_rps, self.cv)

    def loopback(self) -> Scenario:
        """The loopback scenario that declares the models and the cluster."""
        return Scenario(
            models=dict.fromkeys(self.names, "bert"),
            slo_scale=self.slo_scale,
            slo_floor_s=self.slo_floor_s,
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


@dataclass
class AgentWatch:
    """Reads an agent's ``/v1/status`` every :data:`WATCH_S` s from a thread:
    when each applied version was first seen (s after ``origin``, a
    ``time.time()``) and every replica load it reported."""

    url: str
    key: str
    origin: float
    applied: dict[int, float] = field(default_factory=dict)
    loads: dict[tuple[str, int, int], Load] = field(default_factory=dict)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def read(self) -> None:
        request = urllib.request.Request(
            f"{self.url}/v1/status", headers={"Authorization": f"Bearer {self.key}"}
        )
        try:
            with urllib.request.urlopen(request, timeout=5) as response:
                status = decode_json(response.read())
        except OSError:
            return
        version = status.get("applied_version")
        if isinstance(version, int):
            self.applied.setdefault(version, time.time() - self.origin)
        for record in status.get("loads", []):
            load = Load(**record)
            self.loads.setdefault((load.model, load.group, load.version), load)

    def __enter__(self) -> AgentWatch:
        def loop() -> None:
            while not self._stop.wait(WATCH_S):
                self.read()

        self.read()
        self._thread = threading.Thread(target=loop, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(10)
        self.read()


def decode_json(raw: bytes) -> dict[str, Any]:
    """A JSON object ({} for any other JSON value)."""
    data = json.loads(raw)
    return data if isinstance(data, dict) else {}


@dataclass(frozen=True)
class Replayed:
    """One replay: what was sent (arrival times from its start), the
    simulator's per-window prediction for it and the plan it simulated."""

    sent: tuple[Sent, ...]
    measured: tuple[tuple[int, int], ...]
    simulated: tuple[float, ...]
    simulated_total: float
    plan: TimedPlan

    @property
    def attainment(self) -> float:
        return attainment(self.sent)


@dataclass(frozen=True)
class LiveRun:
    """What the live run produced (module docstring)."""

    scenario: LiveScenario
    cluster: Cluster
    models: tuple[ModelSpec, ...]
    workload: Workload
    first_plan_id: int
    live: Replayed
    static: Replayed | None
    traffic: tuple[dict[str, Any], ...]
    decisions: tuple[dict[str, Any], ...]
    loads: tuple[Load, ...]
    applied_s: Mapping[int, float]
    phases_s: Mapping[str, float]


def unix_seconds(stamp: str) -> float:
    """An API timestamp (ISO 8601; naive means UTC) as unix seconds."""
    moment = dt.datetime.fromisoformat(stamp)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return moment.timestamp()


def live_plan(
    first: Placement,
    decisions: Sequence[dict[str, Any]],
    placements: Mapping[int, Placement],
    origin: float,
) -> TimedPlan:
    """The plans the chosen decisions activated, each from when it was
    activated (its ``created_at``, s after ``origin``), after ``first``."""
    steps: list[tuple[float, Placement]] = [(0.0, first)]
    for decision in decisions:
        if not decision["chosen"] or decision["plan_id"] is None:
            continue
        at = max(unix_seconds(decision["created_at"]) - origin, 0.0)
        if at <= steps[-1][0]:
            at = steps[-1][0] + 1e-3
        steps.append((at, placements[decision["plan_id"]]))
    return TimedPlan(tuple(steps))


def load_seconds(loads: Sequence[Load]) -> dict[str, float]:
    """Per model, the longest measured load (s)."""
    seconds: dict[str, float] = {}
    for load in loads:
        seconds[load.model] = max(seconds.get(load.model, 0.0), load.seconds)
    return seconds


class LiveDemo:
    """Runs the steps of the module docstring on a fresh deployment."""

    def __init__(self, workdir: Path, scenario: LiveScenario, say: Say) -> None:
        self.workdir = workdir
        self.scenario = scenario
        self.say = say
        self.deployment = Deployment(workdir)
        self.phases: dict[str, float] = {}
        self._clock = time.perf_counter()

    def phase(self, name: str) -> None:
        now = time.perf_counter()
        self.phases[name] = now - self._clock
        self._clock = now

    def run(self) -> LiveRun:
        try:
            return self._run()
        finally:
            self.deployment.close()

    def _run(self) -> LiveRun:
        s = self.scenario
        base = s.loopback()
        api = self.deployment.start_api()
        self.say(f"  API at {api.base_url}; profiling the tiny BERT on this machine")
        specs = tuple(declare_models(self.deployment, api, base))
        cluster = scenario_cluster(specs, base)
        cluster_id = api.call("POST", "/v1/clusters", {"name": "live", **encode(cluster)})[2]["id"]
        workload = s.shift().workload(s.seed)
        self.phase("setup")
        first = solve_and_activate(api, cluster_id, window_workload(workload, 0, s.phase_s), base)
        first_plan_id = int(api.call("GET", f"/v1/clusters/{cluster_id}/plan")[2]["plan_id"])
        self.say(
            f"  {len(specs)} models (SLO {1e3 * specs[0].slo_s:.0f} ms), {cluster.num_devices} "
            f"devices holding {len(first.model_names)} of them; first plan {first_plan_id}"
        )
        self.deployment.start_agent(cluster_id, 0, s.devices, "tiny")
        wait_for(lambda: agents_applied(api, cluster_id, 1), AGENT_TIMEOUT_S, "agent")
        router = self.deployment.start_router(cluster_id, "--traffic-every-s", "1")
        agent_url = api.executors(cluster_id)[0]["url"]
        self.phase("start")

        settings = {
            "enabled": True,
            "window_s": s.window_s,
            "forecaster": s.forecaster,
            "min_gain": s.min_gain,
            "max_switches_per_hour": 3600,
        }
        origin = float(api.call("PUT", f"/v1/clusters/{cluster_id}/replanner", settings)[2]["next_window"])
        self.say(
            f"  re-planner on (window {s.window_s} s, forecaster {s.forecaster}); replaying "
            f"{workload.num_requests} requests over {workload.duration_s:g} s"
        )
        with AgentWatch(agent_url, self.deployment.inference_key, origin) as watch:
            sent = self._replay_at(origin, router, workload, specs)
            time.sleep(FLUSH_S)
        api.call("PUT", f"/v1/clusters/{cluster_id}/replanner", {**settings, "enabled": False})
        self.phase("live replay")
        since = int(origin)
        traffic = api.call(
            "GET", f"/v1/clusters/{cluster_id}/traffic?since={since}&window_s={s.window_s}"
        )[2]["windows"]
        decisions = [
            d
            for d in api.call("GET", f"/v1/clusters/{cluster_id}/decisions?limit=100")[2]["items"]
            if d["window_start"] >= since
        ]
        placements = {
            d["plan_id"]: decode(
                Placement, api.call("GET", f"/v1/plans/{d['plan_id']}")[2]["placement"], "placement"
            )
            for d in decisions
            if d["chosen"] and d["plan_id"] is not None
        }
        loads = tuple(watch.loads.values())
        timed = live_plan(first, decisions, placements, origin)
        sim_cluster = measured_cluster(cluster, specs, load_seconds(loads))
        live = self._replayed(sent, sim_cluster, specs, timed, workload)

        static = None
        if s.static:
            api.call("POST", f"/v1/clusters/{cluster_id}/active-plan", {"plan_id": first_plan_id})
            wait_for(lambda: agents_applied(api, cluster_id, 1), AGENT_TIMEOUT_S, "agent")
            self.say("  re-planner off, first plan active again; replaying the same trace")
            again = self._replay_at(time.time(), router, workload, specs)
            static = self._replayed(again, cluster, specs, TimedPlan.static(first), workload)
            self.phase("static replay")
        return LiveRun(
            scenario=s,
            cluster=cluster,
            models=specs,
            workload=workload,
            first_plan_id=first_plan_id,
            live=live,
            static=static,
            traffic=tuple(traffic),
            decisions=tuple(decisions),
            loads=tuple(sorted(loads, key=lambda x: (x.version, x.group, x.model))),
            applied_s=dict(sorted(watch.applied.items())),
            phases_s=dict(self.phases),
        )

    def _replay_at(
        self, start: float, router: str, workload: Workload, specs: Sequence[ModelSpec]
    ) -> list[Sent]:
        """Replay ``workload`` through ``router`` from unix time ``start``."""
        delay = start - time.time()
        if delay > 0:
            time.sleep(delay)
        slos = {spec.name: spec.slo_s for spec in specs}
        return replay(router, workload, slos, key=self.deployment.inference_key)

    def _replayed(
        self,
        sent: Sequence[Sent],
        cluster: Cluster,
        specs: Sequence[ModelSpec],
        plan: TimedPlan,
        workload: Workload,
    ) -> Replayed:
        window = float(self.scenario.window_s)
        predicted = simulate(cluster, specs, plan, workload, SimOptions(max_batch=1))
        per_window = np.nan_to_num(predicted.per_window_attainment(window), nan=1.0)
        return Replayed(
            sent=tuple(sent),
            measured=tuple(window_counts(sent, window, workload.duration_s)),
            simulated=tuple(float(x) for x in per_window),
            simulated_total=predicted.attainment,
            plan=plan,
        )


def run_live(workdir: Path, scenario: LiveScenario | None = None, say: Say = print) -> LiveRun:
    """Run the live scenario (module docstring) in ``workdir``."""
    workdir.mkdir(parents=True, exist_ok=True)
    return LiveDemo(workdir, scenario or LiveScenario(), say).run()

