"""The ``ray`` fan-out: tasks on a Ray cluster. Imported only when the
backend is chosen (:func:`planner.fanout.fan_out`); importing it imports Ray.

Each map puts its context into Ray's object store once and submits one
task per item (``num_cpus=1``); a Ray worker process builds the state from
the context on its first task of that map and keeps it for the map's later
tasks (the :data:`KEPT_STATES` most recent maps' states are kept, so
concurrent maps from several drivers do not rebuild each other's). The
context travels as a reference inside a list, so Ray fetches it only when a
process has no state for the map yet.

A process connects once (the first map), to ``address``, else the cluster
named by ``MESHPLAN_RAY_ADDRESS``, else a Ray started for this process with
``workers`` CPUs (stopped when the process exits); a later map that names a
different address reconnects.
"""

from __future__ import annotations

import os
import threading
import uuid
from collections import OrderedDict
from collections.abc import Callable, Iterator, Sequence
from typing import Any, TypeVar

import ray

from planner.fanout import ADDRESS_ENV, IDLE_S

C = TypeVar("C")
S = TypeVar("S")
T = TypeVar("T")
R = TypeVar("R")

KEPT_STATES = 2
"""States (one per map) a Ray worker process keeps."""

_STATES: OrderedDict[str, Any] = OrderedDict()
_CONNECT = threading.Lock()
_connected_to: list[str | None] = []


def _state(token: str, setup: Callable[[Any], Any], context: list[Any]) -> Any:
    if token not in _STATES:
        _STATES[token] = setup(ray.get(context[0]))
        while len(_STATES) > KEPT_STATES:
            _STATES.popitem(last=False)
    return _STATES[token]


@ray.remote(num_cpus=1, max_retries=0)
def _run(
    token: str,
    setup: Callable[[Any], Any],
    work: Callable[[Any, Any], Any],
    context: list[Any],
    task: Any,
) -> Any:
    return work(_state(token, setup, context), task)


def connect(address: str | None, workers: int) -> None:
    """Join the cluster (see the module docstring); ValueError naming
    ``options.ray_address`` when it cannot be joined."""
    target = address or os.environ.get(ADDRESS_ENV) or None
    with _CONNECT:
        if ray.is_initialized() and (address is None or _connected_to == [target]):
            return
        if ray.is_initialized():
            ray.shutdown()
        try:
            if target is None:
                ray.init(num_cpus=workers, include_dashboard=False, log_to_driver=False)
            else:
                ray.init(address=target, log_to_driver=False)
        except (ConnectionError, RuntimeError) as error:
            raise ValueError(f"options.ray_address: cannot join Ray at {target}: {error}") from None
        _connected_to[:] = [target]


class RayFanOut:
    """Tasks on the Ray cluster at ``address`` (see the module docstring)."""

    def __init__(self, address: str | None, workers: int) -> None:
        self.address = address
        self.workers = workers

    def map_unordered(
        self,
        setup: Callable[[C], S],
        work: Callable[[S, T], R],
        context: C,
        tasks: Sequence[T],
        *,
        idle: Callable[[], None] | None = None,
        idle_s: float = IDLE_S,
    ) -> Iterator[tuple[int, R]]:
        connect(self.address, self.workers)
        token = uuid.uuid4().hex
        shared = [ray.put(context)]
        pending = {_run.remote(token, setup, work, shared, task): i for i, task in enumerate(tasks)}
        try:
            while pending:
                done, _ = ray.wait(
                    list(pending), num_returns=1, timeout=idle_s if idle is not None else None
                )
                if not done and idle is not None:
                    idle()
                for ref in done:
                    yield pending.pop(ref), ray.get(ref)
        finally:
            for ref in pending:
                ray.cancel(ref)
