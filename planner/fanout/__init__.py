"""Map pure tasks over processes, on this host or on a Ray cluster.

A *fan-out* runs ``work(state, task)`` for every task and yields
``(index, result)`` pairs as they finish (any order). ``state`` is built
once per executing process by ``setup(context)``; ``context`` is shipped
once (a pool initializer here, one object in Ray's store there), not once
per task. ``setup``, ``work``, the context, the tasks and the results must
be picklable and the functions importable by name in every process, so
callers pass module-level functions. Callers that need results in order
index them; nothing a caller returns may depend on the finishing order.

A caller that must stay answerable while tasks run (a solve that a cancel
stops) passes ``idle``: called every ``idle_s`` seconds while no result
has arrived (by the process backends; :class:`Serial` runs the tasks in the
caller's thread and calls it only between them). An exception it raises
ends the map at once, the running tasks stopped (the pool terminated, the
Ray tasks cancelled), and passes on.

Backends, chosen by name (:data:`BACKENDS`, the solve option ``backend``):

- ``local``: a process pool of ``workers`` processes on this host (forked
  where possible, so workers inherit whatever the parent compiled);
  ``workers = 1`` runs in this process.
- ``ray``: tasks on a Ray cluster (:mod:`planner.fanout.ray_backend`,
  imported only when chosen, so the planner stays importable without Ray):
  the cluster at ``address``, else at ``MESHPLAN_RAY_ADDRESS``, else a
  one-host Ray started for this process with ``workers`` CPUs. Every
  machine of the cluster must have meshplan installed.

A deadline must not travel inside a task to another host (monotonic clocks
differ between hosts); send :meth:`planner.deadline.Deadline.wall_s`.
"""

from __future__ import annotations

import importlib.util
import multiprocessing
import socket
from collections.abc import Callable, Iterator, Sequence
from typing import Any, Protocol, TypeVar

C = TypeVar("C")
S = TypeVar("S")
T = TypeVar("T")
R = TypeVar("R")

BACKENDS = ("local", "ray")
"""Names of the fan-out backends."""

ADDRESS_ENV = "MESHPLAN_RAY_ADDRESS"
"""Environment variable naming the Ray cluster when no address is given."""

IDLE_S = 0.25
"""Default seconds between ``idle`` calls while a map waits for results."""

PROBE_TIMEOUT_S = 2.0
"""How long :func:`check_backend` waits for a TCP connection to a Ray head."""


def as_is(context: C) -> C:
    """The setup whose state is the context itself."""
    return context


class FanOut(Protocol):
    """Runs ``work(setup(context), task)`` for every task; see the module."""

    def map_unordered(
        self,
        setup: Callable[[C], S],
        work: Callable[[S, T], R],
        context: C,
        tasks: Sequence[T],
        *,
        idle: Callable[[], None] | None = None,
        idle_s: float = IDLE_S,
    ) -> Iterator[tuple[int, R]]: ...


class Serial:
    """Every task in this process, in order."""

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
        state = setup(context)
        for index, task in enumerate(tasks):
            if idle is not None and index:
                idle()
            yield index, work(state, task)


# Pool worker side: the state built by the initializer and the work function.
_POOL_STATE: dict[str, Any] = {}


def _init_pool_worker(setup: Callable[[Any], Any], context: Any) -> None:
    _POOL_STATE["state"] = setup(context)


def _run_pool_task(item: tuple[int, Callable[[Any, Any], Any], Any]) -> tuple[int, Any]:
    index, work, task = item
    return index, work(_POOL_STATE["state"], task)


def _next_waiting(results: Any, idle: Callable[[], None] | None, idle_s: float) -> tuple[int, Any]:
    """The pool's next result, calling ``idle`` every ``idle_s`` meanwhile."""
    if idle is None:
        return results.next()
    while True:
        try:
            return results.next(idle_s)
        except multiprocessing.TimeoutError:
            idle()


class LocalPool:
    """A process pool of ``workers`` processes on this host."""

    def __init__(self, workers: int) -> None:
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
        methods = multiprocessing.get_all_start_methods()
        mp = multiprocessing.get_context("fork" if "fork" in methods else None)
        pool = mp.Pool(self.workers, initializer=_init_pool_worker, initargs=(setup, context))
        try:
            items = [(index, work, task) for index, task in enumerate(tasks)]
            results = pool.imap_unordered(_run_pool_task, items)
            for _ in items:
                yield _next_waiting(results, idle, idle_s)
            pool.close()
            pool.join()
        finally:
            pool.terminate()


def ray_installed() -> bool:
    return importlib.util.find_spec("ray") is not None


def head_endpoint(address: str) -> tuple[str, int] | None:
    """``(host, port)`` of a Ray address ``host:port`` (optionally
    ``ray://host:port``); None for ``auto``. ValueError for anything else."""
    if address == "auto":
        return None
    host, sep, port = address.removeprefix("ray://").rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"must be host:port (or auto), got {address!r}")
    return host.strip("[]"), int(port)


def check_backend(name: str, address: str | None, *, probe: bool = True) -> None:
    """Raise ValueError naming ``options.backend`` when ``name`` is ``ray``
    and Ray is not installed here, or ``options.ray_address`` when the
    address is malformed or (with ``probe``) no Ray head answers on it (a
    TCP connection of at most :data:`PROBE_TIMEOUT_S`). Starts and joins
    nothing. The service checks without ``probe``: the workers, not it,
    must reach the cluster, and it must not open connections that a
    request names."""
    if name != "ray":
        return
    if not ray_installed():
        raise ValueError("options.backend: Ray is not installed (pip install 'meshplan[ray]')")
    if address is None:
        return
    try:
        endpoint = head_endpoint(address)
    except ValueError as error:
        raise ValueError(f"options.ray_address: {error}") from None
    if endpoint is None or not probe:
        return
    try:
        socket.create_connection(endpoint, timeout=PROBE_TIMEOUT_S).close()
    except OSError as error:
        raise ValueError(
            f"options.ray_address: no Ray cluster answers at {address} ({error})"
        ) from None


def fan_out(name: str, *, workers: int, address: str | None = None) -> FanOut:
    """The backend called ``name`` (:data:`BACKENDS`); ValueError naming
    ``options.backend`` or ``options.ray_address`` when it cannot run."""
    if name == "local":
        return Serial() if workers <= 1 else LocalPool(workers)
    if name == "ray":
        check_backend(name, address)
        from planner.fanout.ray_backend import RayFanOut

        return RayFanOut(address, workers)
    raise ValueError(f"options.backend: must be one of {', '.join(BACKENDS)}; got {name!r}")
