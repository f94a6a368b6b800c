"""Can a model set be placed on a cluster at all? Checked before any solver
runs, so that an impossible input gets one clear error instead of an empty
plan (the instance itself is checked by :class:`planner.sim.Instance`).

The per-device memory of a one-model group follows the validator's memory
model (:mod:`planner.validation`): stage weights plus an activation
workspace of ``act_bytes * max_batch`` of the profile.
"""

from __future__ import annotations

from collections.abc import Sequence

from planner.domain import Cluster, ModelSpec, ParallelConfig, StageProfile
from planner.placement.solution import InfeasibleError


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


def check_models_fit(cluster: Cluster, models: Sequence[ModelSpec]) -> None:
    """Raise :class:`InfeasibleError` unless every model fits some
    realisable group of ``cluster`` under some config."""
    for i, model in enumerate(models):
        if fitting_configs(cluster, model):
            continue
        needs = [
            f"{config}: {alone_bytes(stage)} bytes"
            + ("" if config_realisable(cluster, config) else " (no such group on this cluster)")
            for config, stage in model.profile.by_config.items()
        ]
        raise InfeasibleError(
            f"models[{i}]: {model.name!r} fits no group of the cluster under any config "
            f"(per device: {'; '.join(needs)}; device_mem_bytes={cluster.device_mem_bytes}, "
            f"num_devices={cluster.num_devices}, devices_per_node={cluster.devices_per_node})"
        )
