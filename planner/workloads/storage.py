"""Workload files: ``.json`` holds the workload's JSON form; ``.npz`` is a
compressed numpy archive with arrays ``arrivals_s`` (float64),
``model_ids`` (int32), ``model_names`` (unicode), ``duration_s`` (scalar)
and ``meta`` (its JSON text). Errors name the file."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import numpy as np

from planner.codec import decode, encode
from planner.domain import Workload

SUFFIXES = (".json", ".npz")
_NPZ_KEYS = ("arrivals_s", "model_ids", "model_names", "duration_s", "meta")


def _suffix(path: Path) -> str:
    suffix = path.suffix.lower()
    if suffix not in SUFFIXES:
        raise ValueError(f"{path}: unknown workload format {suffix!r}; use .json or .npz")
    return suffix


def save_workload(workload: Workload, path: str | Path) -> None:
    """Write ``workload`` to ``path`` (format by suffix)."""
    path = Path(path)
    if _suffix(path) == ".json":
        text = json.dumps(encode(workload), separators=(",", ":"), allow_nan=False)
        path.write_text(text + "\n")
        return
    with path.open("wb") as handle:
        np.savez_compressed(
            handle,
            arrivals_s=workload.arrivals_s,
            model_ids=workload.model_ids,
            model_names=np.array(workload.model_names, dtype=str),
            duration_s=np.float64(workload.duration_s),
            meta=np.array(json.dumps(dict(workload.meta), allow_nan=False)),
        )


def _read_npz(path: Path) -> Workload:
    with np.load(path, allow_pickle=False) as archive:
        missing = [key for key in _NPZ_KEYS if key not in archive.files]
        if missing:
            raise ValueError(f"{missing[0]}: is required")
        arrays = {key: archive[key] for key in _NPZ_KEYS}
    if arrays["model_names"].ndim != 1 or arrays["model_names"].dtype.kind != "U":
        raise ValueError("model_names: must be a 1-d array of strings")
    return Workload(
        arrays["arrivals_s"],
        arrays["model_ids"],
        tuple(str(name) for name in arrays["model_names"]),
        float(arrays["duration_s"]),
        json.loads(str(arrays["meta"])),
    )


def load_workload(path: str | Path) -> Workload:
    """Read a workload written by :func:`save_workload` (or any JSON in the
    workload's JSON form); ValueError names the file and field."""
    path = Path(path)
    suffix = _suffix(path)
    try:
        if suffix == ".json":
            return decode(Workload, json.loads(path.read_text()), "workload")
        return _read_npz(path)
    except OSError as error:
        raise ValueError(f"{path}: cannot read: {error.strerror or error}") from None
    except json.JSONDecodeError as error:
        raise ValueError(
            f"{path}: invalid JSON at line {error.lineno} column {error.colno}: {error.msg}"
        ) from None
    except (ValueError, TypeError, zipfile.BadZipFile) as error:
        raise ValueError(f"{path}: {error}") from None
