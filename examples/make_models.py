"""Write the ready-made model set and clusters in this folder:

- ``models_s3.json``: model set S3 (4 each of BERT-1.3B, BERT-2.6B, MoE-1.3B,
  MoE-2.4B) with analytic profiles and SLO = 5 x single-device latency,
  latencies rounded to 4 significant digits to keep the file small;
- ``cluster_8.json`` ... ``cluster_64.json``: 8, 16, 32 and 64 devices, 8 per
  node, a 20 GB budget per device and 12 GB/s host-to-device loading (PCIe
  3.0 x16).

S1 (64 x BERT-1.3B) and S2 (8 x BERT-6.7B) are larger; generate them when
needed with ``meshplan profile models --set s1 -o models_s1.json``.

Run ``python examples/make_models.py [--out DIR]``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from planner import files
from planner.autoparallel import DEFAULT_MEM_BUDGET_BYTES
from planner.domain import Cluster, ModelSpec, Profile, StageProfile
from planner.profiles import model_set

CLUSTER_SIZES = (8, 16, 32, 64)
LOAD_BW_BYTES_PER_S = 12e9
SIGNIFICANT_DIGITS = 4


def rounded(model: ModelSpec, digits: int = SIGNIFICANT_DIGITS) -> ModelSpec:
    """``model`` with every latency rounded to ``digits`` significant digits."""
    by_config = {
        config: StageProfile(
            tuple(tuple(float(f"{t:.{digits}g}") for t in row) for row in stage.latency_s),
            stage.stage_weight_bytes,
            stage.act_bytes,
        )
        for config, stage in model.profile.by_config.items()
    }
    return ModelSpec(
        model.name, float(f"{model.slo_s:.{digits}g}"), Profile(by_config), model.family
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path(__file__).parent)
    out = parser.parse_args().out
    files.save_models(out / "models_s3.json", [rounded(m) for m in model_set("s3")])
    for size in CLUSTER_SIZES:
        cluster = Cluster(size, DEFAULT_MEM_BUDGET_BYTES, 8, LOAD_BW_BYTES_PER_S)
        files.save_cluster(out / f"cluster_{size}.json", cluster)


if __name__ == "__main__":
    main()
