"""Files: the planner's one edge to the disk. The command line
(:mod:`api.commands`), the benches and the example scripts read and write
through it; everything else in :mod:`planner` takes values or line
iterables. Errors are ``ValueError``
whose message starts with the file, then the line and column or the field
where there is one (``models.json: models[3].slo_s: must be > 0, got -1``).

- JSON: :func:`read_json`, :func:`write_json`, :func:`load_json` (read and
  parse, e.g. with :func:`planner.codec.decode`).
- Cluster files (the cluster's JSON form): :func:`load_cluster`,
  :func:`save_cluster`.
- Model files ``{"models": [...]}`` (:func:`planner.profiles.models_to_json`)
  and one model's measured profile: :func:`load_models`,
  :func:`save_models`, :func:`load_profile`, :func:`save_profile`.
- Workload files: ``.json`` holds the workload's JSON form; ``.npz`` is a
  compressed numpy archive with arrays ``arrivals_s`` (float64),
  ``model_ids`` (int32), ``model_names`` (unicode), ``duration_s``
  (scalar) and ``meta`` (its JSON text): :func:`load_workload`,
  :func:`save_workload`; :func:`npz_header` gives the last three (the API
  adds them to its stored arrivals to serve this file).
- Trace files, read one line at a time: :func:`open_lines`, and the Azure
  Functions replays :func:`load_azure2019` (one file per day) and
  :func:`load_azure2021`.
"""

from __future__ import annotations

import json
import zipfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import numpy.typing as npt

from planner.codec import decode, encode
from planner.domain import Cluster, ModelSpec, Profile, Workload
from planner.profiles import models_from_json, models_to_json
from planner.workloads.arrivals import Seed
from planner.workloads.azure2019 import count_minutes, day_of_file, replay_azure2019
from planner.workloads.azure2021 import DEFAULT_WINDOW_S, read_azure2021
from planner.workloads.csvtext import utf8_lines
from planner.workloads.scaling import redraw
from planner.workloads.timerange import TimeRange

T = TypeVar("T")
Progress = Callable[[int], None]
"""Called with the bytes of every line read."""

WORKLOAD_SUFFIXES = (".json", ".npz")
_NPZ_KEYS = ("arrivals_s", "model_ids", "model_names", "duration_s", "meta")


def read_json(path: str | Path) -> Any:
    """The JSON data in ``path``."""
    try:
        text = Path(path).read_text()
    except OSError as error:
        raise ValueError(f"{path}: cannot read: {error.strerror or error}") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        raise ValueError(
            f"{path}: invalid JSON at line {error.lineno} column {error.colno}: {error.msg}"
        ) from None


def write_json(
    path: str | Path, data: Any, indent: int | None = None, allow_nan: bool = True
) -> None:
    """Write ``data`` to ``path`` as one line of compact JSON, or indented
    by ``indent``; ``allow_nan=False`` refuses non-finite numbers."""
    separators = (",", ":") if indent is None else None
    text = json.dumps(data, indent=indent, separators=separators, allow_nan=allow_nan)
    Path(path).write_text(text + "\n")


def load_json(path: str | Path, parse: Callable[[Any], T]) -> T:
    """``parse(read_json(path))``; its ValueError gets the file in front."""
    data = read_json(path)
    try:
        return parse(data)
    except ValueError as error:
        raise ValueError(f"{path}: {error}") from None


def save_cluster(path: str | Path, cluster: Cluster) -> None:
    """Write a cluster file (indented JSON, as the shipped examples)."""
    write_json(path, encode(cluster), indent=2)


def load_cluster(path: str | Path) -> Cluster:
    """Read a cluster file."""
    return load_json(path, lambda data: decode(Cluster, data, "cluster"))


def save_models(path: str | Path, models: Sequence[ModelSpec]) -> None:
    """Write a model file (compact JSON)."""
    write_json(path, models_to_json(models))


def load_models(path: str | Path) -> tuple[ModelSpec, ...]:
    """Read a model file."""
    return load_json(path, models_from_json)


def save_profile(path: str | Path, profile: Profile) -> None:
    """Write one model's profile (compact JSON)."""
    write_json(path, encode(profile))


def load_profile(path: str | Path) -> Profile:
    """Read a profile file, e.g. one measured by the executor."""
    return load_json(path, lambda data: decode(Profile, data, "profile"))


def _workload_suffix(path: Path) -> str:
    suffix = path.suffix.lower()
    if suffix not in WORKLOAD_SUFFIXES:
        raise ValueError(f"{path}: unknown workload format {suffix!r}; use .json or .npz")
    return suffix


def npz_header(
    model_names: Sequence[str], duration_s: float, meta: Mapping[str, Any]
) -> dict[str, npt.NDArray[Any]]:
    """The arrays of a workload ``.npz`` besides ``arrivals_s`` and
    ``model_ids``: ``model_names``, ``duration_s`` and ``meta``."""
    return {
        "model_names": np.array(model_names, dtype=str),
        "duration_s": np.array(duration_s, dtype=np.float64),
        "meta": np.array(json.dumps(dict(meta), allow_nan=False)),
    }


def save_workload(path: str | Path, workload: Workload) -> None:
    """Write ``workload`` to ``path`` (format by suffix)."""
    path = Path(path)
    if _workload_suffix(path) == ".json":
        write_json(path, encode(workload), allow_nan=False)
        return
    arrays: dict[str, Any] = {
        "arrivals_s": workload.arrivals_s,
        "model_ids": workload.model_ids,
        **npz_header(workload.model_names, workload.duration_s, workload.meta),
    }
    with path.open("wb") as handle:
        np.savez_compressed(handle, **arrays)


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
    workload's JSON form)."""
    path = Path(path)
    if _workload_suffix(path) == ".json":
        return load_json(path, lambda data: decode(Workload, data, "workload"))
    try:
        return _read_npz(path)
    except OSError as error:
        raise ValueError(f"{path}: cannot read: {error.strerror or error}") from None
    except (ValueError, TypeError, zipfile.BadZipFile) as error:
        raise ValueError(f"{path}: {error}") from None


@contextmanager
def open_lines(path: str | Path, progress: Progress | None = None) -> Iterator[Iterator[str]]:
    """Open a UTF-8 trace file and yield an iterator over its lines, calling
    ``progress(bytes)`` after each line; the file is closed on exit even
    when the reader stops early. An undecodable byte is a ValueError naming
    the file, line and column (:func:`planner.workloads.utf8_lines`)."""
    try:
        handle = open(path, "rb")  # noqa: SIM115 (closed below)
    except OSError as error:
        raise ValueError(f"{path}: cannot read: {error.strerror}") from None

    def lines() -> Iterator[bytes]:
        for line in handle:
            if progress is not None:
                progress(len(line))
            yield line

    with handle:
        yield utf8_lines(lines(), str(path))


def load_azure2019(
    paths: Sequence[str | Path],
    model_names: Sequence[str],
    time_range: TimeRange,
    seed: Seed,
    window_s: float = 60.0,
    rate_scale: float = 1.0,
    cv_scale: float = 1.0,
    progress: Progress | None = None,
) -> Workload:
    """Read Azure Functions 2019 trace files (one per day, see
    :func:`planner.workloads.day_of_file`) and replay ``time_range`` of them
    (:func:`planner.workloads.replay_azure2019`)."""
    with ExitStack() as stack:
        days = [
            (day_of_file(path), str(path), stack.enter_context(open_lines(path, progress)))
            for path in paths
        ]
        counts = count_minutes(days, len(model_names), time_range)
    return replay_azure2019(counts, model_names, seed, window_s, rate_scale, cv_scale)


def load_azure2021(
    path: str | Path,
    model_names: Sequence[str],
    time_range: TimeRange,
    seed: Seed,
    window_s: float = DEFAULT_WINDOW_S,
    rate_scale: float = 1.0,
    cv_scale: float = 1.0,
    progress: Progress | None = None,
) -> Workload:
    """Read an Azure Functions 2021 trace file and replay ``time_range`` of
    it through per-window Gamma fits (:func:`planner.workloads.redraw`)."""
    with open_lines(path, progress) as lines:
        trace = read_azure2021(lines, model_names, time_range, str(path))
    return redraw(trace, window_s, seed, rate_scale, cv_scale)
