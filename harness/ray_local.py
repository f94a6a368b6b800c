"""A two-node Ray cluster on this machine for tests and benchmarks: one
CPU per node by default, every file under a temp dir of its own (removed
afterwards), and a check after shutdown that no Ray process (raylet, GCS,
workers) is left behind and nothing was written to Ray's default temp
dir. Needs the ``ray`` extra."""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
"""The checkout, put on the nodes' PYTHONPATH: their workers import the planner
(and the callers' task functions, test modules included) by name."""

SETTLE_S = 20.0
"""How long shutdown may take to reap the cluster's processes."""


def processes_under(root: Path) -> list[tuple[int, str]]:
    """Live processes whose command line or initial environment mentions
    ``root`` (pid, command): the raylets and GCS name their session dir,
    and Ray's workers, which retitle themselves ``ray::...``, inherit
    ``RAY_TMPDIR``."""
    found = []
    mark = str(root).encode()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            command = (entry / "cmdline").read_bytes()
            environment = (entry / "environ").read_bytes()
        except OSError:
            continue
        if mark in command or mark in environment:
            found.append((int(entry.name), command.replace(b"\0", b" ").decode()[:120]))
    return found


def ray_entries() -> set[str]:
    """What Ray's default temp dir holds (a cluster that leaks writes there)."""
    default = Path(tempfile.gettempdir()) / "ray"
    return {p.name for p in default.iterdir()} if default.is_dir() else set()


@contextmanager
def two_node_cluster(cpus_per_node: int = 1) -> Iterator[str]:
    """Start the cluster, yield its address, stop it (and this process's
    connection to it) and check it left nothing: RuntimeError naming what
    when a process mentioning its temp dir lives on or /tmp/ray changed."""
    import ray
    from ray.cluster_utils import Cluster

    # Ray's socket paths must stay under 107 characters: a short temp dir.
    root = Path(tempfile.mkdtemp(prefix="mp-ray-"))
    before = ray_entries()
    saved = {name: os.environ.get(name) for name in ("RAY_TMPDIR", "PYTHONPATH")}
    os.environ["RAY_TMPDIR"] = str(root)
    os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), saved["PYTHONPATH"]]))
    cluster = None
    try:
        (root / "ray").mkdir()  # where Ray writes the address of the cluster
        cluster = Cluster(
            initialize_head=True,
            head_node_args={
                "num_cpus": cpus_per_node,
                "temp_dir": str(root),
                "include_dashboard": False,
            },
        )
        cluster.add_node(num_cpus=cpus_per_node)
        cluster.wait_for_nodes()
        yield cluster.address
    finally:
        ray.shutdown()
        if cluster is not None:
            cluster.shutdown()
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        settle = time.monotonic() + SETTLE_S
        while processes_under(root) and time.monotonic() < settle:
            time.sleep(0.2)
        left = processes_under(root)
        shutil.rmtree(root, ignore_errors=True)
        if left:
            raise RuntimeError(f"Ray left processes behind: {left}")
        if not ray_entries() <= before:
            raise RuntimeError(f"Ray wrote to its default temp dir: {ray_entries() - before}")
