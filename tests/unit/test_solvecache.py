"""The solve cache solves each distinct instance once."""

from __future__ import annotations

from planner.domain import Cluster, Workload
from planner.placement.options import SolveOptions
from planner.placement.solution import SolveResult
from planner.replan.solvecache import SolveCache, workload_fingerprint
from planner.sim import Instance, SimOptions
from tests.unit.simulator_cases import GB, model

CLUSTER = Cluster(1, 5 * GB, devices_per_node=1)
MODELS = [model("a", 1.0, [[0.1]]), model("b", 1.0, [[0.1]])]
FIRST = Workload.merge({"a": [0.0, 1.0, 2.0], "b": [0.5]}, 5.0)
OTHER = Workload.merge({"a": [0.0], "b": [0.5, 1.5, 2.5]}, 5.0)


def solve(cache: SolveCache, work: Workload, options: SolveOptions) -> SolveResult:
    instance = Instance(CLUSTER, tuple(MODELS), work)
    return cache.solve(instance, solver="greedy", time_limit_s=5.0, options=options)


def test_fingerprint_follows_the_content() -> None:
    copy = Workload(FIRST.arrivals_s.copy(), FIRST.model_ids.copy(), FIRST.model_names, 5.0)
    assert workload_fingerprint(copy) == workload_fingerprint(FIRST)
    assert workload_fingerprint(OTHER) != workload_fingerprint(FIRST)
    # the same arrivals with the names in another order are another workload
    renamed = Workload.merge({"b": [0.5], "a": [0.0, 1.0, 2.0]}, 5.0)
    assert workload_fingerprint(renamed) != workload_fingerprint(FIRST)


def test_same_instance_is_solved_once() -> None:
    cache = SolveCache()
    first = solve(cache, FIRST, SolveOptions())
    assert solve(cache, FIRST, SolveOptions()) is first
    assert (cache.solves, cache.hits) == (1, 1)
    solve(cache, OTHER, SolveOptions())
    solve(cache, FIRST, SolveOptions(seed=1))
    assert (cache.solves, cache.hits) == (3, 1)
    batched = Instance(CLUSTER, tuple(MODELS), FIRST, SimOptions(max_batch=2))
    cache.solve(batched, solver="greedy", time_limit_s=5.0, options=SolveOptions())
    assert (cache.solves, cache.hits) == (4, 1)
    assert cache.solve_s > 0
