"""A whole meshplan deployment on 127.0.0.1, each part its own process (API
with a job worker, profiler, agents, router), and the fidelity scenario run
on it:

1. measure one probe model per family with ``meshplan profile measure``
   (real forward passes on this machine, uploaded to the API); declare the
   scenario's models with the measured profile of their family and an SLO of
   ``slo_scale`` x its single-device batch-1 latency, at least
   ``slo_floor_s`` (latency does not
   depend on the seeded weights, so a family's profile holds for each of its
   models); declare the cluster (one node per agent), memory for
   ``replicas_per_device`` of the largest model per device;
2. post the workload, solve it (greedy, in the job worker), activate;
3. start the agents and the router; wait until every agent reports the
   plan's version;
4. replay the workload through the router; compare the measured SLO
   attainment with the simulator's prediction for the same plan, profiles
   and trace.

Every JAX process runs XLA single-threaded (:data:`XLA_ONE_THREAD`), so an
emulated device costs at most one core, as the profiler measured it.
Used by the end-to-end test and by ``bench.fidelity``.
"""

from __future__ import annotations

import os
import secrets
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from executor.api_client import API_KEY_ENV, ApiClient, ApiError, ApiUnavailable
from executor.endpoint import KEY_ENV
from executor.replay import Sent, attainment, replay
from planner.autoparallel import Architecture
from planner.codec import decode, encode
from planner.domain import Cluster, ModelSpec, ParallelConfig, Placement, Profile, Workload
from planner.sim import simulate
from planner.sim.options import SimOptions
from planner.workloads import ProcessSpec, process_workload

MESHPLAN = str(Path(sys.executable).with_name("meshplan"))
XLA_ONE_THREAD = "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"
START_TIMEOUT_S = 120.0
PROFILE_REPEATS = 30
"""Timed runs per bucket when profiling: on a shared machine a median of a
few back-to-back runs varies by 3x from one moment to the next (9.9 to
40.5 ms for the same BERT batch), so the profile takes many."""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_for(check: Callable[[], bool], timeout_s: float, what: str) -> None:
    """Poll ``check`` until it is true; TimeoutError naming ``what``."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.2)
    raise TimeoutError(f"{what}: not ready after {timeout_s} s")


def answers(url: str) -> bool:
    """Whether an HTTP server answers at ``url`` (with any status)."""
    try:
        with urllib.request.urlopen(url, timeout=2):
            return True
    except urllib.error.HTTPError:
        return True
    except OSError:
        return False


@dataclass
class Deployment:
    """Processes of one loopback deployment; logs go to ``workdir``. Agents
    and the router ask for ``inference_key`` (a fresh one by default). With
    ``base_port`` the parts listen on consecutive ports from it, in the order
    they start (API, agents, router); without, each on a free port."""

    workdir: Path
    base_port: int | None = None
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)
    logs: list[IO[bytes]] = field(default_factory=list)
    api_url: str = ""
    keys: dict[str, str] = field(default_factory=dict)
    inference_key: str = field(default_factory=lambda: secrets.token_urlsafe(32), repr=False)

    def __post_init__(self) -> None:
        self._next_port = self.base_port

    def next_port(self) -> int:
        """The port of the next part to start: ``base_port`` + the number of
        parts started so far, or a free one without ``base_port``."""
        if self._next_port is None:
            return free_port()
        self._next_port += 1
        return self._next_port - 1

    def _spawn(self, name: str, args: Sequence[str], env: dict[str, str] | None = None) -> None:
        log = (self.workdir / f"{name}.log").open("wb")
        self.logs.append(log)
        self.processes.append(
            subprocess.Popen(
                [MESHPLAN, *args], stdout=log, stderr=subprocess.STDOUT, env=env or dict(os.environ)
            )
        )

    def _run(self, *args: str, env: dict[str, str] | None = None) -> str:
        done = subprocess.run(
            [MESHPLAN, *args], capture_output=True, text=True, env=env or dict(os.environ)
        )
        if done.returncode:
            raise RuntimeError(f"meshplan {args[0]} failed: {done.stderr[-2000:]}")
        return done.stdout.strip()

    @staticmethod
    def jax_env(devices: int) -> dict[str, str]:
        flags = f"--xla_force_host_platform_device_count={devices} {XLA_ONE_THREAD}"
        return {**os.environ, "XLA_FLAGS": flags}

    def keyed(self, env: dict[str, str], role: str) -> dict[str, str]:
        """``env`` with the inference key and the API key of ``role``: keys
        travel in the environment, not on command lines (which ps shows)."""
        return {**env, KEY_ENV: self.inference_key, API_KEY_ENV: self.keys[role]}

    def measure(self, model_ids: Sequence[int], configs: Sequence[str], scale: str) -> None:
        """Profile models with ``meshplan profile measure`` (uploads them)."""
        devices = max(ParallelConfig.parse(c).size for c in configs)
        args = [
            "profile",
            "measure",
            "--api",
            self.api_url,
            "--configs",
            ",".join(configs),
            "--scale",
            scale,
        ]
        args += ["--repeats", str(PROFILE_REPEATS)]
        args += [arg for model_id in model_ids for arg in ("--model", str(model_id))]
        self._run(*args, env=self.keyed(self.jax_env(devices), "executor"))

    def start_api(self) -> ApiClient:
        """Migrate a SQLite database, create an admin key, serve the API with
        one job worker, create an executor key through it; returns an admin
        client."""
        database = f"sqlite:///{self.workdir / 'meshplan.db'}"
        self._run("db", "upgrade", "--database-url", database)
        admin = self._run("keys", "create", "--role", "admin", "--database-url", database)
        port = self.next_port()
        self.api_url = f"http://127.0.0.1:{port}"
        args = ["serve", "--dev", "--with-worker", "--port", str(port), "--database-url", database]
        self._spawn("api", args)
        wait_for(lambda: answers(f"{self.api_url}/healthz"), START_TIMEOUT_S, "api")
        client = ApiClient(self.api_url, admin)
        executor = client.call("POST", "/v1/keys", {"name": "agents", "role": "executor"})[2]
        self.keys = {"admin": admin, "executor": executor["key"]}
        return client

    def start_agent(
        self, cluster_id: int, first: int, count: int, scale: str, *options: str
    ) -> None:
        """An agent driving global devices ``first .. first + count - 1`` on
        ``count`` emulated CPU devices of its own (logging at info level:
        its log says how long each plan took to load), with extra
        command-line ``options`` (e.g. ``--interval-s 0.25``)."""
        devices = f"{first}-{first + count - 1}"
        args = [
            "-v",
            "agent",
            "--api",
            self.api_url,
            "--cluster",
            str(cluster_id),
            "--devices",
            devices,
            "--name",
            f"agent-{devices}",
        ]
        args += ["--scale", scale, "--port", str(self.next_port()), *options]
        self._spawn(f"agent-{devices}", args, self.keyed(self.jax_env(count), "executor"))

    def start_router(self, cluster_id: int, *options: str) -> str:
        """The router of ``cluster_id`` (with extra command-line ``options``,
        e.g. ``--traffic-every-s 1``); its URL once it answers."""
        port = self.next_port()
        args = ["router", "--api", self.api_url, "--cluster", str(cluster_id), "--port", str(port)]
        args += options
        self._spawn("router", args, self.keyed(dict(os.environ), "admin"))
        url = f"http://127.0.0.1:{port}"
        wait_for(lambda: answers(f"{url}/healthz"), START_TIMEOUT_S, "router")
        return url

    def close(self) -> None:
        for process in self.processes:
            process.terminate()
        for process in self.processes:
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                process.kill()
        for log in self.logs:
            log.close()


FAMILY_ARCHS = {
    "bert": Architecture(
        "bert", num_layers=4, hidden=256, heads=4, vocab=1024, seq_len=64, dtype_bytes=4
    ),
    "moe": Architecture(
        "moe",
        num_layers=4,
        hidden=256,
        heads=4,
        num_experts=4,
        vocab=1024,
        seq_len=64,
        dtype_bytes=4,
    ),
}
"""The small architectures the scenario serves (``scale="full"``)."""


@dataclass(frozen=True)
class Scenario:
    """The fidelity scenario's knobs (see the module docstring)."""

    models: dict[str, str] = field(
        default_factory=lambda: {"bert-a": "bert", "bert-b": "bert", "moe-c": "moe"}
    )
    rate_rps: float = 10.0
    cv: float = 2.0
    duration_s: float = 20.0
    slo_scale: float = 5.0
    slo_floor_s: float = 0.0
    max_batch: int = 2
    configs: tuple[str, ...] = ("op1xpp1",)
    agents: int = 2
    devices_per_agent: int = 1
    replicas_per_device: int = 2
    scale: str = "full"
    seed: int = 1


@dataclass(frozen=True)
class FidelityResult:
    """Both attainments, what produced them, and seconds per phase."""

    measured: float
    simulated: float
    placement: Placement
    models: tuple[ModelSpec, ...]
    sent: tuple[Sent, ...]
    phases_s: dict[str, float]


PLACEHOLDER_PROFILE = {
    "configs": [{"config": {"op": 1, "pp": 1}, "latency_s": [[1.0]], "stage_weight_bytes": [1]}]
}


def declare_models(deployment: Deployment, api: ApiClient, scenario: Scenario) -> list[ModelSpec]:
    """Step 1 of the module docstring: measured profiles, then the models."""
    families = sorted(set(scenario.models.values()))
    probes = {}
    for family in families:
        body = {
            "name": f"probe-{family}",
            "slo_s": 1.0,
            "family": family,
            "architecture": encode(FAMILY_ARCHS[family]),
            "profile": PLACEHOLDER_PROFILE,
            "max_batch": scenario.max_batch,
        }
        probes[family] = api.call("POST", "/v1/models", body)[2]["id"]
    deployment.measure(list(probes.values()), scenario.configs, scenario.scale)
    measured = {
        family: decode(Profile, api.model(model_id)["profile"], "profile")
        for family, model_id in probes.items()
    }
    specs = []
    for name, family in scenario.models.items():
        profile = measured[family]
        slo_s = max(
            scenario.slo_floor_s, scenario.slo_scale * profile[ParallelConfig(1, 1)].latency(1)
        )
        spec = ModelSpec(name, slo_s, profile, family)
        body = {
            **encode(spec),
            "architecture": encode(FAMILY_ARCHS[family]),
            "max_batch": scenario.max_batch,
        }
        api.call("POST", "/v1/models", body)
        specs.append(spec)
    return specs


def solve_and_activate(
    api: ApiClient, cluster_id: int, workload: Workload, scenario: Scenario
) -> Placement:
    """Step 2: post the workload, solve with greedy and activate."""
    per_model = {n: workload.for_model(n).tolist() for n in workload.model_names}
    body = {"name": "trace", "duration_s": workload.duration_s, "arrivals_s": per_model}
    workload_id = api.call("POST", "/v1/workloads", body)[2]["id"]
    job = {
        "cluster_id": cluster_id,
        "workload_id": workload_id,
        "model_names": list(scenario.models),
        "solver": "greedy",
        "time_limit_s": 60.0,
        "options": {"max_batch": scenario.max_batch},
        "activate": True,
    }
    job_id = api.call("POST", "/v1/plans", job)[2]["id"]
    result: dict[str, Any] = {}

    def finished() -> bool:
        result.update(api.call("GET", f"/v1/jobs/{job_id}")[2])
        return result["status"] in ("succeeded", "failed", "cancelled")

    wait_for(finished, START_TIMEOUT_S, f"job {job_id}")
    if result["status"] != "succeeded":
        raise RuntimeError(f"job {job_id} {result['status']}: {result.get('error')}")
    plan = api.call("GET", f"/v1/clusters/{cluster_id}/plan")[2]
    return decode(Placement, plan["placement"], "placement")


def agents_applied(api: ApiClient, cluster_id: int, count: int) -> bool:
    """Whether ``count`` agents report the cluster's active plan version."""
    try:
        version = api.call("GET", f"/v1/clusters/{cluster_id}/plan")[2]["version"]
        executors = api.executors(cluster_id)
    except (ApiError, ApiUnavailable):
        return False
    ready = [e for e in executors if e["applied_version"] == version and e["state"] == "serving"]
    return len(ready) == count


def scenario_cluster(specs: Sequence[ModelSpec], scenario: Scenario) -> Cluster:
    largest = max(
        stage.weight_bytes + stage.act_bytes * stage.max_batch
        for spec in specs
        for stage in spec.profile.by_config.values()
    )
    return Cluster(
        scenario.agents * scenario.devices_per_agent,
        scenario.replicas_per_device * largest,
        devices_per_node=scenario.devices_per_agent,
    )


def run_fidelity(workdir: Path, scenario: Scenario | None = None) -> FidelityResult:
    """Run the whole scenario (module docstring) and return both attainments."""
    scenario = scenario or Scenario()
    processes = {n: ProcessSpec(scenario.rate_rps, scenario.cv) for n in scenario.models}
    workload = process_workload(processes, scenario.duration_s, scenario.seed)
    deployment = Deployment(workdir)
    phases: dict[str, float] = {}
    clock = time.perf_counter()

    def phase(name: str) -> None:
        nonlocal clock
        phases[name] = time.perf_counter() - clock
        clock = time.perf_counter()

    try:
        api = deployment.start_api()
        phase("api")
        specs = declare_models(deployment, api, scenario)
        phase("profile")
        cluster = scenario_cluster(specs, scenario)
        body = {"name": "loopback", **encode(cluster)}
        cluster_id = api.call("POST", "/v1/clusters", body)[2]["id"]
        placement = solve_and_activate(api, cluster_id, workload, scenario)
        phase("solve")
        for k in range(scenario.agents):
            first = k * scenario.devices_per_agent
            deployment.start_agent(cluster_id, first, scenario.devices_per_agent, scenario.scale)
        wait_for(
            lambda: agents_applied(api, cluster_id, scenario.agents), START_TIMEOUT_S, "agents"
        )
        phase("agents")
        router = deployment.start_router(cluster_id)
        phase("router")
        slos = {s.name: s.slo_s for s in specs}
        sent = replay(router, workload, slos, key=deployment.inference_key)
        phase("replay")
    finally:
        deployment.close()
    options = SimOptions(max_batch=scenario.max_batch)
    predicted = simulate(cluster, specs, placement, workload, options)
    return FidelityResult(
        attainment(sent), predicted.attainment, placement, tuple(specs), tuple(sent), phases
    )
