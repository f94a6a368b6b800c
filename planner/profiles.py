"""Profiles of the BERT/MoE families, the evaluation's model sets, and the
JSON form of a model file (read and written by :mod:`planner.files`).

Analytic profiles come from :mod:`planner.autoparallel`: for every
``op, pp`` in 1, 2, 4, 8 whose plan fits the memory budget, the per-stage
latency for batch sizes 1..8 and the weight bytes per device. Measured
profiles (from the executor's profiler) use :class:`Profile`'s JSON form.

Model sets (AlpaServe's evaluation): ``s1`` = 64 x BERT-1.3B, ``s2`` = 8 x
BERT-6.7B, ``s3`` = 4 each of BERT-1.3B, BERT-2.6B, MoE-1.3B, MoE-2.4B.
Model ``i`` of preset ``p`` in set ``s`` is named ``f"{s}-{p}-{i:02d}"``
(``s1-bert-1.3b-00``). A model's SLO is ``slo_scale`` times its reference
latency: batch 1 on one device (op1 pp1), or, when the model does not fit
one device, on the smallest config that fits (fewest devices, then lowest
latency).

A model file is ``{"models": [<ModelSpec JSON>, ...]}``; errors name the
field (``models[3].slo_s: must be > 0, got -1``).
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache
from typing import Any

from planner.autoparallel import (
    BERT_1_3B,
    BERT_2_6B,
    BERT_6_7B,
    DEFAULT_MEM_BUDGET_BYTES,
    MOE_1_3B,
    MOE_2_4B,
    Architecture,
    DeviceModel,
    plan_configs,
    to_profile,
)
from planner.codec import decode, encode
from planner.domain import ModelSpec, Profile
from planner.validation import models_by_name

DEFAULT_SLO_SCALE = 5.0

MODEL_SETS: dict[str, tuple[tuple[Architecture, int], ...]] = {
    "s1": ((BERT_1_3B, 64),),
    "s2": ((BERT_6_7B, 8),),
    "s3": ((BERT_1_3B, 4), (BERT_2_6B, 4), (MOE_1_3B, 4), (MOE_2_4B, 4)),
}
"""Each set as (architecture, number of models)."""


@lru_cache(maxsize=64)
def profile_for(
    arch: Architecture,
    device: DeviceModel | None = None,
    mem_budget_bytes: int = DEFAULT_MEM_BUDGET_BYTES,
    max_batch: int = 8,
    max_group_size: int = 64,
) -> Profile:
    """The analytic profile of ``arch``: every config of
    :func:`planner.autoparallel.plan_configs` that fits ``mem_budget_bytes``
    per device, batch sizes ``1..max_batch``. Raises ValueError when no
    config fits."""
    plans = plan_configs(arch, max_group_size, device, mem_budget_bytes, max_batch)
    if not plans:
        raise ValueError(
            f"mem_budget_bytes: no parallel config of {arch.name or arch.family} with at most "
            f"{max_group_size} devices fits {mem_budget_bytes} bytes per device"
        )
    return to_profile(plans.values())


def reference_latency_s(profile: Profile) -> float:
    """Batch-1 latency (s) on one device, or on the smallest config that fits
    (fewest devices, then lowest latency) when one device is not in the
    profile."""
    config = min(profile.configs, key=lambda c: (c.size, profile[c].latency(1)))
    return profile[config].latency(1)


def model_set(
    name: str,
    slo_scale: float = DEFAULT_SLO_SCALE,
    device: DeviceModel | None = None,
    mem_budget_bytes: int = DEFAULT_MEM_BUDGET_BYTES,
    max_batch: int = 8,
) -> tuple[ModelSpec, ...]:
    """The models of set ``name`` (``s1``, ``s2``, ``s3``; case-insensitive)
    with SLO = ``slo_scale`` x :func:`reference_latency_s`."""
    key = name.strip().lower()
    if key not in MODEL_SETS:
        raise ValueError(f"set: unknown model set {name!r}; choose from {', '.join(MODEL_SETS)}")
    if not slo_scale > 0:
        raise ValueError(f"slo_scale: must be > 0, got {slo_scale!r}")
    models: list[ModelSpec] = []
    for arch, count in MODEL_SETS[key]:
        profile = profile_for(arch, device, mem_budget_bytes, max_batch)
        slo_s = slo_scale * reference_latency_s(profile)
        models.extend(
            ModelSpec(f"{key}-{arch.name}-{i:02d}", slo_s, profile, arch.family)
            for i in range(count)
        )
    return tuple(models)


def models_to_json(models: Sequence[ModelSpec]) -> dict[str, Any]:
    """The model-file form of a model set (names must be unique)."""
    models_by_name(models)
    return {"models": encode(tuple(models))}


def models_from_json(data: Any) -> tuple[ModelSpec, ...]:
    """Parse the model-file form; errors name the field (``models[3].slo_s``)."""
    if not isinstance(data, dict):
        raise ValueError(f"<root>: must be an object, got {type(data).__name__}")
    if "models" not in data:
        raise ValueError("models: is required")
    models = decode(tuple[ModelSpec, ...], data["models"], "models")
    models_by_name(models)
    return models
