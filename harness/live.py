"""Live re-placement on a loopback deployment (``meshplan demo --live``, the
end-to-end test, ``bench.live_fidelity``): a trace whose popularity shifts
is replayed through the router to one agent on emulated CPU devices while
the service re-plans, then replayed again on the first plan kept.

The parameters are a :class:`harness.live_data.LiveScenario`; what the run
produces is a :class:`harness.live_data.LiveRun`.

1. on a deployment whose API (with its job worker) is up: the models (tiny
   BERTs profiled on this machine by the profiler,
   :func:`harness.loopback.declare_models`); a cluster whose devices hold
   ``replicas_per_device`` model each, so the fleet hosts fewer models
   than there are (re-placement matters);
2. the trace (:class:`planner.workloads.PhaseShift`: ``phases`` phases of
   ``phase_s`` s, each with its own ``hot_size`` hot models, over the
   background models);
   the first plan is solved (greedy, in the worker) on the first phase's
   arrivals and activated;
3. the agent on ``devices`` emulated CPU devices and the router (reporting
   its traffic every second);
4. **live**: the re-planner is turned on (window ``window_s``, forecaster
   ``forecaster``, the drift watch of ``react_drift`` and ``nowcast_s``)
   and the trace replayed from the start of its first window, so the
   replay's windows are the re-planner's; meanwhile the
   agent's ``/v1/status`` is read every :data:`WATCH_S` s for its applied
   version and the measured load of every replica it builds;
5. the observed traffic, the decisions of the replay's windows and the
   plans they activated are read from the API; the re-planner is turned
   off;
6. **static**: the first plan is activated again and, once the agent
   applied it, the same trace is replayed;
7. the simulator predicts each replay with the same arrivals and profiles:
   the live one with the plans the decisions activated, each from when it
   was activated (and, apart, from when the agent reported it applied),
   loading at the switches' measured load times; the static one with the
   first plan. Attainment is compared window by window;
8. the hops are probed: requests one at a time to the agent directly and
   through the router (:class:`HopProbe`).
"""

from __future__ import annotations

import json
import threading
import time
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from executor.api_client import ApiClient
from executor.replay import (
    Sent,
    agent_timings,
    post_answer,
    replay,
    window_counts,
)
from harness.live_data import (
    HopProbe,
    LiveRun,
    LiveScenario,
    Load,
    Replayed,
    switch_load_seconds,
    timed_plan,
    unix_seconds,
)
from harness.loopback import (
    Deployment,
    agents_applied,
    declare_models,
    scenario_cluster,
    solve_and_activate,
    wait_for,
)
from planner.codec import decode, encode
from planner.domain import Cluster, ModelSpec, ParallelConfig, Placement, TimedPlan, Workload
from planner.replan.live import measured_cluster
from planner.sim import SimOptions, simulate
from planner.workloads.windows import window_workload

Say = Callable[[str], None]

WATCH_S = 0.5
"""How often the agent's status is read during a replay (s)."""
AGENT_TIMEOUT_S = 600.0
"""How long the agent may take to build a plan's replicas."""
FLUSH_S = 2.5
"""Wait after a replay so the router's last traffic bins reach the API (s)."""
PROBES = 30
"""Requests each way of the hop probe."""
MAX_SWITCHES_PER_HOUR = 3600
"""The re-planner's cap, out of the way: the demo's windows are seconds long."""


@dataclass
class AgentWatch:
    """Reads an agent's ``/v1/status`` every :data:`WATCH_S` s from a thread:
    when each applied version was first seen (s after ``origin``, a
    ``time.time()``; so up to :data:`WATCH_S` late) and every replica load
    it reported."""

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


def probe_hops(router: str, agent: str, spec: ModelSpec, key: str, count: int = PROBES) -> HopProbe:
    """:class:`HopProbe` of ``count`` requests each way for ``spec``."""
    direct: list[tuple[float, float, float]] = []
    routed: list[tuple[float, float, float]] = []
    for i in range(count):
        for url, into in ((agent, direct), (router, routed)):
            begin = time.perf_counter()
            status, answer = post_answer(
                f"{url}/v1/infer/{spec.name}", {"num_sequences": 1, "seed": i}, key
            )
            took = time.perf_counter() - begin
            queue_s, compute_s = agent_timings(status, answer)
            if queue_s is not None and compute_s is not None:
                into.append((took, queue_s + compute_s, compute_s))
    if not direct or not routed:
        raise RuntimeError(f"hop probe: no answer for {spec.name}")

    def median(rows: list[tuple[float, float, float]], k: int) -> float:
        return float(np.median([row[k] for row in rows]))

    return HopProbe(
        spec.name,
        min(len(direct), len(routed)),
        median(direct, 0),
        median(routed, 0),
        median(direct, 1),
        median(direct, 2),
        spec.profile[ParallelConfig(1, 1)].latency(1),
    )


@dataclass(frozen=True)
class Fleet:
    """The deployment's parts the live run talks to, and the first plan."""

    api: ApiClient
    cluster_id: int
    cluster: Cluster
    models: tuple[ModelSpec, ...]
    router: str
    agent_url: str
    first: Placement
    first_id: int
    first_version: int


class LiveDemo:
    """Runs steps 1-7 of the module docstring on ``deployment``, whose API
    (``api``, an admin client) is already started."""

    def __init__(
        self, deployment: Deployment, api: ApiClient, scenario: LiveScenario, say: Say
    ) -> None:
        self.deployment = deployment
        self.api = api
        self.scenario = scenario
        self.say = say
        self.phases: dict[str, float] = {}
        self._clock = time.perf_counter()

    def phase(self, name: str) -> None:
        now = time.perf_counter()
        self.phases[name] = now - self._clock
        self._clock = now

    def run(self) -> LiveRun:
        s = self.scenario
        fleet = self._deploy()
        workload = s.shift().workload(s.seed)
        self.say(
            f"  re-planner on (window {s.window_s} s, forecaster {s.forecaster}); replaying "
            f"{workload.num_requests} requests over {workload.duration_s:g} s"
        )
        origin, sent, watch = self._replay_live(fleet, workload)
        self.phase("live replay")
        api, cluster_id = fleet.api, fleet.cluster_id
        traffic = api.call(
            "GET", f"/v1/clusters/{cluster_id}/traffic?since={int(origin)}&window_s={s.window_s}"
        )[2]["windows"]
        decisions = [
            d
            for d in api.call("GET", f"/v1/clusters/{cluster_id}/decisions?limit=100")[2]["items"]
            if origin <= d["window_start"] < origin + workload.duration_s
        ]
        placements = {
            d["plan_id"]: decode(
                Placement, api.call("GET", f"/v1/plans/{d['plan_id']}")[2]["placement"], "placement"
            )
            for d in decisions
            if d["chosen"] and d["plan_id"] is not None
        }
        loads = tuple(sorted(watch.loads.values(), key=lambda x: (x.version, x.group, x.model)))
        chosen = [d for d in decisions if d["chosen"] and d["plan_id"] is not None]
        activated = [(unix_seconds(d["created_at"]) - origin, d) for d in chosen]
        timed = timed_plan(fleet.first, [(at, placements[d["plan_id"]]) for at, d in activated])
        reached = timed_plan(
            fleet.first,
            [
                (watch.applied.get(d["version"], at), placements[d["plan_id"]])
                for at, d in activated
            ],
        )
        measured = switch_load_seconds(loads, fleet.first_version)
        sim_cluster = measured_cluster(fleet.cluster, fleet.models, measured)
        live = self._replayed(sent, sim_cluster, fleet.models, timed, workload, reached)
        static = None
        if s.static:
            api.call("POST", f"/v1/clusters/{cluster_id}/active-plan", {"plan_id": fleet.first_id})
            wait_for(lambda: agents_applied(api, cluster_id, 1), AGENT_TIMEOUT_S, "agent")
            self.say("  re-planner off, the first plan active again; replaying the same trace")
            again = self._replay_at(time.time(), fleet.router, workload, fleet.models)
            plan = TimedPlan.static(fleet.first)
            static = self._replayed(again, fleet.cluster, fleet.models, plan, workload)
            self.phase("static replay")
        hops = self._probe(fleet)
        self.phase("hop probe")
        return LiveRun(
            scenario=s,
            cluster=fleet.cluster,
            models=fleet.models,
            workload=workload,
            origin=origin,
            first_plan_id=fleet.first_id,
            first_version=fleet.first_version,
            live=live,
            static=static,
            traffic=tuple(traffic),
            decisions=tuple(decisions),
            loads=loads,
            applied_s=dict(sorted(watch.applied.items())),
            hops=hops,
            phases_s=dict(self.phases),
        )

    def _probe(self, fleet: Fleet) -> HopProbe:
        """Step 8, on a model of the plan the agent serves now."""
        api, cluster_id = fleet.api, fleet.cluster_id
        wait_for(lambda: agents_applied(api, cluster_id, 1), AGENT_TIMEOUT_S, "agent")
        served = api.call("GET", f"/v1/clusters/{cluster_id}/plan")[2]["placement"]
        names = decode(Placement, served, "placement").model_names
        spec = next(spec for spec in fleet.models if spec.name in names)
        return probe_hops(fleet.router, fleet.agent_url, spec, self.deployment.inference_key)

    def _deploy(self) -> Fleet:
        """Steps 1-3 of the module docstring."""
        s = self.scenario
        base = s.loopback()
        api = self.api
        self.say("  profiling the tiny BERT on this machine")
        specs = tuple(declare_models(self.deployment, api, base))
        cluster = scenario_cluster(specs, base)
        cluster_id = api.call("POST", "/v1/clusters", {"name": "live", **encode(cluster)})[2]["id"]
        self.phase("setup")
        first_phase = window_workload(s.shift().workload(s.seed), 0, s.phase_s)
        first = solve_and_activate(api, cluster_id, first_phase, base)
        served = api.call("GET", f"/v1/clusters/{cluster_id}/plan")[2]
        self.say(
            f"  {len(specs)} models (SLO {1e3 * specs[0].slo_s:.0f} ms), {cluster.num_devices} "
            f"devices holding {len(first.model_names)} of them; first plan {served['plan_id']}"
        )
        poll = ("--interval-s", f"{s.poll_s:g}")
        self.deployment.start_agent(cluster_id, 0, s.devices, "tiny", *poll)
        wait_for(lambda: agents_applied(api, cluster_id, 1), AGENT_TIMEOUT_S, "agent")
        router = self.deployment.start_router(cluster_id, "--traffic-every-s", "1", *poll)
        self.phase("start")
        return Fleet(
            api,
            cluster_id,
            cluster,
            specs,
            router,
            api.executors(cluster_id)[0]["url"],
            first,
            int(served["plan_id"]),
            int(served["version"]),
        )

    def _replay_live(
        self, fleet: Fleet, workload: Workload
    ) -> tuple[float, list[Sent], AgentWatch]:
        """Step 4: the re-planner on, the replay from its first window on
        while the agent is watched; the re-planner off again. The replay's
        start (unix s), what was sent, the watch."""
        s = self.scenario
        settings = {
            "enabled": True,
            "window_s": s.window_s,
            "forecaster": s.forecaster,
            "min_gain": s.min_gain,
            "max_switches_per_hour": MAX_SWITCHES_PER_HOUR,
            "react_drift": s.react_drift,
            "nowcast_s": s.nowcast_s,
        }
        path = f"/v1/clusters/{fleet.cluster_id}/replanner"
        origin = float(fleet.api.call("PUT", path, settings)[2]["next_window"])
        with AgentWatch(fleet.agent_url, self.deployment.inference_key, origin) as watch:
            sent = self._replay_at(origin, fleet.router, workload, fleet.models)
            time.sleep(FLUSH_S)
        fleet.api.call("PUT", path, {**settings, "enabled": False})
        return origin, sent, watch

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
        applied: TimedPlan | None = None,
    ) -> Replayed:
        window = float(self.scenario.window_s)

        def predict(timed: TimedPlan) -> tuple[tuple[float, ...], float]:
            result = simulate(cluster, specs, timed, workload, SimOptions(max_batch=1))
            per_window = np.nan_to_num(result.per_window_attainment(window), nan=1.0)
            return tuple(float(x) for x in per_window), result.attainment

        simulated, total = predict(plan)
        applied_windows, applied_total = predict(applied) if applied else (None, None)
        return Replayed(
            sent=tuple(sent),
            measured=tuple(window_counts(sent, window, workload.duration_s)),
            simulated=simulated,
            simulated_total=total,
            plan=plan,
            cluster=cluster,
            simulated_applied=applied_windows,
            simulated_applied_total=applied_total,
        )


def run_live(workdir: Path, scenario: LiveScenario | None = None, say: Say = print) -> LiveRun:
    """Run the live scenario (module docstring) on a deployment of its own
    in ``workdir``."""
    workdir.mkdir(parents=True, exist_ok=True)
    deployment = Deployment(workdir)
    try:
        api = deployment.start_api()
        return LiveDemo(deployment, api, scenario or LiveScenario(), say).run()
    finally:
        deployment.close()
