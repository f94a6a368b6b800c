"""An agent's life against the real planning API: it heartbeats with state
``loading`` before its first replica is ready, and ``meshplan agent`` stops
within 2 s of SIGTERM while loading and while serving."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import jax
import pytest

from executor.agent import Agent
from executor.api_client import ApiClient, ApiPlanSource
from tests.executor.api_stack import Stack, running_api, single_config_profile
from tests.executor.conftest import FLAGS
from tests.executor.helpers import held_warm_up

STOP_WITHIN_S = 2.0
MODELS = [f"bert-{k}" for k in range(8)]


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[Stack]:
    with running_api(tmp_path) as running:
        yield running


def deploy(stack: Stack, devices: int) -> int:
    """A cluster of ``devices`` devices whose active plan puts every model
    of :data:`MODELS` on one single-device group (device 0)."""
    body = {"name": "c", "num_devices": devices, "device_mem_bytes": 10**9}
    cluster = int(stack.post("/v1/clusters", {**body, "devices_per_node": devices})["id"])
    for name in MODELS:
        model = {"name": name, "slo_s": 30.0, "family": "bert", "max_batch": 2}
        stack.post("/v1/models", {**model, "profile": single_config_profile(0.05)})
    group = {"devices": [0], "config": {"op": 1, "pp": 1}, "models": MODELS}
    plan = {"cluster_id": cluster, "placement": {"groups": [group]}, "activate": True}
    stack.post("/v1/plans", plan)
    return cluster


def executor_state(stack: Stack, cluster: int) -> dict[str, Any] | None:
    found = stack.admin.executors(cluster)
    return found[0] if found else None


def state(stack: Stack, cluster: int) -> str | None:
    found = executor_state(stack, cluster)
    return None if found is None else str(found["state"])


def wait_until(check: Callable[[], bool], timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        assert time.monotonic() < deadline, f"{what}: not after {timeout_s} s"
        time.sleep(0.05)


def test_agent_heartbeats_loading_before_its_first_replica_is_ready(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    cluster = deploy(stack, 1)
    release = held_warm_up(monkeypatch)
    source = ApiPlanSource(ApiClient(stack.url, stack.executor_key), cluster, "a0", [0])
    source.url = "http://127.0.0.1:9"
    agent = Agent(source, [0], local_devices=jax.devices()[:1])
    loop = threading.Thread(target=agent.run, args=(0.1,))
    loop.start()
    try:
        wait_until(lambda: state(stack, cluster) == "loading", 10, "a loading heartbeat")
        first = executor_state(stack, cluster)
        wait_until(
            lambda: executor_state(stack, cluster) != first, 10, "a second loading heartbeat"
        )
        later = executor_state(stack, cluster)
        assert later is not None and first is not None
        assert later["state"] == "loading" and later["healthy"]
        assert later["last_heartbeat_at"] > first["last_heartbeat_at"]
        assert all(group["models"] == [] for group in later["groups"])
        release.set()
        wait_until(lambda: state(stack, cluster) == "serving", 120, "serving")
    finally:
        release.set()
        agent.stop()
        loop.join(120)
        agent.shutdown()
    assert not loop.is_alive()


@pytest.fixture
def agent_process(stack: Stack) -> Iterator[tuple[int, subprocess.Popen[bytes]]]:
    """``meshplan agent`` on one emulated device for a plan of
    :data:`MODELS` (each compiled in turn), killed if a test leaves it."""
    cluster = deploy(stack, 1)
    env = {
        **os.environ,
        "MESHPLAN_API_KEY": stack.executor_key,
        "XLA_FLAGS": " ".join(FLAGS).replace("count=8", "count=1"),
        "PYTHONPATH": str(Path(__file__).resolve().parents[2]),
    }
    args = ["agent", "--api", stack.url, "--cluster", str(cluster), "--devices", "0"]
    process = subprocess.Popen(
        [sys.executable, "-m", "api.cli", *args, "--interval-s", "0.2"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        yield cluster, process
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def stops_on_sigterm(process: subprocess.Popen[bytes]) -> float:
    """Seconds from SIGTERM to the process's exit (it must exit)."""
    sent = time.monotonic()
    process.send_signal(signal.SIGTERM)
    process.wait(30)
    return time.monotonic() - sent


@pytest.mark.parametrize("phase", ["loading", "serving"])
def test_agent_stops_within_2_s_of_sigterm(
    stack: Stack, agent_process: tuple[int, subprocess.Popen[bytes]], phase: str
) -> None:
    cluster, process = agent_process
    wait_until(lambda: state(stack, cluster) == phase, 180, f"state {phase}")
    if phase == "loading":
        seen = executor_state(stack, cluster)
        assert seen is not None and sum(len(g["models"]) for g in seen["groups"]) < len(MODELS)
    assert stops_on_sigterm(process) < STOP_WITHIN_S
    assert process.returncode == 0
