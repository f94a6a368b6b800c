"""Agent overhead: a request through an agent's HTTP endpoint (served as
deployed: cheroot, a bearer key, the default body cap), admission and batch
queue, against a bare call of the same jitted replica (the baseline), both
sequential on one emulated device with a model of the fidelity scenario's
BERT size.

Target: the agent adds at most 5 ms per request.

Run ``python -m bench.executor_overhead [--quick]``.
"""

from __future__ import annotations

import argparse
import os
import secrets
import statistics
import sys
import time

TARGET_OVERHEAD_S = 0.005

if "jax" not in sys.modules:
    os.environ.setdefault("XLA_FLAGS", "--xla_cpu_multi_thread_eigen=false")


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="bench.executor_overhead")
    parser.add_argument("--quick", action="store_true", help="fewer requests")
    args = parser.parse_args(argv)
    import jax
    import numpy as np

    from executor.endpoint import Guard
    from executor.group import GroupServer
    from executor.host import Host
    from executor.replay import post_json
    from executor.replica import Replica
    from executor.runtime import ModelRuntime
    from executor.server import create_app
    from executor.wsgi import HttpServer
    from harness.loopback import FAMILY_ARCHS
    from planner.autoparallel import plan_parallel
    from planner.domain import ParallelConfig

    requests = 30 if args.quick else 200
    arch, config = FAMILY_ARCHS["bert"], ParallelConfig(1, 1)
    group = GroupServer((0,), jax.devices()[:1], config)
    replica = Replica(plan_parallel(arch, config, max_batch=1), group.meshes, seed=0)
    runtime = ModelRuntime("bert", replica, max_batch=1, slo_s=60.0)
    runtime.warm_up()
    group.add(runtime)
    host = Host()
    host.add_group(group)
    key = secrets.token_urlsafe(32)
    server = HttpServer(create_app(host, dict, Guard(key)), "127.0.0.1")
    url = f"http://127.0.0.1:{server.port}/v1/infer/bert"
    ids = np.random.default_rng(0).integers(0, arch.vocab, (1, arch.seq_len), dtype=np.int32)
    body = {"input_ids": ids.tolist()}

    def bare() -> None:
        np.asarray(replica.forward(ids))

    def agent() -> None:
        assert post_json(url, body, key) == 200

    timings = {}
    for name, call in (("bare jitted call", bare), ("through the agent", agent)):
        call()
        samples = []
        for _ in range(requests):
            start = time.perf_counter()
            call()
            samples.append(time.perf_counter() - start)
        timings[name] = statistics.median(samples)
    server.stop()
    group.stop()
    base, served = timings["bare jitted call"], timings["through the agent"]
    for name, seconds in timings.items():
        print(f"{name:>20}: {seconds * 1e3:8.3f} ms per request (median of {requests})")
    overhead = served - base
    print(
        f"ratio agent / bare: {served / base:.2f}x; overhead {overhead * 1e3:.3f} ms "
        f"(target <= {TARGET_OVERHEAD_S * 1e3:.0f} ms: {'met' if overhead <= TARGET_OVERHEAD_S else 'MISSED'})"
    )


if __name__ == "__main__":
    main(sys.argv[1:])
