"""A pp = 2 group across two JAX processes (two hosts on loopback, 4
emulated CPU devices each, stage 0 on process 0 and stage 1 on process 1
with op = 2 inside each): requests served by the leader's group and a
whole forward equal the single-device model's."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tests.executor.crosshost_process import REQUEST_ROWS

pytestmark = pytest.mark.slow


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_a_group_split_over_two_processes_equals_the_single_device_model(tmp_path: Path) -> None:
    coordinator = f"127.0.0.1:{free_port()}"
    env = {**os.environ, "XLA_FLAGS": "--xla_force_host_platform_device_count=4"}
    outs = [tmp_path / f"process{i}.json" for i in range(2)]
    processes = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "tests.executor.crosshost_process",
                str(i),
                coordinator,
                "2",
                str(outs[i]),
            ],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        for i in range(2)
    ]
    try:
        errors = [p.communicate(timeout=240)[1].decode()[-3000:] for p in processes]
    finally:
        for p in processes:
            p.kill()
    assert [p.returncode for p in processes] == [0, 0], errors
    leader, follower = (json.loads(out.read_text()) for out in outs)
    assert leader["max_abs_error"] < 1e-5
    assert [a["rows"] for a in leader["answers"]] == list(REQUEST_ROWS)
    for answer in leader["answers"]:
        assert answer["error"] is None
        assert answer["output"]["shape"] == [answer["rows"], 8, 32]
        np.testing.assert_allclose(
            answer["output"]["first_token"], answer["expected_first_token"], atol=1e-5
        )
        assert answer["output"]["sum"] == pytest.approx(answer["expected_sum"], abs=1e-3)
    # warm-up (3 buckets, twice), at least one served batch and the whole forward
    assert follower["batches"] >= 8
    assert all(seconds > 0 for seconds in leader["latency_s"])
