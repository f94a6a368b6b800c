"""The solver-agnostic validator: does a placement fit a cluster and a model
set? Every solver's output and every placement handed to the simulator goes
through :func:`validate`.

Memory model (bytes, per device): a device in stage ``s`` of a group holds,
for every model the group hosts, that model's ``stage_weight_bytes[s]`` under
the group's config, plus one activation workspace sized for the largest
``act_bytes * max_batch`` among those models (one batch runs on a stage at a
time). That total must not exceed ``cluster.device_mem_bytes``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from planner.domain import Cluster, Group, ModelSpec, Placement, TimedPlan


def models_by_name(models: Iterable[ModelSpec]) -> dict[str, ModelSpec]:
    """Index a model set by name; a repeated name is an error."""
    index: dict[str, ModelSpec] = {}
    for i, model in enumerate(models):
        if model.name in index:
            raise ValueError(f"models[{i}].name: {model.name!r} appears twice")
        index[model.name] = model
    return index


def stage_memory_bytes(group: Group, models: Mapping[str, ModelSpec]) -> tuple[int, ...]:
    """Bytes used on each device of each stage of ``group`` (one entry per
    stage). Models must be known and profiled for the group's config."""
    config = group.config
    usage = []
    for stage in range(config.pp):
        weights = 0
        workspace = 0
        for name in group.models:
            profile = models[name].profile[config]
            weights += profile.stage_weight_bytes[stage]
            workspace = max(workspace, profile.act_bytes * profile.max_batch)
        usage.append(weights + workspace)
    return tuple(usage)


def validate_group(
    index: int, group: Group, cluster: Cluster, models: Mapping[str, ModelSpec]
) -> None:
    """Check one group against the cluster and model set; raises ValueError
    naming ``groups[index]`` and the field."""
    where = f"groups[{index}]"
    for device in group.devices:
        if device >= cluster.num_devices:
            raise ValueError(
                f"{where}.devices: device {device} is outside the cluster (0..{cluster.num_devices - 1})"
            )
    if group.config.op > 1:
        for stage in range(group.config.pp):
            nodes = {cluster.node_of(d) for d in group.stage_devices(stage)}
            if len(nodes) > 1:
                raise ValueError(
                    f"{where}.devices: tensor-parallel stage {stage} spans nodes {sorted(nodes)}; "
                    f"its {group.config.op} devices must share one node"
                )
    for name in group.models:
        if name not in models:
            raise ValueError(f"{where}.models: unknown model {name!r}")
        if group.config not in models[name].profile:
            raise ValueError(f"{where}.config: model {name!r} has no profile for {group.config}")
    for stage, used in enumerate(stage_memory_bytes(group, models)):
        if used > cluster.device_mem_bytes:
            raise ValueError(
                f"{where}.models: stage {stage} needs {used} bytes per device, "
                f"more than device_mem_bytes={cluster.device_mem_bytes}"
            )


def validate(
    cluster: Cluster, models: Sequence[ModelSpec] | Mapping[str, ModelSpec], placement: Placement
) -> None:
    """Raise ValueError (naming the field) unless ``placement`` fits: devices
    inside the cluster and disjoint, tensor-parallel stages within a node,
    every model known and profiled for its group's config, memory per device
    within ``cluster.device_mem_bytes``."""
    index = models if isinstance(models, Mapping) else models_by_name(models)
    for g, group in enumerate(placement.groups):
        validate_group(g, group, cluster, index)


def validate_plan(
    cluster: Cluster, models: Sequence[ModelSpec] | Mapping[str, ModelSpec], plan: TimedPlan
) -> None:
    """:func:`validate` every step of a timed plan."""
    for k, (_, placement) in enumerate(plan.steps):
        try:
            validate(cluster, models, placement)
        except ValueError as error:
            raise ValueError(f"steps[{k}].placement.{error}") from None
