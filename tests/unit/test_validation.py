"""The solver-agnostic validator, on hand-computed memory totals."""

from __future__ import annotations

import pytest

from planner.domain import (
    Cluster,
    Group,
    ModelSpec,
    ParallelConfig,
    Placement,
    Profile,
    StageProfile,
    TimedPlan,
)
from planner.validation import models_by_name, stage_memory_bytes, validate, validate_plan

GB = 10**9


def model(
    name: str, weights: dict[ParallelConfig, tuple[int, ...]], act_bytes: int = 0
) -> ModelSpec:
    profile = Profile(
        {
            config: StageProfile(((0.1,) * config.pp,) * 2, stage_weights, act_bytes)
            for config, stage_weights in weights.items()
        }
    )
    return ModelSpec(name, 1.0, profile)


SERIAL = ParallelConfig(1, 1)
PIPE = ParallelConfig(1, 2)
WIDE = ParallelConfig(2, 1)
MODELS = [
    model("a", {SERIAL: (6 * GB,), PIPE: (4 * GB, 2 * GB), WIDE: (3 * GB,)}, act_bytes=GB // 4),
    model("b", {SERIAL: (8 * GB,), PIPE: (5 * GB, 3 * GB)}),
]
CLUSTER = Cluster(num_devices=4, device_mem_bytes=10 * GB, devices_per_node=2)


def test_stage_memory_counts_weights_and_largest_workspace() -> None:
    group = Group((0, 1), PIPE, ("a", "b"))
    # stage 0: 4 + 5 GB weights, stage 1: 2 + 3 GB; workspace 0.25 GB x batch 2
    assert stage_memory_bytes(group, models_by_name(MODELS)) == (9 * GB + GB // 2, 5 * GB + GB // 2)


def test_valid_placement_passes() -> None:
    placement = Placement((Group((0, 1), PIPE, ("a", "b")), Group((2, 3), WIDE, ("a",))))
    validate(CLUSTER, MODELS, placement)
    validate_plan(CLUSTER, MODELS, TimedPlan.static(placement))


@pytest.mark.parametrize(
    ("group", "message"),
    [
        (Group((0,), SERIAL, ("a", "b")), r"^groups\[0\].models: stage 0 needs 14500000000 bytes"),
        (Group((0,), SERIAL, ("c",)), r"^groups\[0\].models: unknown model 'c'"),
        (Group((0, 1), WIDE, ("b",)), r"^groups\[0\].config: model 'b' has no profile for op2xpp1"),
        (
            Group((1, 2), WIDE, ("a",)),
            r"^groups\[0\].devices: tensor-parallel stage 0 spans nodes \[0, 1\]",
        ),
        (Group((3, 4), PIPE, ("a",)), r"^groups\[0\].devices: device 4 is outside the cluster"),
    ],
)
def test_invalid_placements_name_the_field(group: Group, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        validate(CLUSTER, MODELS, Placement((group,)))


def test_pipeline_across_nodes_is_allowed() -> None:
    validate(CLUSTER, MODELS, Placement((Group((1, 2), PIPE, ("a",)),)))


def test_plan_errors_name_the_step() -> None:
    good = Placement((Group((0,), SERIAL, ("a",)),))
    bad = Placement((Group((0,), SERIAL, ("a", "b")),))
    with pytest.raises(
        ValueError, match=r"^steps\[1\].placement.groups\[0\].models: stage 0 needs"
    ):
        validate_plan(CLUSTER, MODELS, TimedPlan(((0, good), (5, bad))))


def test_repeated_model_name_is_an_error() -> None:
    with pytest.raises(ValueError, match=r"^models\[1\].name: 'a' appears twice"):
        models_by_name([MODELS[0], MODELS[0]])
