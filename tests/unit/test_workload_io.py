"""Workload files (planner.files): .json and .npz round trips and errors
naming the file."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest

from planner.domain import Workload
from planner.files import load_workload, save_workload
from planner.workloads import ProcessSpec, process_workload


def _workload() -> Workload:
    specs = {"bert-1": ProcessSpec(30.0, 2.0), "moe": ProcessSpec(5.0)}
    return process_workload(specs, 120.0, seed=12)


@pytest.mark.parametrize("suffix", [".json", ".npz"])
def test_round_trip_keeps_everything(tmp_path: Path, suffix: str) -> None:
    original = _workload()
    path = tmp_path / f"w{suffix}"
    save_workload(path, original)
    loaded = load_workload(path)
    np.testing.assert_array_equal(loaded.arrivals_s, original.arrivals_s)
    np.testing.assert_array_equal(loaded.model_ids, original.model_ids)
    assert loaded.model_names == ("bert-1", "moe")
    assert loaded.duration_s == 120.0
    assert loaded.meta == original.meta


def test_npz_is_more_compact_than_json(tmp_path: Path) -> None:
    save_workload(tmp_path / "w.json", _workload())
    save_workload(tmp_path / "w.npz", _workload())
    assert (tmp_path / "w.npz").stat().st_size < (tmp_path / "w.json").stat().st_size / 2


def test_json_in_the_workload_shape_loads(tmp_path: Path) -> None:
    path = tmp_path / "hand.json"
    data = {"model_names": ["a"], "duration_s": 2, "arrivals_s": [0.5, 1], "model_ids": [0, 0]}
    path.write_text(json.dumps(data))
    assert load_workload(path).for_model("a").tolist() == [0.5, 1.0]


def _expect(path: Path, message: str) -> None:
    with pytest.raises(ValueError, match="^" + re.escape(f"{path}: {message}")):
        load_workload(path)


def test_errors_name_the_file(tmp_path: Path) -> None:
    _expect(tmp_path / "absent.json", "cannot read: No such file or directory")
    bad_json = tmp_path / "bad.json"
    bad_json.write_text('{"model_names": [}')
    _expect(bad_json, "invalid JSON at line 1 column 18")
    unsorted = tmp_path / "unsorted.json"
    unsorted.write_text(
        json.dumps(
            {"model_names": ["a"], "duration_s": 2, "arrivals_s": [1, 0.5], "model_ids": [0, 0]}
        )
    )
    _expect(unsorted, "workload.arrivals_s[1]: 0.5 is before the previous arrival 1.0")
    not_zip = tmp_path / "w.npz"
    not_zip.write_text("hello")
    _expect(not_zip, "")
    partial = tmp_path / "partial.npz"
    np.savez(partial, arrivals_s=np.zeros(1), model_ids=np.zeros(1, np.int32))
    _expect(partial, "model_names: is required")
    with pytest.raises(
        ValueError, match=r"w\.csv: unknown workload format '\.csv'; use \.json or \.npz"
    ):
        save_workload(tmp_path / "w.csv", _workload())
