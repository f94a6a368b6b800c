"""The executor agent: pull the cluster's active plan, reconcile the groups
and replicas this agent hosts with it, heartbeat.

An agent drives the global devices ``devices`` (global id ``devices[i]`` is
local JAX device ``i``) and serves every plan group whose devices all lie
among them. It moves to a new plan by transitions, never by starting over:
every replica the new plan keeps serves throughout; a new replica is built
beside the serving ones (weights placed, every batch bucket compiled and
timed) and swapped in when ready; evicted replicas finish their queued
batches; a group the plan drops answers its waiting requests with a
retryable 503 and finishes its started batches. The order
(:mod:`executor.moves`) follows the served transition's steps when it
starts from the version this agent applied, else the difference between
what it holds and what the plan wants; either way a group leaving the plan
stops before anything loads on its devices, and the difference is
reconciled last, so the agent always ends with exactly the plan's
replicas. Meanwhile a request for a model the new plan puts here and
whose first replica here is not ready yet gets 503 with ``Retry-After``.

An agent started in a two-process JAX cluster (a :class:`Link`) also
serves the one pp = 2 group whose stage 0 lies on its devices and stage 1
on its peer's (:mod:`executor.spanning`): process 0 leads (answers its
requests, decides when it is rebuilt), process 1 follows. Any other group
lying partly on an agent's devices is named in :attr:`Agent.errors` and not
served.

Each model is laid out as :func:`planner.autoparallel.plan_parallel` lays it
out for its group's config, with the stage ranges the served plan carries
when they fit the network built (:func:`layout_for`). At ``scale="tiny"``
every model runs as the tiny preset of its family (with at least
:data:`TINY_MIN_LAYERS` blocks so up to 4 stages fit); at ``"full"`` as its
plan architecture. The applied version is reported once every replica of
the plan is in place (state ``"serving"``; a replica that cannot be built
leaves it ``"degraded"`` and is retried on the next poll), with each
replica's measured load (:class:`LoadRecord`). When the API cannot be reached
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

from executor.api_client import ApiError, ApiUnavailable, ModelInfo, ServedPlan, StageBounds
from executor.crosshost import Link, devices_of
from executor.group import GroupKey, GroupServer
from executor.host import Host
from executor.moves import Move, diff_moves, step_moves
from executor.replica import Replica, model_seed
from executor.runtime import ModelRuntime
from executor.spanning import Follower, Leader, Span, SpanModel, split_group
from planner.autoparallel import (
    TINY_BERT,
    TINY_MOE,
    Architecture,
    ParallelPlan,
    layer_names,
    plan_parallel,
)
from planner.codec import decode, encode
from planner.domain import Group, ParallelConfig

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


def my_groups(plan: ServedPlan, devices: Sequence[int]) -> dict[GroupKey, int]:
    """The plan's groups that lie within ``devices``, with their index in
    the placement."""
    mine = set(devices)
    return {
        (group.devices, group.config): index
        for index, group in enumerate(plan.placement.groups)
        if set(group.devices) <= mine
    }


def fits_split(bounds: StageBounds, arch: Architecture, pp: int) -> bool:
    """Whether ``bounds`` are ``pp`` adjacent non-empty layer ranges covering
    every layer of ``arch`` (served ranges planned for another architecture,
    e.g. at scale ``"tiny"``, do not)."""
    ends = [0, *(end for _, end in bounds)]
    return (
        len(bounds) == pp
        and all(start == ends[k] < end for k, (start, end) in enumerate(bounds))
        and ends[-1] == len(layer_names(arch))
    )


def layout_for(
    arch: Architecture, config: ParallelConfig, max_batch: int, served: StageBounds | None
) -> ParallelPlan:
    """The model's :class:`ParallelPlan` on ``config``: with the served stage
    ranges when they fit ``arch``, else with the split computed here."""
    if served is not None and fits_split(served, arch, config.pp):
        return plan_parallel(arch, config, max_batch=max_batch, split=served)
    return plan_parallel(arch, config, max_batch=max_batch)


def by_devices(item: tuple[GroupKey, Any]) -> tuple[int, ...]:
    """Sort key of ``(group key, ...)`` pairs: the group's devices."""
    return item[0][0]


@dataclasses.dataclass(frozen=True)
class Loaded:
    """Identity of a loaded replica: a change of any field means a reload."""

    layout: ParallelPlan
    max_batch: int


@dataclasses.dataclass(frozen=True)
class LoadRecord:
    """A replica's measured load: ``seconds`` from the start of its build to
    its swap-in (weights placed, every batch bucket compiled and timed),
    ``bytes`` of weights on the group's fullest device, for group ``group``
    (index in the placement) of plan version ``version``."""

    model: str
    group: int
    seconds: float
    bytes: int
    version: int


class Agent:
    """Reconciles a :class:`Host` with the plans from ``source``; with a
    ``link`` (this process joined a two-process JAX cluster, see
    :func:`executor.crosshost.join`) also the group spanning both agents.
    Building it with a link waits for the peer agent, which must be built
    too (the two swap their device ids)."""

    def __init__(
        self,
        source: PlanSource,
        devices: Sequence[int],
        *,
        scale: str = "tiny",
        policy: str = "fcfs",
        local_devices: Sequence[jax.Device] | None = None,
        link: Link | None = None,
    ) -> None:
        if scale not in SCALES:
            raise ValueError(f"scale: must be one of {list(SCALES)}, got {scale!r}")
        local = list(local_devices if local_devices is not None else jax.local_devices())
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
        self.loads: dict[tuple[GroupKey, str], LoadRecord] = {}
        self._loaded: dict[tuple[GroupKey, str], Loaded] = {}
        self._lock = threading.Lock()
        self.stopping = threading.Event()
        self.link = link
        self.peer: tuple[int, ...] = ()
        self.leader: Leader | None = None
        self.follower: Follower | None = None
        self.offered: ServedPlan | None = None
        """The last plan fetched (the follower builds the span from it)."""
        if link is not None:
            self._join(link)

    def _join(self, link: Link) -> None:
        self.peer = link.swap(self.devices)
        if set(self.peer) & set(self.devices):
            raise ValueError(
                f"devices: {sorted(set(self.peer) & set(self.devices))} are the peer's too"
            )
        theirs = devices_of(link.peer)
        everywhere = {**self.local, **{d: theirs[i] for i, d in enumerate(self.peer)}}
        if link.me == 0:
            self.leader = Leader(link, everywhere, self.policy)
        else:
            self.follower = Follower(link, everywhere, self._resolve)

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
        """Move to ``plan`` (module docstring) and record it as applied."""
        started = time.monotonic()
        self.offered = plan
        with self._lock:
            self.state = "loading"
            self.errors = {}
            self.report()
            wanted = self._wanted(plan)
            span, problems = self._span(plan)
            self.errors.update(problems)
            if self.leader is None:
                span = None  # a follower's span is configured by its leader
            # until its first replica here is ready, a model is loading (503)
            self.host.loading.update(name for models in wanted.values() for name in models)
            self.host.loading.update(m.name for m in (span.models if span else ()))
            try:
                self._leave_span(span)
                if plan.transition is not None and self._follows(plan.transition.from_version):
                    self._run(plan, wanted, step_moves(self._steps(plan), self._held(), wanted))
                self._run(plan, wanted, diff_moves(self._held(), wanted))
                if span is not None:
                    self._enter_span(span, plan)
            finally:
                self.host.loading.clear()
            if self.stopping.is_set():
                return  # stopped part way: the plan is not applied
            for group in self.host.groups.values():
                for name, runtime in group.models.items():
                    runtime.slo_s = plan.models[name].slo_s
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

    def _span(self, plan: ServedPlan) -> tuple[Span | None, dict[str, str]]:
        """The plan's group spanning this agent and its peer, as both build
        it, and why other groups lying partly here or models of it cannot
        be served."""
        role = self.link.me if self.link is not None else None
        index, problems = split_group(plan.placement, self.devices, self.peer, role)
        if index is None:
            return None, problems
        group = plan.placement.groups[index]
        served = plan.stages[index] if plan.stages is not None else {}
        models = self._layouts(plan, group, served, problems)
        span = Span(index, group.devices, group.config, tuple(SpanModel(n, *m) for n, m in models))
        return span, problems

    def _resolve(self, plan_id: int, version: int) -> Span | None:
        """On the follower: the span of plan ``plan_id`` v``version`` once fetched."""
        plan = self.offered
        if plan is None or (plan.plan_id, plan.version) != (plan_id, version):
            return None
        return self._span(plan)[0]

    def _leave_span(self, span: Span | None) -> None:
        if self.leader is None or self.leader.span is None or self.leader.keeps(span):
            return
        for entry in [e for e in self.loads if e[0] == self.leader.span.key]:
            self._forget(entry)
        self.leader.leave(span, self.host)

    def _enter_span(self, span: Span, plan: ServedPlan) -> None:
        assert self.leader is not None
        slo_s = {m.name: plan.models[m.name].slo_s for m in span.models}
        errors, loads = self.leader.enter(
            span, (plan.plan_id, plan.version), slo_s, self.host, self.stopping
        )
        self.errors.update(errors)
        for model, seconds, size in loads:
            record = LoadRecord(model.name, span.index, seconds, size, plan.version)
            self.loads[(span.key, model.name)] = record

    def _follows(self, version: int) -> bool:
        return self.applied is not None and self.applied.version == version

    def _held(self) -> dict[GroupKey, dict[str, Loaded]]:
        """The ordinary groups' replicas (not the span's)."""
        span = self.leader.span if self.leader is not None else None
        held: dict[GroupKey, dict[str, Loaded]] = {
            key: {} for key in self.host.groups if span is None or key != span.key
        }
        for (key, name), loaded in self._loaded.items():
            held[key][name] = loaded
        return held

    def _wanted(self, plan: ServedPlan) -> dict[GroupKey, dict[str, Loaded]]:
        """Per group of this agent, the replicas ``plan`` puts there (a model
        that cannot be laid out is left out and named in :attr:`errors`)."""
        wanted: dict[GroupKey, dict[str, Loaded]] = {}
        for key, index in my_groups(plan, self.devices).items():
            served = plan.stages[index] if plan.stages is not None else {}
            models = self._layouts(plan, plan.placement.groups[index], served, self.errors)
            wanted[key] = {name: Loaded(*layout) for name, layout in models}
        return wanted

    def _layouts(
        self, plan: ServedPlan, group: Group, served: dict[str, StageBounds], errors: dict[str, str]
    ) -> list[tuple[str, tuple[ParallelPlan, int]]]:
        """Each model of ``group`` that can be laid out, in the group's
        order, with its layout and batch cap (the others are named in
        ``errors``)."""
        models = []
        for name in group.models:
            try:
                info = plan.models[name]
                arch = architecture_for(name, info, self.scale)
                layout = layout_for(arch, group.config, info.max_batch, served.get(name))
            except (KeyError, ValueError) as error:
                errors[name] = f"cannot build: {error}"
                continue
            models.append((name, (layout, info.max_batch)))
        return models

    def _steps(self, plan: ServedPlan) -> list[tuple[GroupKey, str, str]]:
        """The served steps with their groups as keys: a load's index is in
        ``plan``'s placement, an evict's in the applied (previous) one; a
        step whose index is out of range is skipped (the difference run
        afterwards still reaches the plan)."""
        assert plan.transition is not None and self.applied is not None
        placements = {"load": plan.placement.groups, "evict": self.applied.placement.groups}
        keys = []
        for step in plan.transition.steps:
            groups = placements[step.action]
            if not 0 <= step.group < len(groups):
                log.warning("plan v%d: %s names no group; skipped", plan.version, step)
                continue
            keys.append(
                ((groups[step.group].devices, groups[step.group].config), step.action, step.model)
            )
        return keys

    def _run(
        self, plan: ServedPlan, wanted: dict[GroupKey, dict[str, Loaded]], moves: list[Move]
    ) -> None:
        for move in moves:
            if self.stopping.is_set():
                return
            what = move.model or "the group"
            log.info("plan v%d: %s %s on %s", plan.version, move.action, what, list(move.key[0]))
            if move.action == "stop":
                for group in self.host.remove_groups([move.key]):
                    group.join(DRAIN_TIMEOUT_S)
                for entry in [e for e in self._loaded if e[0] == move.key]:
                    self._forget(entry)
            elif move.action == "evict":
                assert move.model is not None
                self.host.groups[move.key].remove(move.model)
                self._forget((move.key, move.model))
            else:
                assert move.model is not None
                self._load(move.key, move.model, wanted[move.key][move.model], plan)

    def _forget(self, entry: tuple[GroupKey, str]) -> None:
        self._loaded.pop(entry, None)
        self.loads.pop(entry, None)

    def _group(self, key: GroupKey) -> GroupServer:
        group = self.host.groups.get(key)
        if group is None:
            devices, config = key
            group = GroupServer(devices, [self.local[d] for d in devices], config, self.policy)
            self.host.add_group(group)
        return group

    def _load(self, key: GroupKey, name: str, loaded: Loaded, plan: ServedPlan) -> None:
        """Build ``name``'s replica beside what the group serves (weights,
        compile, timing), then swap it in and record its load."""
        group = self._group(key)
        info = plan.models[name]
        started = time.monotonic()
        try:
            replica = Replica(loaded.layout, group.meshes, model_seed(name))
            runtime = ModelRuntime(name, replica, loaded.max_batch, info.slo_s)
            runtime.warm_up()
        except ValueError as error:
            log.error("cannot load %s on %s: %s", name, group, error)
            self.errors[name] = str(error)
            return
        finally:
            self.host.loading.discard(name)
        group.add(runtime)
        self._loaded[(key, name)] = loaded
        self.loads[(key, name)] = LoadRecord(
            name,
            my_groups(plan, self.devices)[key],
            time.monotonic() - started,
            max(replica.weight_bytes_per_device()),
            plan.version,
        )

    def status(self) -> dict[str, Any]:
        """The heartbeat body: state, applied version, groups (by devices),
        latencies, the models that could not be loaded (with why) and the
        measured load of each replica (:class:`LoadRecord`)."""
        span = self.leader.span if self.leader is not None else None
        groups = [
            {
                "devices": list(devices),
                "config": encode(config),
                "models": sorted(group.models),
                **({"role": "leader"} if span is not None and span.key == key else {}),
            }
            for key, group in sorted(self.host.groups.items(), key=by_devices)
            for devices, config in [key]
        ]
        following = self.follower.serving if self.follower is not None else None
        if following is not None:
            models = sorted(m.name for m in following.models)
            config = encode(following.config)
            groups.append(
                {
                    "devices": list(following.devices),
                    "config": config,
                    "models": models,
                    "role": "follower",
                }
            )
        return {
            "applied_version": self.applied.version if self.applied else None,
            "state": self.state,
            "groups": groups,
            "latency_s": self.host.latencies.summary(),
            "errors": dict(self.errors),
            "loads": [dataclasses.asdict(record) for record in list(self.loads.values())],
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
        if self.follower is not None:
            self.follower.start()
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
        if self.leader is not None:
            self.leader.close(drain_timeout_s)
