"""Analytic profiles, the evaluation's model sets and model/profile files."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import pytest

from planner.autoparallel import (
    BERT_1_3B,
    BERT_2_6B,
    BERT_6_7B,
    GB,
    MOE_1_3B,
    MOE_2_4B,
    Architecture,
)
from planner.codec import decode, encode
from planner.domain import Cluster, ModelSpec, ParallelConfig, Profile, StageProfile
from planner.files import load_models, load_profile, save_models, save_profile
from planner.profiles import (
    model_set,
    models_to_json,
    profile_for,
    reference_latency_s,
)

PRESETS = [BERT_1_3B, BERT_2_6B, BERT_6_7B, MOE_1_3B, MOE_2_4B]


@pytest.mark.parametrize("arch", PRESETS, ids=lambda a: a.name)
def test_latency_grows_with_batch_size(arch: Architecture) -> None:
    profile = profile_for(arch)
    assert len(profile.configs) == 16
    for config in profile.configs:
        rows = profile[config].latency_s
        assert len(rows) == 8
        for smaller, larger in itertools.pairwise(rows):
            assert all(a < b for a, b in zip(smaller, larger, strict=True)), config


@pytest.mark.parametrize("arch", PRESETS, ids=lambda a: a.name)
def test_more_op_devices_hold_fewer_weight_bytes(arch: Architecture) -> None:
    profile = profile_for(arch)
    assert profile[ParallelConfig(1, 1)].weight_bytes == arch.weight_bytes
    for pp in (1, 2, 4, 8):
        weights = [profile[ParallelConfig(op, pp)].weight_bytes for op in (1, 2, 4, 8)]
        assert weights == sorted(weights, reverse=True)
        assert len(set(weights)) == 4


def test_more_stages_hold_fewer_weight_bytes_and_total_them() -> None:
    profile = profile_for(BERT_2_6B)
    one = profile[ParallelConfig(1, 1)]
    four = profile[ParallelConfig(1, 4)]
    assert sum(four.stage_weight_bytes) == one.weight_bytes
    assert four.weight_bytes < one.weight_bytes / 3


def test_model_set_sizes_and_names() -> None:
    s1, s2, s3 = model_set("s1"), model_set("S2"), model_set("s3")
    assert len(s1) == 64 and len(s2) == 8 and len(s3) == 16
    assert s1[0].name == "s1-bert-1.3b-00" and s1[-1].name == "s1-bert-1.3b-63"
    assert {m.name for m in s2} == {f"s2-bert-6.7b-{i:02d}" for i in range(8)}
    for preset in ("bert-1.3b", "bert-2.6b", "moe-1.3b", "moe-2.4b"):
        assert sum(m.name.startswith(f"s3-{preset}-") for m in s3) == 4
    assert {m.family for m in s3} == {"bert", "moe"}


def test_slo_is_a_multiple_of_the_single_device_latency() -> None:
    for model in model_set("s3", slo_scale=2.5):
        single = model.profile[ParallelConfig(1, 1)].latency_s[0][0]
        assert model.slo_s == pytest.approx(2.5 * single)


def test_slo_of_a_model_too_big_for_one_device_uses_the_smallest_config() -> None:
    # 13.1 GB of weights in 5 GB: four devices is the least that fits.
    models = model_set("s2", mem_budget_bytes=5 * GB)
    profile = models[0].profile
    assert min(c.size for c in profile.configs) == 4
    fastest_of_four = min(profile[c].latency(1) for c in profile.configs if c.size == 4)
    assert models[0].slo_s == pytest.approx(5.0 * fastest_of_four)


def test_reference_latency_prefers_fewest_devices_then_lowest_latency() -> None:
    def stage(*latency: float) -> StageProfile:
        return StageProfile((latency,), (1,) * len(latency))

    profile = Profile(
        {
            ParallelConfig(2, 1): stage(3.0),
            ParallelConfig(1, 2): stage(1.0, 1.5),
            ParallelConfig(4, 1): stage(1.0),
        }
    )
    assert reference_latency_s(profile) == 2.5


def test_model_set_errors() -> None:
    with pytest.raises(ValueError, match=r"^set: unknown model set 's4'; choose from s1, s2, s3"):
        model_set("s4")
    with pytest.raises(ValueError, match=r"^slo_scale: must be > 0, got 0"):
        model_set("s1", slo_scale=0)
    with pytest.raises(ValueError, match=r"^mem_budget_bytes: no parallel config of bert-6.7b"):
        profile_for(BERT_6_7B, max_group_size=2, mem_budget_bytes=5 * GB)


def test_models_file_round_trip(tmp_path: Path) -> None:
    models = model_set("s3")
    path = tmp_path / "models.json"
    save_models(path, models)
    assert load_models(path) == models
    data = json.loads(path.read_text())
    assert list(data) == ["models"]
    assert data["models"][0] == encode(models[0])


def test_profile_file_round_trip_and_measured_batches(tmp_path: Path) -> None:
    path = tmp_path / "profile.json"
    save_profile(path, profile_for(MOE_1_3B))
    assert load_profile(path) == profile_for(MOE_1_3B)
    # A measured profile with batch sizes 1 and 3 only: 2 is interpolated.
    measured = {
        "configs": [
            {
                "config": {"op": 1, "pp": 2},
                "latency_s": {"1": [0.010, 0.012], "3": [0.030, 0.032]},
                "stage_weight_bytes": [100, 90],
            }
        ]
    }
    path.write_text(json.dumps(measured))
    profile = load_profile(path)
    assert profile[ParallelConfig(1, 2)].latency_s[1] == pytest.approx((0.020, 0.022))


def write(tmp_path: Path, data: object) -> Path:
    path = tmp_path / "models.json"
    path.write_text(data if isinstance(data, str) else json.dumps(data))
    return path


def test_bad_files_name_the_file_and_the_field(tmp_path: Path) -> None:
    good = models_to_json(model_set("s2")[:2])
    bad_slo = json.loads(json.dumps(good))
    bad_slo["models"][1]["slo_s"] = -1
    twice = {"models": [good["models"][0], good["models"][0]]}
    cases = [
        ('{"models": [\n  1,,]}', r"models.json: invalid JSON at line 2 column 5"),
        ({"model": []}, r"models.json: models: is required"),
        ({"models": {}}, r"models.json: models: must be a list"),
        (bad_slo, r"models.json: models\[1\].slo_s: must be > 0, got -1"),
        (twice, r"models.json: models\[1\].name: 's2-bert-6.7b-00' appears twice"),
    ]
    for data, message in cases:
        with pytest.raises(ValueError, match=message):
            load_models(write(tmp_path, data))
    with pytest.raises(ValueError, match=r"missing.json: cannot read"):
        load_models(tmp_path / "missing.json")


def test_committed_examples_load() -> None:
    examples = Path(__file__).parents[2] / "examples"
    models = load_models(examples / "models_s3.json")
    assert [m.name for m in models] == [m.name for m in model_set("s3")]
    for size in (8, 16, 32, 64):
        cluster = decode(
            Cluster, json.loads((examples / f"cluster_{size}.json").read_text()), "cluster"
        )
        assert cluster.num_devices == size
        assert cluster.devices_per_node == 8
        assert cluster.device_mem_bytes == 20 * GB


def test_saving_duplicate_names_is_refused(tmp_path: Path) -> None:
    model = model_set("s2")[0]
    twin = ModelSpec(model.name, 1.0, model.profile)
    with pytest.raises(ValueError, match=r"^models\[1\].name: 's2-bert-6.7b-00' appears twice"):
        save_models(tmp_path / "models.json", [model, twin])
