"""The device-count search on instances whose answer is known by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest

from planner.codec import decode, encode
from planner.deadline import Deadline
from planner.domain import Cluster, ParallelConfig, Workload
from planner.evaluation.devices import (
    Answer,
    DeviceNeed,
    Outcome,
    Point,
    device_counts,
    device_need,
    search,
)
from planner.sim import Instance
from tests.unit.placement_cases import GB, model

SINGLE = (ParallelConfig(1, 1),)


def bursts(size: int, count: int = 20) -> Workload:
    """``size`` simultaneous requests of model ``m`` every second."""
    arrivals = np.repeat(np.arange(count, dtype=np.float64), size)
    return Workload(arrivals, np.zeros(arrivals.size, np.int32), ("m",), float(count))


# one replica per device (weights take 3 of 4 GB), one request at a time,
# SLO 1.5 x latency: each burst of k requests needs k replicas, and with
# j < k replicas exactly j of every k meet the SLO.
CLUSTER = Cluster(num_devices=8, device_mem_bytes=4 * GB, devices_per_node=4)
MODELS = (model("m", latency_s=0.1, weight_bytes=3 * GB, slo_s=0.15, configs=SINGLE),)


def test_counts_are_any_within_a_node_then_whole_nodes() -> None:
    assert device_counts(4, 3) == (1, 2, 3)
    assert device_counts(4, 14) == (1, 2, 3, 4, 8, 12)
    assert device_counts(8, 16) == (1, 2, 3, 4, 5, 6, 7, 8, 16)
    with pytest.raises(ValueError, match="max_devices"):
        device_counts(4, 0)


@pytest.mark.parametrize("strategy", ["greedy", "sr", "clockwork"])
def test_a_burst_of_k_needs_exactly_k_devices(strategy: str) -> None:
    seen: list[float] = []
    answer = search(
        strategy,
        CLUSTER,
        MODELS,
        bursts(3),
        target=0.99,
        max_devices=16,
        deadline=Deadline.after(60),
        progress=lambda fraction, message: seen.append(fraction),
    )
    assert answer.devices == 3 and answer.describe() == "3 devices"
    by_count = {p.devices: p.attainment for p in answer.points}
    # bisection over (1, 2, 3, 4, 8, 12, 16): 16, 3 and 2; then 1 and 4 around 3
    assert by_count[16] == 1.0 and by_count[3] == 1.0
    assert math.isclose(by_count[2], 2 / 3)
    assert [p.devices for p in answer.points] == [1, 2, 3, 4, 16]
    assert math.isclose(by_count[1], 1 / 3) and by_count[4] == 1.0
    assert answer.non_monotone == ()
    assert answer.attainment == 1.0
    plan = answer.placement or answer.timed_plan
    assert plan is not None
    assert seen and all(0 <= f <= 1 for f in seen) and seen[-1] == 1.0


def test_above_the_largest_count_is_not_a_number() -> None:
    answer = search(
        "greedy",
        CLUSTER,
        MODELS,
        bursts(6),
        target=0.99,
        max_devices=5,
        deadline=Deadline.after(30),
    )
    assert answer.devices is None and answer.largest_tried == 4
    assert answer.describe() == "above 4 devices"
    assert [p.devices for p in answer.points] == [4]
    assert answer.placement is None and answer.attainment is None


def scripted(passing: set[int], monkeypatch: pytest.MonkeyPatch) -> None:
    """Make every strategy pass on exactly the counts in ``passing``."""

    def evaluate(instance: Instance, deadline: Deadline, progress: object) -> Outcome:
        return Outcome(1.0 if instance.cluster.num_devices in passing else 0.5, "heuristic")

    monkeypatch.setattr("planner.evaluation.devices.evaluator", lambda strategy: evaluate)


def run(max_devices: int = 8) -> Answer:
    return search(
        "greedy",
        CLUSTER,
        MODELS,
        bursts(1),
        target=0.9,
        max_devices=max_devices,
        deadline=Deadline.after(5),
    )


@pytest.mark.parametrize(
    ("passing", "devices", "evaluated", "non_monotone"),
    [
        # counts (1, 2, 3, 4, 8): 8, then 2 fails, 3 passes; 1 and 4 around it
        ({3, 4, 8}, 3, [1, 2, 3, 4, 8], ()),
        # 4 fails above the answer 3
        ({3, 8}, 3, [1, 2, 3, 4, 8], (4,)),
        # 1 passes below the failing 2: the answer stays 3, and 1 is reported
        ({1, 3, 4, 8}, 3, [1, 2, 3, 4, 8], (1,)),
        # 8 passes, 2 passes, 1 passes: the answer is the smallest count
        ({1, 2, 8}, 1, [1, 2, 8], ()),
        # the largest fails: "above 8" even though smaller counts would pass
        ({1, 2, 3, 4}, None, [8], ()),
    ],
)
def test_points_on_the_wrong_side_are_reported(
    passing: set[int],
    devices: int | None,
    evaluated: list[int],
    non_monotone: tuple[int, ...],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    scripted(passing, monkeypatch)
    answer = run()
    assert answer.devices == devices
    assert [p.devices for p in answer.points] == evaluated
    assert answer.non_monotone == non_monotone


def test_bad_arguments_name_the_field() -> None:
    for kwargs, field in (
        ({"target": 0.0, "max_devices": 4}, "target"),
        ({"target": 1.5, "max_devices": 4}, "target"),
        ({"target": 0.9, "max_devices": 0}, "max_devices"),
    ):
        with pytest.raises(ValueError, match=field):
            search("greedy", CLUSTER, MODELS, bursts(1), deadline=Deadline.after(5), **kwargs)
    with pytest.raises(ValueError, match="strategy"):
        search(
            "replan",
            CLUSTER,
            MODELS,
            bursts(1),
            target=0.9,
            max_devices=4,
            deadline=Deadline.after(5),
        )


def test_strategies_side_by_side_round_trip_through_json() -> None:
    need = device_need(
        ["greedy", "sr", "greedy", "clockwork"],
        CLUSTER,
        MODELS,
        bursts(2),
        target=0.99,
        max_devices=8,
        deadline=Deadline.after(60),
    )
    assert [a.strategy for a in need.answers] == ["greedy", "sr", "clockwork"]
    assert [a.devices for a in need.answers] == [2, 2, 2]
    data = encode(need)
    back = decode(DeviceNeed, data, "need")
    assert encode(back) == data
    assert back.answers[0].points == need.answers[0].points
    assert data["answers"][2]["timed_plan"] is not None and data["answers"][2]["placement"] is None
    empty = Answer("sr", None, 4, (Point(4, 0.5, "heuristic"),))
    assert decode(Answer, encode(empty), "answer") == empty
