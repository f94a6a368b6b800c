"""Input files for CLI tests of commands that plan or simulate."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

from planner.codec import encode
from planner.domain import Cluster, ModelSpec, Workload


def planning_arguments(
    folder: Path, cluster: Cluster, models: Sequence[ModelSpec], workload: Workload
) -> list[str]:
    """Write the cluster, models and workload as JSON files in ``folder``;
    the ``--cluster``, ``--models`` and ``--workload`` arguments naming them."""
    files = {
        "cluster": encode(cluster),
        "models": {"models": [encode(m) for m in models]},
        "workload": encode(workload),
    }
    arguments = []
    for name, data in files.items():
        path = folder / f"{name}.json"
        path.write_text(json.dumps(data))
        arguments += [f"--{name}", str(path)]
    return arguments
