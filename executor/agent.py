"""The executor agent: pull the cluster's active plan, reconcile the groups
and replicas this agent hosts with it, heartbeat.

An agent drives the global devices ``devices`` (global id ``devices[i]`` is
local JAX device ``i``) and serves every plan group whose devices all lie
among them. Reconciling with a new plan:

1. groups (devices + config) no longer in the plan stop: requests waiting in
   them get a retryable 503, started batches finish;
2. kept groups drop the models the plan no longer puts on them (queued
   batches of those still run) and load the ones it adds;
3. new groups are built (one mesh per stage) and load their models.

Each model is built as :func:`planner.autoparallel.plan_parallel` lays it
out for its group's config and warmed up (compiled, timed) before it is
admitted. At ``scale="tiny"`` every model runs as the tiny preset of its
family (with at least :data:`TINY_MIN_LAYERS` blocks so up to 4 stages fit);
at ``"full"`` as its plan architecture. The applied version is reported
once every replica of the plan is in place (state ``"serving"``; a replica
that cannot be built leaves it ``"degraded"`` and is retried on the next
poll). When the API cannot be reached
the agent keeps serving the last plan it applied.

:meth:`Agent.run` heartbeats from a thread of its own, from its first
second on: while replicas load the fleet sees state ``"loading"`` and the
replicas ready so far. :meth:`Agent.stop` ends the loop and skips the
replicas not yet started, so an agent stops within one replica's compile.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
from collections.abc import Sequence
from typing import Any, Protocol

import jax

from executor.api_client import ApiError, ApiUnavailable, ModelInfo, ServedPlan
from executor.group import GroupKey, GroupServer
from executor.host import Host
from executor.replica import Replica, model_seed
from executor.runtime import ModelRuntime
from planner.autoparallel import TINY_BERT, TINY_MOE, Architecture, plan_parallel
from planner.codec import decode, encode

log = logging.getLogger(__name__)

TINY = {"bert": TINY_BERT, "moe": TINY_MOE}
TINY_MIN_LAYERS = 3
SCALES = ("tiny", "full")
DRAIN_TIMEOUT_S = 30.0
"""How long a group removed by a new plan may take to finish its started batches."""


class PlanSource(Protocol):
    """Where plans come from and heartbeats go (the API, or a test double)."""

    def fetch_plan(self, etag: str | None) -> ServedPlan | None: ...

    def heartbeat(self, report: dict[str, Any]) -> None: ...


def architecture_for(name: str, info: ModelInfo, scale: str) -> Architecture:
    """The network an agent builds for model ``name``."""
    if scale == "tiny":
        if info.family not in TINY:
            raise ValueError(f"models.{name}.family: no tiny version of {info.family!r}")
        base = TINY[info.family]
        return dataclasses.replace(base, num_layers=max(base.num_layers, TINY_MIN_LAYERS))
    if info.architecture is None:
        raise ValueError(f"models.{name}.architecture: is required at scale 'full'")
    return decode(Architecture, info.architecture, f"models.{name}.architecture")


def my_groups(plan: ServedPlan, devices: Sequence[int]) -> dict[GroupKey, tuple[str, ...]]:
    """The plan's groups that lie within ``devices``, with their models."""
    mine = set(devices)
    return {
        (group.devices, group.config): group.models
        for group in plan.placement.groups
        if set(group.devices) <= mine
    }


@dataclasses.dataclass(frozen=True)
class Loaded:
    """Identity of a loaded replica: a change of any field means a reload."""

    arch: Architecture
    max_batch: int


class Agent:
    """Reconciles a :class:`Host` with the plans from ``source``."""

    def __init__(
        self,
        source: PlanSource,
        devices: Sequence[int],
        *,
        scale: str = "tiny",
        policy: str = "fcfs",
        local_devices: Sequence[jax.Device] | None = None,
    ) -> None:
        if scale not in SCALES:
            raise ValueError(f"scale: must be one of {list(SCALES)}, got {scale!r}")
        local = list(local_devices if local_devices is not None else jax.devices())
        if len(devices) > len(local):
            raise ValueError(f"devices: {len(devices)} listed, only {len(local)} JAX devices here")
        self.source = source
        self.devices = tuple(devices)
        self.local = {d: local[i] for i, d in enumerate(self.devices)}
        self.scale = scale
        self.policy = policy
        self.host = Host()
        self.applied: ServedPlan | None = None
        self.state = "starting"
        self.errors: dict[str, str] = {}
        self._loaded: dict[tuple[GroupKey, str], Loaded] = {}
        self._lock = threading.Lock()
        self.stopping = threading.Event()

    def poll(self) -> bool:
        """Fetch the plan and apply it if it changed; False when the API is
        unreachable or the plan is malformed (the last plan keeps serving)."""
        etag = self.applied.etag if self.applied else None
        try:
            plan = self.source.fetch_plan(etag)
        except (ApiUnavailable, ApiError) as error:
            log.warning("no plan from the source, serving the last one: %s", error)
            return False
        except ValueError as error:
            log.error("ignoring a malformed plan: %s", error)
            return False
        if plan is not None:
            self.apply(plan)
        return True

    def apply(self, plan: ServedPlan) -> None:
        """Reconcile with ``plan`` (module docstring) and record it as applied."""
        started = time.monotonic()
        with self._lock:
            self.state = "loading"
            self.errors = {}
            self.report()
            wanted = my_groups(plan, self.devices)
            gone = [key for key in self.host.groups if key not in wanted]
            for group in self.host.remove_groups(gone):
                group.join(DRAIN_TIMEOUT_S)
            self._loaded = {k: v for k, v in self._loaded.items() if k[0] not in gone}
            for key, models in wanted.items():
                self._reconcile_group(key, models, plan)
            if self.stopping.is_set():
                return  # stopped part way: the plan is not applied
            # Without its entity tag the plan is fetched again and the failed
            # replicas retried on the next poll.
            self.applied = dataclasses.replace(plan, etag=None) if self.errors else plan
            self.state = "degraded" if self.errors else "serving"
            log.info(
                "applied plan %d v%d in %.1f s: %s",
                plan.plan_id,
                plan.version,
                time.monotonic() - started,
                self.host.groups,
            )

    def _reconcile_group(self, key: GroupKey, models: Sequence[str], plan: ServedPlan) -> None:
        group = self.host.groups.get(key)
        if group is None:
            devices, config = key
            group = GroupServer(devices, [self.local[d] for d in devices], config, self.policy)
            self.host.add_group(group)
        wanted: dict[str, Loaded] = {}
        for name in models:
            try:
                info = plan.models[name]
                wanted[name] = Loaded(architecture_for(name, info, self.scale), info.max_batch)
            except (KeyError, ValueError) as error:
                self.errors[name] = f"cannot build: {error}"
        for name in list(group.models):
            if self._loaded.get((key, name)) != wanted.get(name):
                group.remove(name)
                self._loaded.pop((key, name), None)
        for name, loaded in wanted.items():
            if self.stopping.is_set():
                return
            if name in group.models:
                group.models[name].slo_s = plan.models[name].slo_s
                continue
            self._load(group, name, loaded, plan.models[name].slo_s)

    def _load(self, group: GroupServer, name: str, loaded: Loaded, slo_s: float) -> None:
        self.host.loading.add(name)
        try:
            layout = plan_parallel(loaded.arch, group.config, max_batch=loaded.max_batch)
            replica = Replica(layout, group.meshes, model_seed(name))
            runtime = ModelRuntime(name, replica, loaded.max_batch, slo_s)
            runtime.warm_up()
        except ValueError as error:
            log.error("cannot load %s on %s: %s", name, group, error)
            self.errors[name] = str(error)
            return
        finally:
            self.host.loading.discard(name)
        group.add(runtime)
        self._loaded[(group.key, name)] = loaded

    def status(self) -> dict[str, Any]:
        """The heartbeat body: state, applied version, groups, latencies and
        the models that could not be loaded (with why)."""
        groups = [
            {
                "devices": list(devices),
                "config": encode(config),
                "models": sorted(group.models),
            }
            for (devices, config), group in list(self.host.groups.items())
        ]
        return {
            "applied_version": self.applied.version if self.applied else None,
            "state": self.state,
            "groups": groups,
            "latency_s": self.host.latencies.summary(),
            "errors": dict(self.errors),
        }

    def report(self) -> bool:
        """Send a heartbeat; False when the API is unreachable."""
        try:
            self.source.heartbeat(self.status())
        except (ApiUnavailable, ApiError) as error:
            log.warning("heartbeat failed: %s", error)
            return False
        return True

    def run(self, interval_s: float = 1.0) -> None:
        """Poll every ``interval_s`` and heartbeat every ``interval_s`` from
        a thread of its own (so also while a plan loads) until :meth:`stop`."""
        beat = threading.Thread(
            target=self._heartbeat, args=(interval_s,), daemon=True, name="heartbeat"
        )
        beat.start()
        try:
            while not self.stopping.is_set():
                self.poll()
                self.stopping.wait(interval_s)
        finally:
            beat.join()

    def _heartbeat(self, interval_s: float) -> None:
        while not self.stopping.is_set():
            self.report()
            self.stopping.wait(interval_s)

    def stop(self) -> None:
        """Ask :meth:`run` to return: loading ends after the replica being
        compiled (the others of the plan are skipped)."""
        self.stopping.set()

    def shutdown(self, drain_timeout_s: float = DRAIN_TIMEOUT_S) -> None:
        """Stop every group: waiting requests get a retryable 503, started
        batches get ``drain_timeout_s`` seconds per group to finish."""
        for group in self.host.remove_groups(list(self.host.groups)):
            group.join(drain_timeout_s)
