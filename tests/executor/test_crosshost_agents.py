"""Two ``meshplan agent`` processes (4 emulated CPU devices each, one JAX
cluster on loopback) serve a plan whose pp = 2 group spans them: stage 0
on the leader's device 3, stage 1 on the follower's device 4, two models.
Answers through the leader equal the single-device models'; a plan
version that changes the group's models is served the same way; the
ordinary groups of both agents keep serving; no process is left behind."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from executor.agent import architecture_for
from executor.api_client import ModelInfo
from executor.replica import model_seed, reference_forward
from executor.router import http_forward
from tests.executor.api_stack import Stack, running_api, single_config_profile
from tests.executor.conftest import FLAGS
from tests.executor.test_crosshost import free_port

pytestmark = pytest.mark.slow

MAX_BATCH = 2
INFO = ModelInfo(30.0, "bert", None, MAX_BATCH)
ARCH = architecture_for("any", INFO, "tiny")
LEADER_DEVICES, FOLLOWER_DEVICES = "0-3", "4-7"


def deploy(stack: Stack) -> int:
    """A cluster of two hosts of 4 devices and models ``a``, ``b`` (one
    stage) and ``s1``..``s3`` (two stages)."""
    body = {"name": "c", "num_devices": 8, "devices_per_node": 4, "device_mem_bytes": 10**9}
    cluster = int(stack.post("/v1/clusters", body)["id"])
    for name, stages in [("a", 1), ("b", 1), ("s1", 2), ("s2", 2), ("s3", 2)]:
        model = {"name": name, "slo_s": 30.0, "family": "bert", "max_batch": MAX_BATCH}
        stack.post("/v1/models", {**model, "profile": single_config_profile(0.05, stages)})
    return cluster


def activate(stack: Stack, cluster: int, spanning: list[str]) -> None:
    """Model ``a`` on the leader's device 0, ``spanning`` on devices 3 and
    4 (pp = 2), ``b`` on the follower's device 5."""
    groups = [
        {"devices": [0], "config": {"op": 1, "pp": 1}, "models": ["a"]},
        {"devices": [3, 4], "config": {"op": 1, "pp": 2}, "models": spanning},
        {"devices": [5], "config": {"op": 1, "pp": 1}, "models": ["b"]},
    ]
    stack.post(
        "/v1/plans", {"cluster_id": cluster, "placement": {"groups": groups}, "activate": True}
    )


def agents(stack: Stack, cluster: int) -> dict[str, dict[str, Any]]:
    return {row["name"]: row for row in stack.admin.executors(cluster)}


def wait_until(check: Callable[[], bool], timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        assert time.monotonic() < deadline, f"{what}: not after {timeout_s} s"
        time.sleep(0.1)


def serving(stack: Stack, cluster: int, models: list[str]) -> bool:
    """Both agents serve the newest plan, the leader ``models`` across them."""
    rows = agents(stack, cluster)
    if len(rows) != 2 or len({row["applied_version"] for row in rows.values()}) != 1:
        return False
    leader, follower = rows[f"agent-{LEADER_DEVICES}"], rows[f"agent-{FOLLOWER_DEVICES}"]
    spanning = {"devices": [3, 4], "config": {"op": 1, "pp": 2}, "models": sorted(models)}
    return (
        leader["state"] == follower["state"] == "serving"
        and {**spanning, "role": "leader"} in leader["groups"]
        and {**spanning, "role": "follower"} in follower["groups"]
    )


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[Stack]:
    with running_api(tmp_path) as running:
        yield running


@pytest.fixture
def cluster_agents(
    stack: Stack, tmp_path: Path
) -> Iterator[tuple[int, list[subprocess.Popen[bytes]]]]:
    """Plan v1 active, then the two agents started (killed if a test
    leaves them)."""
    cluster = deploy(stack)
    activate(stack, cluster, ["s1", "s2"])
    env = {
        **os.environ,
        "MESHPLAN_API_KEY": stack.executor_key,
        "XLA_FLAGS": " ".join(FLAGS).replace("count=8", "count=4"),
        "PYTHONPATH": str(Path(__file__).resolve().parents[2]),
    }
    coordinator = f"127.0.0.1:{free_port()}"
    processes = []
    for process_id, devices in enumerate([LEADER_DEVICES, FOLLOWER_DEVICES]):
        args = ["agent", "--api", stack.url, "--cluster", str(cluster), "--devices", devices]
        cluster_args = ["--coordinator", coordinator, "--process-id", str(process_id)]
        log = (tmp_path / f"agent{process_id}.log").open("wb")
        processes.append(
            subprocess.Popen(
                [sys.executable, "-m", "api.cli", *args, *cluster_args, "--interval-s", "0.2"],
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=log,
            )
        )
    try:
        yield cluster, processes
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
                process.wait()


def infer(url: str, model: str, ids: np.ndarray) -> tuple[int, dict[str, Any]]:
    status, _, raw = http_forward(url, model, json.dumps({"input_ids": ids.tolist()}).encode())
    return status, json.loads(raw)


def assert_equals_single_device(url: str, model: str, rows: int) -> None:
    ids = np.random.default_rng(rows).integers(0, ARCH.vocab, (rows, ARCH.seq_len), np.int32)
    status, body = infer(url, model, ids)
    assert status == 200, body
    expected = np.asarray(reference_forward(ARCH, model_seed(model), ids))
    assert body["output"]["shape"] == list(expected.shape)
    np.testing.assert_allclose(body["output"]["first_token"], expected[:, 0, :4], atol=1e-5)
    assert body["output"]["sum"] == pytest.approx(
        float(expected.astype(np.float64).sum()), abs=1e-3
    )


def test_two_agents_serve_a_group_across_them_through_plan_changes(
    stack: Stack, cluster_agents: tuple[int, list[subprocess.Popen[bytes]]], tmp_path: Path
) -> None:
    cluster, processes = cluster_agents
    logs = lambda: "\n".join(p.read_text()[-3000:] for p in sorted(tmp_path.glob("agent*.log")))  # noqa: E731
    wait_until(lambda: serving(stack, cluster, ["s1", "s2"]), 240, f"plan v1 served\n{logs()}")
    rows = agents(stack, cluster)
    leader, follower = (
        rows[f"agent-{LEADER_DEVICES}"]["url"],
        rows[f"agent-{FOLLOWER_DEVICES}"]["url"],
    )
    for model, rows_in in [("s1", 1), ("s2", 2), ("a", 2)]:
        assert_equals_single_device(leader, model, rows_in)
    assert_equals_single_device(follower, "b", 1)
    assert infer(follower, "s1", np.zeros((1, ARCH.seq_len), np.int32))[0] == 404
    version = rows[f"agent-{LEADER_DEVICES}"]["applied_version"]

    activate(stack, cluster, ["s3", "s2"])
    wait_until(
        lambda: (
            serving(stack, cluster, ["s2", "s3"])
            and agents(stack, cluster)[f"agent-{LEADER_DEVICES}"]["applied_version"] > version
        ),
        240,
        f"plan v2 served\n{logs()}",
    )
    for model, rows_in in [("s3", 2), ("s2", 1), ("a", 1)]:
        assert_equals_single_device(leader, model, rows_in)
    assert_equals_single_device(follower, "b", 2)
    assert infer(leader, "s1", np.zeros((1, ARCH.seq_len), np.int32))[0] == 404

    for process in processes:
        process.send_signal(signal.SIGTERM)
    for process in processes:
        process.wait(30)
    assert [p.returncode for p in processes] == [0, 0], logs()
