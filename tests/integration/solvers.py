"""Stand-in solve functions for worker tests: same signature as
:func:`planner.placement.solve.solve`, deterministic, and steerable from the test."""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

from planner.domain import Group, ModelSpec, ParallelConfig, Placement
from planner.placement.solution import SolveResult
from planner.sim import Instance

Progress = Callable[[float, str], None]


def one_device_each(models: Sequence[ModelSpec], name: str = "one-device-each") -> SolveResult:
    """Model ``i`` alone on device ``i`` (op1xpp1); proxy objective = the
    number of models, bound infinite (JSON has no infinity: stored as null)."""
    groups = tuple(Group((i,), ParallelConfig(1, 1), (m.name,)) for i, m in enumerate(models))
    return SolveResult(
        placement=Placement(groups),
        attainment=0.75,
        solver=name,
        status="heuristic",
        wall_s=0.5,
        proxy_objective=float(len(models)),
        bound=math.inf,
        gap=None,
    )


def instant(instance: Instance, **kwargs: Any) -> SolveResult:
    kwargs["progress"](1.0, "placed")
    return one_device_each(instance.models)


class Gate:
    """A solve that reports ``progress(0.5, "halfway")``, then waits until
    the test calls :meth:`open` (reporting progress every 10 ms, so cancels
    and lost leases stop it)."""

    def __init__(self, name: str = "gated") -> None:
        self.name = name
        self.started = threading.Event()
        self.opened = threading.Event()

    def open(self) -> None:
        self.opened.set()

    def __call__(self, instance: Instance, **kwargs: Any) -> SolveResult:
        progress: Progress = kwargs["progress"]
        progress(0.5, "halfway")
        self.started.set()
        while not self.opened.wait(0.01):
            progress(0.5, "halfway")
        return one_device_each(instance.models, self.name)


def hanging(instance: Instance, **kwargs: Any) -> SolveResult:
    """Reports progress 0.1 and never returns (until aborted)."""
    while True:
        kwargs["progress"](0.1, "hanging")
        time.sleep(0.01)


def failing(instance: Instance, **kwargs: Any) -> SolveResult:
    raise RuntimeError("the solver broke")


def off_the_cluster(instance: Instance, **kwargs: Any) -> SolveResult:
    """A placement on a device the cluster does not have."""
    devices = (instance.cluster.num_devices,)
    group = Group(devices, ParallelConfig(1, 1), (instance.models[0].name,))
    return SolveResult(Placement((group,)), 1.0, "broken", "heuristic", 0.0)
