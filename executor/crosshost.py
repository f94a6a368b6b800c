"""A pipeline group whose stages live on two hosts: one JAX process per
host under ``jax.distributed`` (multi-controller), stage 0 on the *leader*
(process 0, which batches and answers requests) and stage 1 on the
*follower* (process 1), activations handed between the processes.

Hand-over: the first device of each process forms a two-device *link*
mesh; moving an array from one process to the other is a jitted
``ppermute`` over it (on CPU through gloo collectives, which
:func:`join` selects). A collective runs only when both processes call it
with the same shape, so the leader drives a fixed protocol of
:data:`HEADER`-sized int32 headers ``[kind, a, b]`` (leader → follower):

- ``RUN, model, rows``: a batch of model ``model`` (index in the group's
  model list both sides built) padded to ``rows``; then the stage-0
  activations ``[rows, seq_len, hidden]`` (leader → follower) and the
  stage-1 output (follower → leader);
- ``STOP``: the current models are done (the follower leaves
  :func:`follow`);
- ``CONFIGURE, plan_id, version``: build the group as plan ``plan_id``
  version ``version`` places it; the follower answers 1 (it knows that
  plan) or 0, and once both have built their stages, one flag per model
  (1: built) so the leader serves only models built on both sides.

One exchange (a header and what follows it) holds :attr:`Link.lock`, so a
model warming up on the leader and the group's stage-1 thread never
interleave; while the follower runs batch ``b`` the leader's stage 0 runs
batch ``b + 1``, as in a one-host pipeline.

The leader serves through the ordinary :class:`executor.group.GroupServer`:
:class:`SplitReplica` stands in for :class:`executor.replica.Replica` and
runs its remote stage by handing over; the follower calls :func:`follow`
until the leader sends stop. Weights come from the same seed on both
sides, so outputs equal the single-device model's.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Sequence

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from executor import zoo
from executor.replica import Stage, load_stage
from executor.sharding import StageSharding, stage_meshes
from planner.autoparallel import ParallelPlan
from planner.domain import ParallelConfig

LEADER = 0
FOLLOWER = 1
LINK_AXIS = "link"
HEADER = 3
"""Length of a header ``[kind, a, b]``."""
STOP, RUN, CONFIGURE = 0, 1, 2
"""Header kinds (see the module)."""
INT32 = np.dtype(np.int32)


def join(coordinator: str, num_processes: int, process_id: int) -> None:
    """Join the JAX cluster whose coordinator (``host:port``, run by process
    0) is ``coordinator``, with gloo collectives on CPU. Call before any
    other JAX use; ``XLA_FLAGS`` sets each process's device count."""
    jax.config.update("jax_cpu_collectives_implementation", "gloo")
    jax.distributed.initialize(
        coordinator_address=coordinator, num_processes=num_processes, process_id=process_id
    )


def devices_of(process: int) -> list[jax.Device]:
    """The global devices of ``process``, in id order."""
    return sorted((d for d in jax.devices() if d.process_index == process), key=lambda d: d.id)


class Link:
    """Hands arrays between the leader and the follower (see the module)."""

    def __init__(self) -> None:
        self.devices = (devices_of(LEADER)[0], devices_of(FOLLOWER)[0])
        self.mesh = Mesh(np.array(self.devices), (LINK_AXIS,))
        self.me = jax.process_index()
        if self.me not in (LEADER, FOLLOWER):
            raise ValueError(f"process_id: a link joins processes 0 and 1, this is {self.me}")
        self.lock = threading.Lock()
        """Held for one whole exchange (a header and what follows it)."""

    @property
    def peer(self) -> int:
        return 1 - self.me

    def hand(
        self, x: jax.Array | np.ndarray | None, shape: tuple[int, ...], dtype: np.dtype, source: int
    ) -> jax.Array:
        """Move ``x`` (of ``shape`` and ``dtype``) from process ``source``
        to the other one; the receiver passes None and gets the array (on
        its link device), the sender gets its own back. Both must call."""
        local = x if self.me == source else np.zeros(shape, dtype)
        placed = jax.device_put(local, self.devices[self.me])[None]
        whole = jax.make_array_from_single_device_arrays(
            (2, *shape), NamedSharding(self.mesh, PartitionSpec(LINK_AXIS)), [placed]
        )
        moved = _permute(self.mesh, source)(whole)
        return moved.addressable_shards[0].data[0] if self.me != source else placed[0]

    def ints(self, values: Sequence[int] | None, length: int, source: int) -> tuple[int, ...]:
        """Hand ``length`` int32 values from ``source`` (the receiver passes
        None); both get them."""
        sent = None if values is None else np.asarray(values, INT32)
        return tuple(int(v) for v in np.asarray(self.hand(sent, (length,), INT32, source)))

    def header(self, kind: int = STOP, a: int = 0, b: int = 0) -> tuple[int, int, int]:
        """Send (on the leader) or receive (on the follower) a header."""
        sent = (kind, a, b) if self.me == LEADER else None
        got = self.ints(sent, HEADER, LEADER)
        return got[0], got[1], got[2]

    def swap(self, mine: Sequence[int]) -> tuple[int, ...]:
        """Both call with their own values (any length); each gets the other's."""
        sizes = [self.ints([len(mine)] if self.me == k else None, 1, k)[0] for k in (0, 1)]
        swapped = [self.ints(mine if self.me == k else None, sizes[k], k) for k in (0, 1)]
        return swapped[self.peer]


@functools.cache
def _permute(mesh: Mesh, source: int) -> jax.stages.Wrapped:
    spec = PartitionSpec(LINK_AXIS)
    pairs = [(source, 1 - source)]
    return jax.jit(
        jax.shard_map(
            lambda a: jax.lax.ppermute(a, LINK_AXIS, pairs),
            mesh=mesh,
            in_specs=spec,
            out_specs=spec,
        )
    )


class SplitReplica:
    """A model replica whose two stages live on two processes. Built on
    both with the same plan and the group's global devices (stage order:
    the first ``op`` on the leader, the last ``op`` on the follower); each
    loads only its own stage; ``index`` is the model's place in the group's
    model list (the headers name it). Duck-types :class:`executor.replica.Replica`
    for :class:`executor.runtime.ModelRuntime` on the leader."""

    def __init__(
        self,
        plan: ParallelPlan,
        devices: Sequence[jax.Device],
        seed: int,
        link: Link,
        index: int = 0,
    ) -> None:
        if len(plan.stages) != 2:
            raise ValueError(f"plan: a split replica has 2 stages, this plan {len(plan.stages)}")
        config = ParallelConfig(len(devices) // 2, 2)
        meshes = stage_meshes(devices, config)
        for k, mesh in enumerate(meshes):
            owners = {d.process_index for d in mesh.devices.flat}
            if owners != {k}:
                raise ValueError(f"devices: stage {k} must lie on process {k}, not {owners}")
        self.plan = plan
        self.link = link
        self.index = index
        k = link.me
        stage = plan.stages[k]
        self.own: Stage = load_stage(
            plan.arch, stage.start, stage.end, StageSharding(meshes[k], plan.rules), seed
        )
        self.dtype = zoo.dtype(plan.arch)

    @property
    def num_stages(self) -> int:
        return 2

    def batch_multiple(self) -> int:
        """Rows are padded to a multiple of the op degree when the rules
        split the batch (both stages have the same degree)."""
        sharding = self.own.sharding
        return sharding.size if sharding.is_split("batch") else 1

    def weight_bytes_per_device(self) -> int:
        """Largest number of weight bytes of the own stage on one device."""
        return self.own.weight_bytes_per_device()

    def _run_own(self, x: jax.Array | np.ndarray) -> jax.Array:
        placed = jax.device_put(x, self.own.sharding.sharding(self.own.input_axes))
        return self.own.run(self.own.weights, placed)

    def _activation_shape(self, rows: int) -> tuple[int, int, int]:
        return rows, self.plan.arch.seq_len, self.plan.arch.hidden

    def run_stage(self, k: int, x: jax.Array | np.ndarray) -> jax.Array:
        """On the leader: stage 0 here; stage 1 by handing ``x`` to the
        follower and its output back."""
        if self.link.me != LEADER:
            raise RuntimeError("run_stage: only the leader runs stages on request")
        if k == LEADER:
            return self._run_own(x)
        rows = int(x.shape[0])
        shape = self._activation_shape(rows)
        with self.link.lock:
            self.link.header(RUN, self.index, rows)
            self.link.hand(x, shape, self.dtype, LEADER)
            return self.link.hand(None, shape, self.dtype, FOLLOWER)

    def run_handed(self, rows: int) -> None:
        """On the follower, after a ``RUN`` header: take the activations,
        run the own stage, hand its output back."""
        shape = self._activation_shape(rows)
        x = self.link.hand(None, shape, self.dtype, LEADER)
        self.link.hand(self._run_own(x), shape, self.dtype, FOLLOWER)


def follow(replicas: Sequence[SplitReplica | None], link: Link) -> int:
    """On the follower: run the stage of every batch the leader hands over
    (``replicas`` in the group's model order; None: not built here, which
    the leader was told) until it sends ``STOP``; returns the number of
    batches run."""
    batches = 0
    while True:
        kind, model, rows = link.header()
        if kind == STOP:
            return batches
        replica = replicas[model] if kind == RUN and 0 <= model < len(replicas) else None
        if replica is None:
            raise RuntimeError(f"link: header {(kind, model, rows)} names no model built here")
        replica.run_handed(rows)
        batches += 1


def release(link: Link) -> None:
    """On the leader, once no batch is in flight: end the follower's :func:`follow`."""
    with link.lock:
        link.header(STOP)


def configure(link: Link, plan_id: int, version: int) -> bool:
    """On the leader: ask the follower to build the group of plan
    ``plan_id`` version ``version``; whether it knows that plan."""
    with link.lock:
        link.header(CONFIGURE, plan_id, version)
        return link.ints(None, 1, FOLLOWER) == (1,)


def await_configure(link: Link) -> tuple[int, int]:
    """On the follower: wait for ``CONFIGURE``; its plan id and version
    (answer with :func:`acknowledge`)."""
    kind, plan_id, version = link.header()
    if kind != CONFIGURE:
        raise RuntimeError(f"link: expected a configure header, got {(kind, plan_id, version)}")
    return plan_id, version


def acknowledge(link: Link, known: bool) -> None:
    """On the follower: answer :func:`configure`."""
    link.ints([int(known)], 1, FOLLOWER)


def built_on_both(link: Link, built: Sequence[bool]) -> tuple[bool, ...]:
    """Both sides, after building their stages of the configured group's
    models: the follower hands its flags over; the leader gets, per model,
    whether both built it (the follower gets its own flags back)."""
    theirs = link.ints(
        [int(b) for b in built] if link.me == FOLLOWER else None, len(built), FOLLOWER
    )
    return tuple(mine and bool(other) for mine, other in zip(built, theirs, strict=True))
