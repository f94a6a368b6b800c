"""Measured profiles: one entry per config, real stage counts, placed
weight bytes, latencies per batch size following the padding buckets."""

from __future__ import annotations

import click
import jax
import pytest

from api.commands.executor import parse_devices
from executor.profiler import measure_profile
from planner.autoparallel import Architecture, plan_parallel
from planner.codec import decode, encode
from planner.domain import ParallelConfig, Profile

ARCH = Architecture("bert", num_layers=1, hidden=32, heads=4, vocab=64, seq_len=8, dtype_bytes=4)
CONFIGS = [ParallelConfig(2, 2), ParallelConfig(1, 1)]


def test_profile_has_every_config_batch_and_stage() -> None:
    done: list[ParallelConfig] = []
    profile = measure_profile("m", ARCH, CONFIGS, max_batch=2, repeats=1, progress=done.append)
    assert done == CONFIGS and list(profile.configs) == sorted(CONFIGS)
    for config in CONFIGS:
        stage = profile[config]
        assert stage.num_stages == config.pp and stage.max_batch == 2
        assert all(x > 0 for row in stage.latency_s for x in row)
        planned = plan_parallel(ARCH, config, max_batch=2)
        assert stage.stage_weight_bytes == tuple(s.weight_bytes for s in planned.stages)
        assert stage.act_bytes > 0
    assert decode(Profile, encode(profile), "profile") == profile


def test_configs_beyond_the_devices_are_refused() -> None:
    with pytest.raises(ValueError, match=r"^configs: op2xpp1 needs 2 devices, 1 here"):
        measure_profile("m", ARCH, [ParallelConfig(2, 1)], 1, devices=jax.devices()[:1])


def test_device_lists() -> None:
    assert parse_devices("0-3") == [0, 1, 2, 3]
    assert parse_devices("4-5,0,1") == [0, 1, 4, 5]
    for bad in ("a", "3-1", "1-", ""):
        with pytest.raises(click.BadParameter, match=r"^devices: "):
            parse_devices(bad)
