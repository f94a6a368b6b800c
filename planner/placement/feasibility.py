"""Which models can be placed on a cluster at all? Checked before any solver
runs: a model that fits no group under any config is left out of the plan
with a one-line reason, and only an instance where no model fits is an
error (the instance itself is checked by :class:`planner.sim.Instance`).

The per-device memory of a one-model group follows the validator's memory
model (:mod:`planner.validation`): stage weights plus an activation
workspace of ``act_bytes * max_batch`` of the profile.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from planner.domain import Cluster, ModelSpec, ParallelConfig, StageProfile
from planner.placement.solution import InfeasibleError

GB = 1e9


def workspace_bytes(stage: StageProfile) -> int:
    """Activation workspace (bytes per device) the validator reserves for a
    model: ``act_bytes * max_batch`` of its profile."""
    return stage.act_bytes * stage.max_batch


def alone_bytes(stage: StageProfile) -> int:
    """Bytes per device on the fullest stage of a group hosting only this
    model under this profile."""
    return max(stage.stage_weight_bytes) + workspace_bytes(stage)


def config_realisable(cluster: Cluster, config: ParallelConfig) -> bool:
    """A group of this config exists on the cluster: enough devices, and a
    tensor-parallel stage (``op`` devices) fits within one node."""
    return config.size <= cluster.num_devices and config.op <= cluster.devices_per_node


def fitting_configs(cluster: Cluster, model: ModelSpec) -> tuple[ParallelConfig, ...]:
    """Configs of the model's profile under which it fits alone on a
    realisable group."""
    return tuple(
        config
        for config, stage in model.profile.by_config.items()
        if config_realisable(cluster, config) and alone_bytes(stage) <= cluster.device_mem_bytes
    )


def why_unfit(cluster: Cluster, model: ModelSpec) -> str:
    """Why a model that fits no group of ``cluster`` does not, as a clause
    without a subject: the least memory per device it needs on a group the
    cluster has (GB rounded up, the device's rounded down, so the two always
    differ), or, when the cluster has no group of any of its configs, the
    smallest such group."""
    profile = model.profile.by_config
    realisable = [c for c in profile if config_realisable(cluster, c)]
    if realisable:
        best = min(realisable, key=lambda c: (alone_bytes(profile[c]), c.size, c.pp))
        need = math.ceil(alone_bytes(profile[best]) / GB * 10) / 10
        has = math.floor(cluster.device_mem_bytes / GB * 10) / 10
        return (
            f"needs {need:g} GB per device at best (op={best.op}, pp={best.pp}), "
            f"the device has {has:g} GB"
        )
    smallest = min(profile, key=lambda c: (c.size, c.op, c.pp))
    return (
        f"needs a group of {smallest.size} devices with {smallest.op} in one node at least "
        f"(op={smallest.op}, pp={smallest.pp}), the cluster has {cluster.num_devices} devices, "
        f"{cluster.devices_per_node} per node"
    )


def check_some_fit(cluster: Cluster, models: Sequence[ModelSpec]) -> dict[str, str]:
    """Model name → :func:`why_unfit`, for the models (in order) that fit no
    realisable group of ``cluster`` under any config; raises
    :class:`InfeasibleError` (one line, field ``models``) when no model fits."""
    unfit = {
        model.name: why_unfit(cluster, model)
        for model in models
        if not fitting_configs(cluster, model)
    }
    if models and len(unfit) == len(models):
        name, reason = next(iter(unfit.items()))
        if len(unfit) == 1:
            raise InfeasibleError(
                f"models: {name!r} fits no group of the cluster under any config: it {reason}"
            )
        raise InfeasibleError(
            f"models: none of the {len(unfit)} models fits a group of the cluster under any "
            f"config; the first, {name!r}, {reason}"
        )
    return unfit


def check_models_fit(cluster: Cluster, models: Sequence[ModelSpec]) -> None:
    """Raise :class:`InfeasibleError` (one line, field ``models[i]``)
    unless every model fits some realisable group of ``cluster`` under
    some config."""
    for i, model in enumerate(models):
        if not fitting_configs(cluster, model):
            raise InfeasibleError(
                f"models[{i}]: {model.name!r} fits no group of the cluster under any config: "
                f"it {why_unfit(cluster, model)}"
            )
