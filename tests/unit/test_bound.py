"""The upper bound on attainment: hand-computed cases, and no simulated
plan ever beats it (hypothesis)."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
from hypothesis import given, settings
from hypothesis import strategies as st

from planner.domain import Cluster, ParallelConfig, Workload
from planner.placement.bound import attainment_bound, request_work_s, served_bound
from planner.sim import Instance, SimOptions, simulate
from tests.unit.simulator_cases import GB, PIPE, group, model, multi_config_model, placement

ONE = Cluster(1, 100 * GB, devices_per_node=1, load_bw_bytes_per_s=1e9)
OP2PP2 = ParallelConfig(2, 2)


def test_request_work_is_the_least_device_time_over_configs_and_batches() -> None:
    m = multi_config_model(
        "m",
        1.0,
        {
            ParallelConfig(1, 1): [[0.1], [0.16]],
            OP2PP2: [[0.02, 0.03], [0.03, 0.04]],
        },
    )
    # batch 1: op1pp1 0.1; op2pp2 2 x (0.02 + 0.03) = 0.1
    assert request_work_s(m, max_batch=1) == 0.1
    # batch 2: op1pp1 0.16 / 2 = 0.08; op2pp2 2 x 0.07 / 2 = 0.07
    assert request_work_s(m, max_batch=2) == 0.07


def test_served_bound_takes_the_cheapest_requests_of_each_bin() -> None:
    arrival = np.array([0.0, 0.5, 1.2, 1.5, 1.7])
    work = np.array([1.0, 1.0, 0.2, 0.3, 0.9])
    # bins [0, 1) and [1, 2), each with 1 x (1 + 0.1) device-seconds:
    # bin 0 fits one request of 1.0; bin 1 fits 0.2 + 0.3 but not 0.9 more
    assert served_bound(arrival, work, 1, 1.0, 0.1) == 3
    # two devices: bin 0 fits both; bin 1 fits all three (1.4 <= 2.2)
    assert served_bound(arrival, work, 2, 1.0, 0.1) == 5
    assert served_bound(np.empty(0), np.empty(0), 1, 1.0, 0.1) == 0


def test_bound_of_an_overloaded_device_is_its_capacity() -> None:
    # 0.1 s of work every 0.05 s for 20 s on one device: in the widest bin
    # (the whole scored span) at most (20 + 0.25) / 0.1 = 202 of 400 run.
    m = model("m", 0.25, [[0.1]])
    arrivals = 0.05 * np.arange(400)
    workload = _one_model(arrivals, 20.0)
    bound = attainment_bound(Instance(ONE, [m], workload))
    assert bound <= 202 / 400
    # the simulator serves at most that many
    served = simulate(ONE, [m], placement(group([0], "m")), workload)
    assert served.attainment <= bound


def test_bound_is_one_when_the_cluster_keeps_up_and_zero_when_slo_is_unreachable() -> None:
    workload = _one_model(0.2 * np.arange(50), 10.0)
    assert attainment_bound(Instance(ONE, [model("m", 0.25, [[0.1]])], workload)) == 1.0
    # alone at batch 1 the model takes 0.3 s > its 0.25 s SLO
    assert attainment_bound(Instance(ONE, [model("m", 0.25, [[0.3]])], workload)) == 0.0


def test_bound_scores_like_the_simulator() -> None:
    # only requests after the 5 s warm-up count: 25 of them, all servable
    workload = _one_model(0.2 * np.arange(50), 10.0)
    m = model("m", 0.25, [[0.1]])
    assert attainment_bound(Instance(ONE, [m], workload, SimOptions(warmup_s=5.0))) == 1.0
    empty = _one_model(np.array([1.0]), 10.0)
    assert attainment_bound(Instance(ONE, [m], empty, SimOptions(warmup_s=5.0))) == 1.0


@settings(max_examples=60, deadline=None)
@given(
    gaps=st.lists(st.floats(0.001, 0.3), min_size=1, max_size=80),
    names=st.lists(st.sampled_from("ab"), min_size=80, max_size=80),
    latency=st.floats(0.02, 0.2),
    slo_scale=st.floats(1.0, 4.0),
    shared=st.booleans(),
    max_batch=st.integers(1, 3),
)
def test_no_simulated_plan_beats_the_bound(
    gaps: list[float],
    names: list[str],
    latency: float,
    slo_scale: float,
    shared: bool,
    max_batch: int,
) -> None:
    serial = [[latency * (1 + 0.5 * b)] for b in range(3)]
    piped = [[row[0] / 2, row[0] / 2] for row in serial]
    slo_s = slo_scale * latency
    models = [
        multi_config_model("a", slo_s, {ParallelConfig(1, 1): serial, PIPE: piped}),
        model("b", slo_s, piped, PIPE),
    ]
    arrivals = np.cumsum(gaps)
    workload = _workload(arrivals, names[: len(gaps)], float(arrivals[-1]) + 1.0)
    cluster = Cluster(3, 100 * GB, devices_per_node=3, load_bw_bytes_per_s=1e12)
    pipeline = group([1, 2], "a", "b", config=PIPE) if shared else group([1, 2], "b", config=PIPE)
    options = SimOptions(max_batch=max_batch)
    served = simulate(cluster, models, placement(group([0], "a"), pipeline), workload, options)
    assert (
        served.attainment <= attainment_bound(Instance(cluster, models, workload, options)) + 1e-12
    )


def _one_model(arrivals: npt.NDArray[np.float64], duration_s: float) -> Workload:
    return _workload(arrivals, ["m"] * len(arrivals), duration_s)


def _workload(arrivals: npt.NDArray[np.float64], names: list[str], duration_s: float) -> Workload:
    order = sorted(set(names))
    ids = np.array([order.index(name) for name in names], dtype=np.int32)
    return Workload(np.asarray(arrivals, dtype=np.float64), ids, tuple(order), duration_s)
