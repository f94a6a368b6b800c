"""A plan group that spans the two agents of a JAX cluster (``meshplan agent
--coordinator ... --process-id 0|1``): which group that is
(:func:`split_group`) and how each side serves it over the link of
:mod:`executor.crosshost`.

Only a pp = 2 group with stage 0 on the leader's devices (process 0) and
stage 1 on the follower's (process 1) is served; any other group lying
partly on an agent's devices is reported as an error naming it and left
unserved, and so is a second spanning group (the two agents share one
link). Both agents derive the same :class:`Span` from the same plan, so
the models' order, which the hand-over headers number, is the same.

The leader (:class:`Leader`) decides: when a plan keeps the span, it keeps
serving; when a plan changes it (devices, config, models or their
layouts), the leader drains its group, sends ``STOP``, and configures the
new one by plan id and version. The follower (:class:`Follower`) runs a
thread of its own that waits for ``CONFIGURE``, finds that plan among the
plans its agent fetched (waiting up to :data:`CONFIGURE_WAIT_S`), builds
stage 1 of every model and runs hand-overs until ``STOP``. The leader
answers the group's requests through an ordinary
:class:`executor.group.GroupServer`; the follower serves none over HTTP.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
from collections.abc import Callable, Collection, Mapping, Sequence

import jax

from executor.crosshost import (
    FOLLOWER,
    LEADER,
    Link,
    SplitReplica,
    acknowledge,
    await_configure,
    built_on_both,
    configure,
    follow,
    release,
)
from executor.group import GroupKey, GroupServer
from executor.host import Host
from executor.replica import model_seed
from executor.runtime import ModelRuntime
from planner.autoparallel import ParallelPlan
from planner.domain import Group, ParallelConfig, Placement

log = logging.getLogger(__name__)

CONFIGURE_WAIT_S = 20.0
"""How long the follower waits to fetch the plan the leader configures."""
DRAIN_TIMEOUT_S = 30.0
"""How long a spanning group a new plan changes may take to finish its started batches."""


@dataclasses.dataclass(frozen=True)
class SpanModel:
    """A model of the span as both sides build it."""

    name: str
    layout: ParallelPlan
    max_batch: int


@dataclasses.dataclass(frozen=True)
class Span:
    """The spanning group of a plan: its devices (stage order), config and
    models in the order the headers number them. Two spans are equal when
    they build the same replicas (the group's index in the placement,
    ``index``, may change freely)."""

    index: int = dataclasses.field(compare=False)
    devices: tuple[int, ...]
    config: ParallelConfig
    models: tuple[SpanModel, ...]

    @property
    def key(self) -> GroupKey:
        return self.devices, self.config


def split_group(
    placement: Placement, mine: Collection[int], peer: Collection[int], role: int | None
) -> tuple[int | None, dict[str, str]]:
    """The index of the group this agent serves with its peer (None if
    none), and why each other group lying partly on ``mine`` is not served
    (keyed ``groups[i]``). ``role``: this agent's process id in the JAX
    cluster (None: not in one); ``peer``: the other agent's devices."""
    chosen: int | None = None
    errors: dict[str, str] = {}
    for index, group in enumerate(placement.groups):
        devices = set(group.devices)
        if not devices & set(mine) or devices <= set(mine):
            continue
        problem = span_problem(group, mine, peer, role)
        if problem is None and chosen is not None:
            problem = f"only one group may span the two agents, and groups[{chosen}] does"
        if problem is None:
            chosen = index
        else:
            errors[f"groups[{index}]"] = problem
            log.error("groups[%d] on devices %s is not served: %s", index, group.devices, problem)
    return chosen, errors


def span_problem(
    group: Group, mine: Collection[int], peer: Collection[int], role: int | None
) -> str | None:
    """Why ``group``, which lies partly on ``mine``, cannot be served split
    between this agent and its peer (None: it can)."""
    if role is None:
        return (
            "lies partly on this agent's devices: serving it needs a JAX cluster "
            "(meshplan agent --coordinator HOST:PORT --process-id 0|1)"
        )
    if group.config.pp != 2:
        return f"spans agents with pp = {group.config.pp}; only pp = 2 with one stage per agent is served"
    stages = [set(group.stage_devices(k)) for k in (LEADER, FOLLOWER)]
    here = next((k for k in (0, 1) if stages[k] <= set(mine) and stages[1 - k] <= set(peer)), None)
    if here is None:
        return "each of its two stages must lie whole on one of the two agents of the JAX cluster"
    if here != role:
        return (
            f"its stage {here} lies on process {role}: stage 0 must lie on process 0 "
            "(the leader) and stage 1 on process 1"
        )
    return None


def build(
    k: int, model: SpanModel, devices: Sequence[jax.Device], link: Link
) -> SplitReplica | str:
    """This side's stage of ``model`` (``k``-th of the span) on the group's
    ``devices``, or why it cannot be built."""
    try:
        return SplitReplica(model.layout, devices, model_seed(model.name), link, k)
    except ValueError as error:
        log.error("cannot load %s across agents: %s", model.name, error)
        return str(error)


class Leader:
    """Serves the span on process 0 (module docstring); ``devices`` maps
    plan device ids of both agents to JAX devices."""

    def __init__(self, link: Link, devices: Mapping[int, jax.Device], policy: str) -> None:
        self.link = link
        self.devices = devices
        self.policy = policy
        self.span: Span | None = None
        self.complete = False
        """Whether building :attr:`span` ran to its end (else a plan that
        keeps it rebuilds it). A model that failed to build is not retried
        while the span stays: both sides build it from the same plan."""
        self._busy = threading.Lock()

    def keeps(self, span: Span | None) -> bool:
        return self.span is not None and self.span == span and self.complete

    def leave(self, span: Span | None, host: Host) -> None:
        """Unless the held span is ``span`` and whole: drain its group and
        send the follower ``STOP``."""
        if self.span is None or self.keeps(span):
            return
        with self._busy:
            log.info("leaving the group across agents on %s", list(self.span.devices))
            for group in host.remove_groups([self.span.key]):
                group.join(DRAIN_TIMEOUT_S)
            release(self.link)
            self.span = None

    def enter(
        self,
        span: Span,
        plan: tuple[int, int],
        slo_s: Mapping[str, float],
        host: Host,
        stopping: threading.Event,
    ) -> tuple[dict[str, str], list[tuple[SpanModel, float, int]]]:
        """Configure ``span`` of plan ``(plan id, version)`` with the
        follower and serve its models; returns errors (by model or group)
        and, per model now serving, its load seconds and weight bytes on the
        fullest device here. Call :meth:`leave` first."""
        if self.keeps(span):
            return {}, []
        with self._busy:
            if not configure(self.link, *plan):
                detail = f"the follower has not fetched plan {plan[0]} v{plan[1]}"
                return {f"groups[{span.index}]": detail}, []
            self.span, self.complete = span, False
            devices = [self.devices[d] for d in span.devices]
            group = GroupServer(span.devices, devices, span.config, self.policy)
            host.add_group(group)
            built = [build(k, model, devices, self.link) for k, model in enumerate(span.models)]
            errors = {
                m.name: b for m, b in zip(span.models, built, strict=True) if isinstance(b, str)
            }
            both = built_on_both(self.link, [not isinstance(b, str) for b in built])
            loads = []
            for model, replica, ok in zip(span.models, built, both, strict=True):
                if isinstance(replica, str) or stopping.is_set():
                    continue
                if not ok:
                    errors[model.name] = "its stage 1 could not be built on the follower"
                    continue
                started = time.monotonic()
                runtime = ModelRuntime(model.name, replica, model.max_batch, slo_s[model.name])
                runtime.warm_up()
                group.add(runtime)
                loads.append((model, time.monotonic() - started, replica.weight_bytes_per_device()))
            self.complete = not stopping.is_set()
            return errors, loads

    def close(self, timeout_s: float) -> None:
        """Release the follower, waiting at most ``timeout_s`` for it to
        take the ``STOP`` (a follower already gone never does), unless a
        configuration is under way: the process is going away, and the
        follower then learns it from JAX."""
        if self.span is None or not self._busy.acquire(blocking=False):
            return
        releasing = threading.Thread(target=release, args=(self.link,), daemon=True)
        releasing.start()
        releasing.join(timeout_s)
        self.span = None
        self._busy.release()


class Follower:
    """Serves stage 1 of the span on process 1 from a thread of its own
    (module docstring). ``resolve(plan_id, version)`` is the span of that
    plan when the agent has fetched it (else None)."""

    def __init__(
        self,
        link: Link,
        devices: Mapping[int, jax.Device],
        resolve: Callable[[int, int], Span | None],
    ) -> None:
        self.link = link
        self.devices = devices
        self.resolve = resolve
        self.serving: Span | None = None
        self.batches = 0
        self._thread = threading.Thread(target=self._loop, daemon=True, name="follower")

    def start(self) -> None:
        self._thread.start()

    def _loop(self) -> None:
        try:
            while True:
                self._session()
        except Exception:  # the link is broken: the leader hears it from JAX
            log.exception("the link to the leader failed; no longer following")

    def _session(self) -> None:
        plan = await_configure(self.link)
        span = self._wait_for(plan)
        acknowledge(self.link, span is not None)
        if span is None:
            log.error("the leader configured plan %d v%d, not fetched here", *plan)
            return
        devices = [self.devices[d] for d in span.devices]
        built = [build(k, model, devices, self.link) for k, model in enumerate(span.models)]
        both = built_on_both(self.link, [not isinstance(b, str) for b in built])
        replicas = [None if isinstance(b, str) else b for b in built]
        self.serving = dataclasses.replace(
            span, models=tuple(m for m, ok in zip(span.models, both, strict=True) if ok)
        )
        log.info("following plan %d v%d on %s", *plan, list(span.devices))
        try:
            self.batches += follow(replicas, self.link)
        finally:
            self.serving = None

    def _wait_for(self, plan: tuple[int, int]) -> Span | None:
        deadline = time.monotonic() + CONFIGURE_WAIT_S
        while (span := self.resolve(*plan)) is None and time.monotonic() < deadline:
            time.sleep(0.05)
        return span
