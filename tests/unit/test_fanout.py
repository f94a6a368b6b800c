"""The fan-out backends: the local pool equals the serial run, state is
built once per process, a map waiting on the pool calls its ``idle``
callback and stops the pool when it raises, and a Ray backend that cannot
run is refused naming the option."""

from __future__ import annotations

import itertools
import multiprocessing
import os
import socket
import time

import pytest

from planner.evaluation.spread import remote_fan_out
from planner.fanout import LocalPool, Serial, as_is, check_backend, fan_out, head_endpoint
from planner.placement.options import split_options


def offset(context: int) -> tuple[int, int]:
    """State: the context and the id of the process that built it."""
    return context, os.getpid()


def shifted(state: tuple[int, int], task: int) -> tuple[int, int, int]:
    base, builder = state
    return base + task * task, builder, os.getpid()


def test_serial_and_pool_give_the_same_results_with_state_built_once_per_process() -> None:
    tasks = list(range(12))
    serial = dict(Serial().map_unordered(offset, shifted, 100, tasks))
    pooled = dict(LocalPool(2).map_unordered(offset, shifted, 100, tasks))
    assert [serial[i][0] for i in range(12)] == [100 + i * i for i in tasks]
    assert [pooled[i][0] for i in range(12)] == [serial[i][0] for i in range(12)]
    # every task ran on state its own process built, in a worker, not here
    assert all(builder == runner != os.getpid() for _, builder, runner in pooled.values())
    assert all(builder == runner == os.getpid() for _, builder, runner in serial.values())


def napping(_: None, pause_s: float) -> float:
    time.sleep(pause_s)
    return pause_s


class Stop(Exception):
    """What the test's idle callback raises."""


def test_an_idle_callback_that_raises_stops_the_pool_within_a_poll() -> None:
    calls: list[float] = []

    def idle() -> None:
        calls.append(time.monotonic())
        if len(calls) == 3:
            raise Stop

    start = time.monotonic()
    work = LocalPool(2).map_unordered(as_is, napping, None, [60.0, 60.0], idle=idle, idle_s=0.2)
    with pytest.raises(Stop):
        next(work)
    assert time.monotonic() - start < 5.0  # not the tasks' 60 s
    assert len(calls) == 3
    assert all(later - earlier >= 0.19 for earlier, later in itertools.pairwise(calls))
    assert multiprocessing.active_children() == []  # the pool's processes are gone


def test_serial_calls_idle_between_tasks() -> None:
    calls: list[int] = []
    done = list(
        Serial().map_unordered(as_is, napping, None, [0.0] * 3, idle=lambda: calls.append(1))
    )
    assert done == [(0, 0.0), (1, 0.0), (2, 0.0)]
    assert len(calls) == 2


def test_fan_out_by_name() -> None:
    assert isinstance(fan_out("local", workers=1), Serial)
    assert isinstance(fan_out("local", workers=3), LocalPool)
    with pytest.raises(ValueError, match=r"^options\.backend: must be one of local, ray; got 'x'"):
        fan_out("x", workers=1)


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_an_unreachable_ray_address_is_refused_naming_the_option() -> None:
    pytest.importorskip("ray")
    port = closed_port()
    with pytest.raises(
        ValueError, match=rf"^options\.ray_address: no Ray cluster answers at 127\.0\.0\.1:{port} "
    ):
        check_backend("ray", f"127.0.0.1:{port}")
    check_backend("local", f"127.0.0.1:{port}")  # only the ray backend needs a cluster


def test_ray_options_are_validated() -> None:
    _, options = split_options({"backend": "ray", "ray_address": "10.0.0.5:6379"})
    assert (options.backend, options.ray_address) == ("ray", "10.0.0.5:6379")
    assert split_options({})[1].backend == "local"
    with pytest.raises(ValueError, match=r"^options\.backend: must be one of local, ray"):
        split_options({"backend": "dask"})
    with pytest.raises(ValueError, match=r"^options\.ray_address: must be host:port"):
        split_options({"ray_address": "10.0.0.5"})
    with pytest.raises(ValueError, match=r"^options\.use_ray: replaced by backend=ray "):
        split_options({"use_ray": True})


@pytest.mark.parametrize(
    ("address", "endpoint"),
    [
        ("h:1", ("h", 1)),
        ("ray://10.1.2.3:10001", ("10.1.2.3", 10001)),
        ("[::1]:6379", ("::1", 6379)),
        ("auto", None),
    ],
)
def test_head_endpoint(address: str, endpoint: tuple[str, int] | None) -> None:
    assert head_endpoint(address) == endpoint


@pytest.mark.parametrize("address", ["h", ":1", "h:0", "h:70000", "h:x"])
def test_head_endpoint_rejects(address: str) -> None:
    with pytest.raises(ValueError, match="must be host:port"):
        head_endpoint(address)


def test_remote_fan_out_only_for_ray_and_its_tasks_solve_locally_on_one_cpu() -> None:
    options = {"greedy_mode": "fast", "workers": 4}
    assert remote_fan_out(options) == (None, options)
    pytest.importorskip("ray")
    with socket.socket() as head:  # something answers where the head would
        head.bind(("127.0.0.1", 0))
        head.listen()
        address = f"127.0.0.1:{head.getsockname()[1]}"
        runner, inner = remote_fan_out({**options, "backend": "ray", "ray_address": address})
    assert type(runner).__name__ == "RayFanOut" and runner.address == address  # type: ignore[union-attr]
    assert inner == {"greedy_mode": "fast", "workers": 1, "backend": "local"}
