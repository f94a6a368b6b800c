"""The Selective Replication baseline."""

from __future__ import annotations

from planner.deadline import Deadline
from planner.domain import Cluster, ParallelConfig, Workload
from planner.placement.solve import solve
from planner.sim import Instance, simulate
from planner.validation import validate
from planner.workloads.windows import window_workload
from tests.unit.placement_cases import GB, model, workload


def test_window_workload_shifts_a_slice_to_zero() -> None:
    traffic = Workload.merge({"a": [0.5, 1.5, 2.5], "b": [1.0, 2.0]}, 3.0)
    part = window_workload(traffic, 1.0, 2.0)
    assert part.duration_s == 1.0
    assert part.arrivals_s.tolist() == [0.0, 0.5]
    assert [part.model_names[i] for i in part.model_ids] == ["b", "a"]


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
