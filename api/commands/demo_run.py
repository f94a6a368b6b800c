"""The end-to-end demo behind ``meshplan demo`` (``make demo``): the whole
product on this machine, on the embedded SQLite database, with no input.

1. migrate a fresh SQLite database, create an admin and an executor key,
   start the API with one job worker (``meshplan serve --dev --with-worker``);
2. register the 8-device cluster and the S3-like model set (16 BERT/MoE
   models) from ``examples/``;
3. upload the shipped Azure Functions 2019 sample trace (its first minutes,
   rates scaled up) as the workload;
4. ask for a plan from each solver (greedy and CP-SAT) and follow the jobs;
5. compare the plans (the ``report compare`` table, with quick sweeps) and
   activate the better one;
6. measure the tiny CPU versions of the models' families with the profiler
   for the configs the plan uses;
7. start an agent on 8 emulated CPU devices serving the plan with tiny
   models, and a router in front of it;
8. replay the first seconds of the trace through the router and print the
   measured SLO attainment next to the simulator's prediction for the same
   plan and requests (with the measured tiny profiles, and with the plan's
   own profiles);
9. live re-placement (:mod:`harness.live`, skipped with ``live=None``): on
   a second cluster of the same API, a trace whose popularity shifts twice
   is replayed through a second router to a second agent (8 emulated
   devices, tiny models, too little memory for every model) with the
   re-planner on, then again on the first plan kept; the traffic, the
   decisions, the switches with their measured load times and the
   attainment per window (measured and simulated) are printed;
10. write the HTML report (stored through the API too) and stop everything.

With ``only_live`` the demo runs step 1 and steps 9-10 only
(``meshplan demo --live``).

The parts run as separate processes on 127.0.0.1
(:class:`harness.loopback.Deployment`); their logs stay in the work folder.
"""

from __future__ import annotations

import dataclasses
import json
import subprocess
import time
import urllib.parse
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console

from api.commands.common import AZURE2019_SAMPLE
from api.reporting.files import write_report
from api.reporting.live import console_tables, summary_lines
from api.reporting.tables import compare_table
from executor.api_client import ApiClient
from executor.replay import attainment, replay
from harness.live import LiveDemo
from harness.live_data import LiveScenario
from harness.loopback import MESHPLAN, START_TIMEOUT_S, Deployment, agents_applied, wait_for
from planner import files
from planner.codec import decode, encode
from planner.domain import ModelSpec, ParallelConfig, Placement, Profile, Workload
from planner.evaluation.reports import CompareReport, CompareSettings, build_compare
from planner.placement.solution import SolveResult
from planner.sim import SimOptions, simulate
from planner.workloads import scale_rate
from planner.workloads.windows import window_workload

Say = Callable[[str], None]

JOB_DONE = ("succeeded", "failed", "cancelled")
AGENT_DEVICES = 8
AGENT_TIMEOUT_S = 600.0
"""How long the agent may take to build and warm up every replica."""


@dataclass(frozen=True)
class DemoSettings:
    """What the demo runs. ``examples`` holds the cluster, model set and
    trace files; the trace's ``trace_end`` first minutes (``"day.hour.minute"``)
    are replayed at ``rate_scale`` times their rate; the first ``replay_s``
    seconds of it, thinned to about ``replay_rps`` requests per second (what
    a CPU agent serves comfortably), are sent to the agent. The API, the
    agents and the routers listen on ``base_port`` and the ports after it
    (on free ports when None). ``live`` is the live re-placement section's
    scenario (None: skipped); ``only_live`` runs that section alone."""

    workdir: Path
    examples: Path
    solvers: tuple[str, ...] = ("greedy", "cpsat")
    time_limit_s: float = 20.0
    trace_end: str = "0.0.5"
    rate_scale: float = 500.0
    cv_scale: float = 2.0
    replay_s: float = 20.0
    replay_rps: float = 10.0
    sweeps: bool = True
    base_port: int | None = None
    live: LiveScenario | None = field(default_factory=LiveScenario)
    only_live: bool = False

    @property
    def steps(self) -> int:
        if self.only_live:
            return 3
        return 10 if self.live else 9

    @property
    def cluster_file(self) -> Path:
        return self.examples / "cluster_8.json"

    @property
    def models_file(self) -> Path:
        return self.examples / "models_s3.json"

    @property
    def trace_file(self) -> Path:
        return self.examples / AZURE2019_SAMPLE

    def check(self) -> None:
        """FileNotFoundError naming the first missing input file."""
        for path in (self.cluster_file, self.models_file, self.trace_file):
            if not path.is_file():
                raise FileNotFoundError(f"examples: {path} is missing")


@dataclass(frozen=True)
class ServingCheck:
    """Measured against simulated SLO attainment of the replayed requests."""

    requests: int
    duration_s: float
    measured: float
    simulated_measured_profiles: float
    simulated_plan_profiles: float

    def to_json(self) -> dict[str, Any]:
        return {
            "requests": self.requests,
            "duration_s": self.duration_s,
            "devices": AGENT_DEVICES,
            "measured": self.measured,
            "simulated_measured_profiles": self.simulated_measured_profiles,
            "simulated_plan_profiles": self.simulated_plan_profiles,
        }


@dataclass(frozen=True)
class DemoResult:
    report: CompareReport
    report_dir: Path
    best: str | None
    serving: ServingCheck | None


def upload_trace(api: ApiClient, path: Path, query: dict[str, Any]) -> dict[str, Any]:
    """POST a trace file to ``/v1/workloads/upload`` (CSV body)."""
    request = urllib.request.Request(
        f"{api.base_url}/v1/workloads/upload?{urllib.parse.urlencode(query)}",
        data=path.read_bytes(),
        method="POST",
        headers={"Authorization": f"Bearer {api.key}", "Content-Type": "text/csv"},
    )
    with urllib.request.urlopen(request, timeout=api.timeout_s) as response:
        data: dict[str, Any] = json.loads(response.read())
        return data


def download_workload(api: ApiClient, workload_id: int, path: Path) -> Workload:
    """GET a workload's arrivals as its ``.npz`` file, save it at ``path``
    and read it."""
    request = urllib.request.Request(
        f"{api.base_url}/v1/workloads/{workload_id}/arrivals?format=npz",
        headers={"Authorization": f"Bearer {api.key}"},
    )
    with urllib.request.urlopen(request, timeout=api.timeout_s) as response:
        path.write_bytes(response.read())
    return files.load_workload(path)


def follow_jobs(
    api: ApiClient, job_ids: dict[str, int], timeout_s: float, say: Say
) -> dict[str, dict[str, Any]]:
    """Poll the jobs until all are done; every change of a job's progress
    message is told. RuntimeError when one did not succeed."""
    jobs: dict[str, dict[str, Any]] = {}
    told: dict[str, str] = {}

    def done() -> bool:
        for solver, job_id in job_ids.items():
            jobs[solver] = api.call("GET", f"/v1/jobs/{job_id}")[2]
            line = f"{jobs[solver]['status']} {100 * jobs[solver]['progress']:.0f}%"
            message = jobs[solver].get("message")
            line += f" {message}" if message else ""
            if told.get(solver) != line:
                told[solver] = line
                say(f"  job {job_id} ({solver}): {line}")
        return all(job["status"] in JOB_DONE for job in jobs.values())

    wait_for(done, timeout_s, "plan jobs")
    for solver, job in jobs.items():
        if job["status"] != "succeeded":
            raise RuntimeError(f"{solver} job {job['id']} {job['status']}: {job.get('error')}")
    return jobs


def solve_result(solver: str, job: dict[str, Any], plan: dict[str, Any]) -> SolveResult:
    """A job and its plan as the solver's result."""
    return SolveResult(
        placement=decode(Placement, plan["placement"], "placement"),
        attainment=float(plan["attainment"]),
        solver=solver,
        status=job["solve_status"],
        wall_s=float(job["wall_s"]),
        proxy_objective=job["objective"],
        bound=job["bound"],
        gap=job["gap"],
        upper_bound=job.get("upper_bound"),
    )


def measure_families(
    deployment: Deployment,
    probes: dict[str, tuple[int, str]],
    configs: Sequence[ParallelConfig],
    out: Path,
) -> dict[str, Profile]:
    """Profile the tiny version of each family, through one of its models
    (``probes[family] = (model id, model name)``), for ``configs`` with
    ``meshplan profile measure``, without uploading."""
    devices = max(c.size for c in configs)
    args = [MESHPLAN, "profile", "measure", "--api", deployment.api_url]
    args += ["--scale", "tiny", "--no-upload"]
    args += ["--configs", ",".join(str(c) for c in configs), "--output", str(out)]
    args += [arg for model_id, _ in probes.values() for arg in ("--model", str(model_id))]
    done = subprocess.run(
        args,
        capture_output=True,
        text=True,
        env=deployment.keyed(deployment.jax_env(devices), "executor"),
        check=False,
    )
    if done.returncode:
        raise RuntimeError(f"meshplan profile measure failed: {done.stderr[-2000:]}")
    measured = files.read_json(out)
    return {
        family: decode(Profile, measured[name], "profile") for family, (_, name) in probes.items()
    }


def family_probes(models: Sequence[ModelSpec], ids: dict[str, int]) -> dict[str, tuple[int, str]]:
    """The first model of each family, as (id, name)."""
    probes: dict[str, tuple[int, str]] = {}
    for model in models:
        probes.setdefault(model.family, (ids[model.name], model.name))
    return probes


class Demo:
    """The steps of the module docstring, in order, telling each one."""

    def __init__(self, settings: DemoSettings, console: Console) -> None:
        self.settings = settings
        self.console = console
        self.started = time.monotonic()
        self.step_number = 0
        self.deployment = Deployment(settings.workdir, settings.base_port)

    def say(self, text: str) -> None:
        self.console.print(text, highlight=False, markup=False)

    def step(self, title: str) -> None:
        self.step_number += 1
        elapsed = time.monotonic() - self.started
        self.say(f"[{self.step_number}/{self.settings.steps} {elapsed:5.1f}s] {title}")

    def run(self) -> DemoResult:
        settings = self.settings
        settings.check()
        settings.workdir.mkdir(parents=True, exist_ok=True)
        try:
            return self._run_live_only() if settings.only_live else self._run()
        finally:
            self.say("shutting down the agent, router and API")
            self.deployment.close()

    def _run(self) -> DemoResult:
        s = self.settings
        self.step("migrating the SQLite database, creating keys, starting the API and a worker")
        api = self.deployment.start_api()
        self.say(f"  API at {api.base_url} (database {s.workdir / 'meshplan.db'})")

        self.step("registering the 8-device cluster and the S3-like model set")
        cluster = files.load_cluster(s.cluster_file)
        cluster_id = api.call("POST", "/v1/clusters", {"name": "demo", **encode(cluster)})[2]["id"]
        models = files.load_models(s.models_file)
        # one batch size: the agent compiles (and the profiler measures) less
        ids = {
            m.name: api.call("POST", "/v1/models", {**encode(m), "max_batch": 1})[2]["id"]
            for m in models
        }
        self.say(f"  cluster {cluster_id}: {cluster.num_devices} devices; {len(models)} models")

        self.step("uploading the Azure Functions 2019 sample trace")
        query = {
            "name": "azure2019-sample",
            "format": "azure2019",
            "models": ",".join(m.name for m in models),
            "end": s.trace_end,
            "rate_scale": s.rate_scale,
            "cv_scale": s.cv_scale,
        }
        uploaded = upload_trace(api, s.trace_file, query)
        workload = download_workload(api, uploaded["id"], s.workdir / "workload.npz")
        self.say(
            f"  workload {uploaded['id']}: {workload.num_requests} requests over "
            f"{workload.duration_s:g} s"
        )

        self.step(f"planning with {' and '.join(s.solvers)} (jobs run in the worker)")
        job_ids = {
            solver: api.call(
                "POST",
                "/v1/plans",
                {
                    "cluster_id": cluster_id,
                    "workload_id": uploaded["id"],
                    "solver": solver,
                    "time_limit_s": s.time_limit_s,
                },
            )[2]["id"]
            for solver in s.solvers
        }
        timeout_s = START_TIMEOUT_S + 2 * s.time_limit_s * len(job_ids)
        jobs = follow_jobs(api, job_ids, timeout_s, self.say)
        plans = {
            solver: api.call("GET", f"/v1/plans/{job['plan_id']}")[2]
            for solver, job in jobs.items()
        }

        self.step("comparing the plans (simulated on the trace, quick sweeps)")
        results = {
            solver: solve_result(solver, jobs[solver], plans[solver]) for solver in s.solvers
        }
        settings = CompareSettings.quick(
            solvers=s.solvers, time_limit_s=s.time_limit_s, sweep_time_limit_s=2.0
        )
        if not s.sweeps:
            settings = dataclasses.replace(
                settings, rate_scales=(), cv_scales=(), slo_scales=(), device_factors=()
            )
        report = build_compare(
            cluster,
            models,
            workload,
            settings,
            title="meshplan demo: greedy vs CP-SAT on the S3-like set",
            results=results,
            progress=lambda done, total, message: self.say(f"  [{done}/{total}] {message}"),
        )
        self.console.print(compare_table(report))
        best = report.best.label
        plan_id = plans[best]["id"]
        api.call("POST", f"/v1/clusters/{cluster_id}/active-plan", {"plan_id": plan_id})
        self.say(f"  activated plan {plan_id} ({best})")

        self.step("measuring the tiny CPU models with the profiler")
        placement = report.best.placement
        configs = sorted({g.config for g in placement.groups})
        profiles = measure_families(
            self.deployment, family_probes(models, ids), configs, s.workdir / "tiny-profiles.json"
        )

        self.step(f"starting an agent on {AGENT_DEVICES} emulated CPU devices and a router")
        self.deployment.start_agent(cluster_id, 0, AGENT_DEVICES, "tiny")
        wait_for(lambda: agents_applied(api, cluster_id, 1), AGENT_TIMEOUT_S, "agent")
        router = self.deployment.start_router(cluster_id)
        self.say(f"  router at {router}")

        self.step(f"replaying the first {s.replay_s:g} s of the trace through the router")
        part = window_workload(workload, 0.0, s.replay_s)
        factor = min(1.0, s.replay_rps * part.duration_s / max(part.num_requests, 1))
        part = scale_rate(part, factor, seed=0)
        slos = {m.name: m.slo_s for m in models}
        sent = replay(router, part, slos, key=self.deployment.inference_key)
        tiny = [dataclasses.replace(m, profile=profiles[m.family]) for m in models]
        options = SimOptions()
        serving = ServingCheck(
            requests=part.num_requests,
            duration_s=part.duration_s,
            measured=attainment(sent),
            simulated_measured_profiles=simulate(
                cluster, tiny, placement, part, options
            ).attainment,
            simulated_plan_profiles=simulate(cluster, models, placement, part, options).attainment,
        )
        self.say(
            f"  {serving.requests} requests: measured attainment {serving.measured:.2%}, "
            f"simulated {serving.simulated_measured_profiles:.2%} with the measured tiny "
            f"profiles ({serving.simulated_plan_profiles:.2%} with the plan's profiles)"
        )

        inputs = {**report.inputs, "serving": encode(serving)}
        if s.live is not None:
            inputs["live"] = self._live(api, s.live)
        report = dataclasses.replace(report, inputs=inputs)
        return self._report(api, report, best, serving)

    def _run_live_only(self) -> DemoResult:
        self.step("migrating the SQLite database, creating keys, starting the API and a worker")
        api = self.deployment.start_api()
        self.say(f"  API at {api.base_url} (database {self.settings.workdir / 'meshplan.db'})")
        scenario = self.settings.live or LiveScenario()
        report = CompareReport(
            title="meshplan demo: live re-placement",
            inputs={"live": self._live(api, scenario)},
            rows=(),
        )
        return self._report(api, report, None, None)

    def _live(self, api: ApiClient, scenario: LiveScenario) -> dict[str, Any]:
        """Step 9: the live run on this deployment, told; its report section."""
        self.step(
            f"live re-placement: {scenario.phases} popularity phases of {scenario.phase_s:g} s "
            "replayed with the re-planner on, then on the first plan kept"
        )
        data = LiveDemo(self.deployment, api, scenario, self.say).run().to_json()
        for table in console_tables(data):
            self.console.print(table)
        for label, text in summary_lines(data):
            self.say(f"  {label}: {text}")
        return data

    def _report(
        self, api: ApiClient, report: CompareReport, best: str | None, serving: ServingCheck | None
    ) -> DemoResult:
        self.step("writing the HTML report and storing it through the API")
        report_dir = self.settings.workdir / "report"
        write_report(report, report_dir)
        stored = api.call("POST", "/v1/reports", {"data": encode(report)})[2]
        self.say(
            f"  stored as report {stored['id']} (GET /v1/reports/{stored['id']}, HTML or JSON)"
        )
        return DemoResult(report=report, report_dir=report_dir, best=best, serving=serving)
