"""Domain values: construction checks, errors naming the field, JSON round trips."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from planner.codec import decode, encode
from planner.domain import (
    Cluster,
    Group,
    ModelSpec,
    ParallelConfig,
    Placement,
    Profile,
    StageProfile,
    TimedPlan,
    Workload,
)


def stage(pp: int, latency: float = 0.1, weight: int = 100) -> StageProfile:
    return StageProfile(((latency,) * pp, (latency * 1.5,) * pp), (weight,) * pp, act_bytes=4)


def test_parallel_config_size_and_parse() -> None:
    config = ParallelConfig(2, 4)
    assert config.size == 8
    assert str(config) == "op2xpp4"
    assert ParallelConfig.parse("op2xpp4") == config
    assert ParallelConfig.parse("2x4") == config
    with pytest.raises(ValueError, match=r"^config: expected"):
        ParallelConfig.parse("2by4")


@pytest.mark.parametrize(("op", "pp", "field"), [(0, 1, "op"), (1, -2, "pp"), (1.5, 1, "op")])
def test_parallel_config_rejects_non_positive(op: object, pp: object, field: str) -> None:
    with pytest.raises(ValueError, match=f"^{field}: must be a positive integer"):
        ParallelConfig(op, pp)  # type: ignore[arg-type]


def test_stage_profile_latency_and_weights() -> None:
    profile = StageProfile(((0.1, 0.2), (0.15, 0.3)), (10, 30), act_bytes=2)
    assert profile.num_stages == 2
    assert profile.max_batch == 2
    assert profile.weight_bytes == 30
    assert profile.latency(2) == pytest.approx(0.45)


def test_stage_profile_errors_name_the_field() -> None:
    with pytest.raises(ValueError, match=r"^latency_s\[2\]\[1\]: must be > 0"):
        StageProfile(((0.1, 0.2), (0.1, -1.0)), (1, 1))
    with pytest.raises(
        ValueError, match=r"^latency_s\[1\]: has 1 stages, stage_weight_bytes has 2"
    ):
        StageProfile(((0.1,),), (1, 1))
    with pytest.raises(
        ValueError, match=r"^stage_weight_bytes\[0\]: must be a non-negative integer"
    ):
        StageProfile(((0.1,),), (-5,))


def test_stage_profile_json_interpolates_missing_batches() -> None:
    data = {"latency_s": {"1": [0.1], "4": [0.4], "2": [0.2]}, "stage_weight_bytes": [7]}
    profile = decode(StageProfile, data, "profile")
    assert profile.max_batch == 4
    assert profile.latency_s[2] == pytest.approx((0.3,))
    back = decode(StageProfile, json.loads(json.dumps(encode(profile))), "profile")
    assert back == profile


def test_stage_profile_json_errors() -> None:
    with pytest.raises(ValueError, match=r"^profile.latency_s: batch size 1 is required"):
        decode(StageProfile, {"latency_s": {"2": [0.1]}, "stage_weight_bytes": [1]}, "profile")
    with pytest.raises(ValueError, match=r"^profile.stage_weight_bytes: is required"):
        decode(StageProfile, {"latency_s": [[0.1]]}, "profile")


def test_profile_checks_stage_count_matches_config() -> None:
    with pytest.raises(
        ValueError, match=r"^profile\[op1xpp2\]: has 1 stages but the config has pp=2"
    ):
        Profile({ParallelConfig(1, 2): stage(1)})


def test_model_spec_round_trip_and_errors() -> None:
    profile = Profile({ParallelConfig(1, 1): stage(1), ParallelConfig(2, 2): stage(2)})
    model = ModelSpec("bert", 0.5, profile, family="bert")
    assert decode(ModelSpec, json.loads(json.dumps(encode(model))), "model") == model
    with pytest.raises(ValueError, match=r"^slo_s: must be > 0"):
        ModelSpec("bert", 0.0, profile)
    with pytest.raises(ValueError, match=r"^model.slo_s: must be > 0"):
        decode(ModelSpec, {**encode(model), "slo_s": -1}, "model")
    with pytest.raises(ValueError, match=r"^model.name: must be a non-empty string"):
        decode(ModelSpec, {**encode(model), "name": " "}, "model")


def test_cluster_load_time_and_node() -> None:
    cluster = Cluster(
        16, 20 * 2**30, devices_per_node=8, load_bw_bytes_per_s=2e9, load_overhead_s=0.5
    )
    assert cluster.node_of(7) == 0
    assert cluster.node_of(8) == 1
    assert cluster.load_time_s(4_000_000_000) == pytest.approx(2.5)
    assert decode(Cluster, encode(cluster), "cluster") == cluster


def test_cluster_json_errors_name_the_field() -> None:
    with pytest.raises(ValueError, match=r"^cluster.num_devices: must be a positive integer"):
        decode(Cluster, {"num_devices": 0, "device_mem_bytes": 10}, "cluster")
    with pytest.raises(ValueError, match=r"^cluster.device_mem_bytes: is required"):
        decode(Cluster, {"num_devices": 4}, "cluster")
    with pytest.raises(ValueError, match=r"^cluster.gpus: is not a field of Cluster"):
        decode(Cluster, {"num_devices": 4, "device_mem_bytes": 10, "gpus": 3}, "cluster")


def test_group_checks_devices_and_models() -> None:
    group = Group((4, 5, 6, 7), ParallelConfig(2, 2), ("a", "b"))
    assert group.stage_devices(1) == (6, 7)
    with pytest.raises(ValueError, match=r"^devices: has 3 devices but config op2xpp2 needs 4"):
        Group((0, 1, 2), ParallelConfig(2, 2))
    with pytest.raises(ValueError, match=r"^devices: lists a device twice"):
        Group((0, 0), ParallelConfig(2, 1))
    with pytest.raises(ValueError, match=r"^models: hosts a model twice"):
        Group((0,), ParallelConfig(1, 1), ("a", "a"))


def test_placement_rejects_overlapping_devices() -> None:
    with pytest.raises(
        ValueError, match=r"^groups\[1\].devices: device 1 is already in groups\[0\]"
    ):
        Placement((Group((0, 1), ParallelConfig(2, 1)), Group((1,), ParallelConfig(1, 1))))


def test_placement_hosts_and_json() -> None:
    placement = Placement(
        (Group((0, 1), ParallelConfig(1, 2), ("a",)), Group((2,), ParallelConfig(1, 1), ("a", "b")))
    )
    assert placement.hosts("a") == (0, 1)
    assert placement.hosts("c") == ()
    assert placement.num_replicas == 3
    assert decode(Placement, json.loads(json.dumps(encode(placement))), "placement") == placement
    with pytest.raises(ValueError, match=r"^placement.groups\[0\].config.op: must be a positive"):
        decode(Placement, {"groups": [{"devices": [0], "config": {"op": 0, "pp": 1}}]}, "placement")


def test_timed_plan_ordering() -> None:
    placement = Placement((Group((0,), ParallelConfig(1, 1), ("a",)),))
    plan = TimedPlan(((0, placement), (60, placement)))
    assert decode(TimedPlan, encode(plan), "plan") == plan
    assert TimedPlan.static(placement).steps == ((0.0, placement),)
    with pytest.raises(ValueError, match=r"^steps\[0\].start_s: must be 0"):
        TimedPlan(((5, placement),))
    with pytest.raises(ValueError, match=r"^steps\[2\].start_s: must be after"):
        TimedPlan(((0, placement), (10, placement), (10, placement)))


def test_workload_checks_and_merge() -> None:
    workload = Workload.merge({"a": [0.5, 0.1], "b": [0.3]}, duration_s=1.0)
    assert workload.arrivals_s.tolist() == [0.1, 0.3, 0.5]
    assert workload.model_ids.tolist() == [0, 1, 0]
    assert workload.for_model("a").tolist() == [0.1, 0.5]
    back = decode(Workload, json.loads(json.dumps(encode(workload))), "workload")
    assert back.arrivals_s.tolist() == workload.arrivals_s.tolist()
    with pytest.raises(
        ValueError, match=r"^arrivals_s\[2\]: 0.1 is before the previous arrival 0.3"
    ):
        Workload(np.array([0.0, 0.3, 0.1]), np.zeros(3, np.int32), ("a",), 1.0)
    with pytest.raises(ValueError, match=r"^model_ids: must index model_names"):
        Workload(np.array([0.0]), np.array([1], np.int32), ("a",), 1.0)
    with pytest.raises(ValueError, match=r"^workload.duration_s: must be > 0"):
        decode(
            Workload,
            {"model_names": [], "arrivals_s": [], "model_ids": [], "duration_s": -1},
            "workload",
        )


@pytest.mark.parametrize(
    ("arrivals", "message"),
    [
        ([0.5, 1.0], r"^arrivals_s\[1\]: must be in \[0, duration_s=1.0\), got 1.0$"),
        ([-0.25, 0.5], r"^arrivals_s\[0\]: must be in \[0, duration_s=1.0\), got -0.25$"),
        ([0.25, math.nan], r"^arrivals_s\[1\]: must be in \[0, duration_s=1.0\), got nan$"),
        ([0.25, 7.0, 0.5], r"^arrivals_s\[1\]: must be in \[0, duration_s=1.0\), got 7.0$"),
    ],
)
def test_workload_arrivals_lie_in_its_horizon(arrivals: list[float], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Workload(np.array(arrivals), np.zeros(len(arrivals), np.int32), ("a",), 1.0)


def test_workload_horizon_is_half_open() -> None:
    last = float(np.nextafter(1.0, 0.0))
    assert Workload(np.array([0.0, last]), np.zeros(2, np.int32), ("a",), 1.0).num_requests == 2
    with pytest.raises(ValueError, match=r"^workload.arrivals_s\[0\]: must be in \[0, duration"):
        data = {"model_names": ["a"], "duration_s": 1, "arrivals_s": [1.0], "model_ids": [0]}
        decode(Workload, data, "workload")
    with pytest.raises(
        ValueError, match=r"^arrivals_s\[1\]: must be in \[0, duration_s=2.0\), got 2.0"
    ):
        Workload.merge({"a": [0.5], "b": [2.0]}, 2.0)


@given(st.lists(st.floats(0, 100, allow_nan=False), max_size=50), st.integers(1, 4))
def test_workload_merge_is_sorted_and_keeps_every_request(times: list[float], models: int) -> None:
    per_model = {f"m{i}": times[i::models] for i in range(models)}
    workload = Workload.merge(per_model, duration_s=101.0)
    assert workload.num_requests == len(times)
    assert np.all(np.diff(workload.arrivals_s) >= 0)
    for i in range(models):
        assert sorted(workload.for_model(f"m{i}").tolist()) == sorted(times[i::models])
