"""One process of the two-host group test: ``python -m
tests.executor.crosshost_process PROCESS_ID COORDINATOR OP OUT.json``.

Process 0 (the leader) loads stage 0 of the tiny model on ``OP`` of its
devices, serves requests through a :class:`executor.group.GroupServer`
whose stage 1 runs on process 1, and writes each answer beside the
single-device reference; process 1 (the follower) runs stage 1 until the
leader stops it and writes how many batches it ran. Each process sees 4
emulated CPU devices (``XLA_FLAGS``, set by the test)."""

from __future__ import annotations

import json
import sys
from typing import Any

import numpy as np

from executor.crosshost import LEADER, Link, SplitReplica, devices_of, follow, join, release

REQUEST_ROWS = (1, 2, 3)


def lead(replica: SplitReplica, devices: list[Any]) -> dict[str, Any]:
    from executor.group import GroupServer
    from executor.replica import reference_forward
    from executor.request import Request
    from executor.runtime import ModelRuntime
    from planner.domain import ParallelConfig
    from tests.executor.tiny import ARCH, SEED, tokens

    runtime = ModelRuntime("m", replica, max_batch=4, slo_s=30.0)
    runtime.warm_up(repeats=1)
    config = ParallelConfig(len(devices) // 2, 2)
    group = GroupServer(tuple(d.id for d in devices), devices, config)
    group.add(runtime)
    requests = [Request("m", tokens(rows, seed=rows), slo_s=30.0) for rows in REQUEST_ROWS]
    for request in requests:
        group.submit(request)
    answers = []
    for request in requests:
        if not request.done.wait(120):
            raise TimeoutError("a request was not answered in 120 s")
        expected = np.asarray(reference_forward(ARCH, SEED, request.token_ids))
        answers.append(
            {
                "rows": request.rows,
                "error": None if request.error is None else request.error.detail,
                "output": request.output,
                "expected_sum": float(expected.astype(np.float64).sum()),
                "expected_first_token": expected[:, 0, :4].astype(np.float64).tolist(),
            }
        )
    group.stop()
    group.join(30)
    ids = tokens(4, seed=9)
    whole = replica.run_stage(1, replica.run_stage(0, ids))
    error = float(np.abs(np.asarray(whole) - np.asarray(reference_forward(ARCH, SEED, ids))).max())
    release(replica.link)
    return {"answers": answers, "max_abs_error": error, "latency_s": runtime.latency_s(4)}


def main(process_id: int, coordinator: str, op: int, out: str) -> None:
    join(coordinator, 2, process_id)
    from executor.crosshost import FOLLOWER
    from planner.autoparallel import plan_parallel
    from planner.domain import ParallelConfig
    from tests.executor.tiny import ARCH, SEED

    link = Link()
    devices = devices_of(LEADER)[:op] + devices_of(FOLLOWER)[:op]
    plan = plan_parallel(ARCH, ParallelConfig(op, 2), max_batch=4)
    replica = SplitReplica(plan, devices, SEED, link)
    result = (
        lead(replica, devices) if process_id == LEADER else {"batches": follow([replica], link)}
    )
    with open(out, "w") as file:
        json.dump(result, file)


if __name__ == "__main__":
    main(int(sys.argv[1]), sys.argv[2], int(sys.argv[3]), sys.argv[4])
