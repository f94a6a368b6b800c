"""Selective Replication and Clockwork++ baselines."""

from __future__ import annotations

import numpy as np

from planner.deadline import Deadline
from planner.domain import Cluster, ParallelConfig, Workload
from planner.placement.baselines import instant_load
from planner.placement.options import SolveOptions
from planner.placement.solve import solve
from planner.sim import Instance, simulate
from planner.validation import validate, validate_plan
from planner.workloads.windows import window_workload
from tests.unit.placement_cases import GB, model, workload


def test_window_workload_shifts_a_slice_to_zero() -> None:
    traffic = Workload.merge({"a": [0.5, 1.5, 2.5], "b": [1.0, 2.0]}, 3.0)
    part = window_workload(traffic, 1.0, 2.0)
    assert part.duration_s == 1.0
    assert part.arrivals_s.tolist() == [0.0, 0.5]
    assert [part.model_names[i] for i in part.model_ids] == ["b", "a"]


def test_instant_load_takes_no_time() -> None:
    cluster = instant_load(Cluster(4, 20 * GB, load_bw_bytes_per_s=1e9, load_overhead_s=2.0))
    assert 5.0 + cluster.load_time_s(20 * GB) == 5.0


def test_selective_replication_uses_single_devices_only() -> None:
    models = [model(f"m{i}", weight_bytes=4 * GB) for i in range(3)]
    cluster = Cluster(3, 10 * GB, devices_per_node=4)
    traffic = workload({"m0": 9.0, "m1": 4.0, "m2": 2.0}, cv=2.0, duration_s=20)
    result = solve(Instance(cluster, models, traffic), solver="sr", deadline=Deadline.after(60))
    validate(cluster, models, result.placement)
    assert [g.devices for g in result.placement.groups] == [(0,), (1,), (2,)]
    assert {g.config for g in result.placement.groups} == {ParallelConfig(1, 1)}
    assert result.placement.model_names == {"m0", "m1", "m2"}
    assert result.attainment == simulate(cluster, models, result.placement, traffic).attainment


def test_clockwork_replaces_per_window_and_follows_shifting_popularity() -> None:
    # "a" is busy in the first half, "b" in the second; one device holds one
    # model, so a static plan must split the devices.
    models = [model("a", weight_bytes=6 * GB), model("b", weight_bytes=6 * GB)]
    cluster = Cluster(2, 10 * GB, devices_per_node=2)
    rng = np.random.default_rng(0)
    first = np.sort(rng.uniform(0, 10, 300))
    second = np.sort(rng.uniform(10, 20, 300))
    traffic = Workload.merge(
        {"a": np.concatenate([first, second[::20]]), "b": np.concatenate([first[::20], second])},
        20.0,
    )
    options = SolveOptions(clockwork_window_s=10.0)
    result = solve(
        Instance(cluster, models, traffic),
        solver="clockwork",
        deadline=Deadline.after(60),
        options=options,
    )
    assert result.timed_plan is not None
    validate_plan(cluster, models, result.timed_plan)
    starts = [start for start, _ in result.timed_plan.steps]
    assert starts == [0.0, 10.0]
    hosts = [
        sorted(m for g in placement.groups for m in g.models)
        for _, placement in result.timed_plan.steps
    ]
    assert hosts[0].count("a") == 2 and hosts[1].count("b") == 2
    replayed = simulate(instant_load(cluster), models, result.timed_plan, traffic)
    assert result.attainment == replayed.attainment
    static = solve(Instance(cluster, models, traffic), solver="sr", deadline=Deadline.after(60))
    assert result.attainment > static.attainment
    assert result.placement == result.timed_plan.steps[0][1]
