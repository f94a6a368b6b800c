"""Domain values of meshplan: clusters, parallel configs, profiles, models,
placements, timed plans and workloads.

All values are frozen dataclasses with SI units in their field names. Every
constructor checks what it can check alone and raises ``ValueError`` whose
message starts with the offending field, e.g. ``"latency_s[2][0]: must be
> 0, got -1.0"``. Checks that need several values at once (memory of a group
given the models it hosts, node locality given the cluster) live in
:mod:`planner.validation`.

JSON forms come from :mod:`planner.codec` (``encode(value)``,
``decode(Cluster, data, "cluster")``); malformed data raises ``ValueError``
naming the field. :class:`StageProfile`, :class:`Profile`,
:class:`TimedPlan` and :class:`Workload` define the codec's hooks, since
their JSON forms are not their plain field forms.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from planner.codec import construct, decode, encode, items, member

JSON = dict[str, Any]


def _fail(field_name: str, message: str) -> ValueError:
    return ValueError(f"{field_name}: {message}")


def _positive_int(field_name: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value <= 0:
        raise _fail(field_name, f"must be a positive integer, got {value!r}")
    return int(value)


def _non_negative_int(field_name: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 0:
        raise _fail(field_name, f"must be a non-negative integer, got {value!r}")
    return int(value)


def _positive_float(field_name: str, value: object) -> float:
    number = _finite_float(field_name, value)
    if number <= 0:
        raise _fail(field_name, f"must be > 0, got {value!r}")
    return number


def _non_negative_float(field_name: str, value: object) -> float:
    number = _finite_float(field_name, value)
    if number < 0:
        raise _fail(field_name, f"must be >= 0, got {value!r}")
    return number


def _finite_float(field_name: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float | np.integer | np.floating):
        raise _fail(field_name, f"must be a number, got {value!r}")
    number = float(value)
    if not math.isfinite(number):
        raise _fail(field_name, f"must be finite, got {value!r}")
    return number


@dataclass(frozen=True, order=True)
class ParallelConfig:
    """A parallel configuration: ``op`` devices per stage (tensor/intra-op
    degree) times ``pp`` pipeline stages (inter-op). A group running it has
    ``size = op * pp`` devices; device ``i`` of the group is in stage
    ``i // op``."""

    op: int
    pp: int

    def __post_init__(self) -> None:
        _positive_int("op", self.op)
        _positive_int("pp", self.pp)

    @property
    def size(self) -> int:
        return self.op * self.pp

    def __str__(self) -> str:
        return f"op{self.op}xpp{self.pp}"

    @classmethod
    def parse(cls, text: str) -> ParallelConfig:
        """Parse ``"op2xpp4"`` (as printed by ``str``) or ``"2x4"``."""
        cleaned = text.strip().lower().replace("op", "").replace("pp", "")
        parts = cleaned.split("x")
        if len(parts) != 2 or not all(p.isdigit() for p in parts):
            raise _fail("config", f"expected 'op<N>xpp<M>' or '<N>x<M>', got {text!r}")
        return cls(int(parts[0]), int(parts[1]))


@dataclass(frozen=True)
class StageProfile:
    """What one model costs under one :class:`ParallelConfig`.

    - ``latency_s[b - 1][s]``: seconds stage ``s`` takes for a batch of
      ``b`` requests, for every batch size ``b = 1 .. max_batch``; each
      inner tuple has one entry per pipeline stage (``pp`` of them).
    - ``stage_weight_bytes[s]``: weight bytes held by *each* device of stage
      ``s`` (stages may be uneven).
    - ``act_bytes``: activation workspace bytes per device per batch item.
    """

    latency_s: tuple[tuple[float, ...], ...]
    stage_weight_bytes: tuple[int, ...]
    act_bytes: int = 0

    def __post_init__(self) -> None:
        if not self.latency_s:
            raise _fail("latency_s", "needs at least batch size 1")
        stages = len(self.stage_weight_bytes)
        if stages == 0:
            raise _fail("stage_weight_bytes", "needs one entry per stage")
        latency = tuple(tuple(float(x) for x in row) for row in self.latency_s)
        for b, row in enumerate(latency):
            if len(row) != stages:
                raise _fail(
                    f"latency_s[{b + 1}]",
                    f"has {len(row)} stages, stage_weight_bytes has {stages}",
                )
            for s, value in enumerate(row):
                _positive_float(f"latency_s[{b + 1}][{s}]", value)
        for s, value in enumerate(self.stage_weight_bytes):
            _non_negative_int(f"stage_weight_bytes[{s}]", value)
        _non_negative_int("act_bytes", self.act_bytes)
        object.__setattr__(self, "latency_s", latency)
        object.__setattr__(
            self, "stage_weight_bytes", tuple(int(x) for x in self.stage_weight_bytes)
        )

    @property
    def num_stages(self) -> int:
        return len(self.stage_weight_bytes)

    @property
    def max_batch(self) -> int:
        return len(self.latency_s)

    @property
    def weight_bytes(self) -> int:
        """Largest weight bytes on any one device of the group."""
        return max(self.stage_weight_bytes)

    def latency(self, batch: int) -> float:
        """End-to-end latency (s) of one batch through an idle pipeline."""
        return sum(self.latency_s[batch - 1])

    def to_json(self) -> JSON:
        """Codec hook: ``latency_s`` is an object keyed by batch size."""
        return {
            "latency_s": {str(b + 1): list(row) for b, row in enumerate(self.latency_s)},
            "stage_weight_bytes": list(self.stage_weight_bytes),
            "act_bytes": self.act_bytes,
        }

    @classmethod
    def from_json(cls, data: Any, where: str) -> StageProfile:
        """Codec hook: ``latency_s`` as a list (index = batch - 1) or as an
        object keyed by batch size. Missing batch sizes between measured ones
        are filled by linear interpolation per stage; batch 1 must be present.
        Other members are ignored (a :class:`Profile` entry adds ``config``)."""
        raw = member(data, "latency_s", where)
        weights = items(member(data, "stage_weight_bytes", where), f"{where}.stage_weight_bytes")
        act = data.get("act_bytes", 0)
        if isinstance(raw, Mapping):
            measured: dict[int, list[float]] = {}
            for key, row in raw.items():
                try:
                    batch = int(key)
                except (TypeError, ValueError):
                    raise _fail(f"{where}.latency_s", f"key {key!r} is not a batch size") from None
                if batch <= 0:
                    raise _fail(f"{where}.latency_s", f"batch size {batch} must be >= 1")
                measured[batch] = items(row, f"{where}.latency_s[{key}]")
            rows = _interpolate_batches(measured, f"{where}.latency_s")
        else:
            rows = [
                items(r, f"{where}.latency_s[{b + 1}]")
                for b, r in enumerate(items(raw, f"{where}.latency_s"))
            ]
        return construct(cls, where, tuple(tuple(r) for r in rows), tuple(weights), act)


def _interpolate_batches(measured: dict[int, list[float]], where: str) -> list[list[float]]:
    if 1 not in measured:
        raise _fail(where, "batch size 1 is required")
    sizes = sorted(measured)
    stages = len(measured[1])
    for batch in sizes:
        if len(measured[batch]) != stages:
            raise _fail(
                f"{where}[{batch}]", f"has {len(measured[batch])} stages, batch 1 has {stages}"
            )
    rows: list[list[float]] = []
    for batch in range(1, sizes[-1] + 1):
        if batch in measured:
            rows.append([float(x) for x in measured[batch]])
            continue
        lo = max(b for b in sizes if b < batch)
        hi = min(b for b in sizes if b > batch)
        w = (batch - lo) / (hi - lo)
        rows.append(
            [
                (1 - w) * float(a) + w * float(c)
                for a, c in zip(measured[lo], measured[hi], strict=True)
            ]
        )
    return rows


@dataclass(frozen=True)
class Profile:
    """A model's costs under every parallel config it was profiled for."""

    by_config: Mapping[ParallelConfig, StageProfile]

    def __post_init__(self) -> None:
        if not self.by_config:
            raise _fail("profile", "needs at least one parallel config")
        for config, stage in self.by_config.items():
            if stage.num_stages != config.pp:
                raise _fail(
                    f"profile[{config}]",
                    f"has {stage.num_stages} stages but the config has pp={config.pp}",
                )
        object.__setattr__(self, "by_config", dict(sorted(self.by_config.items())))

    def __getitem__(self, config: ParallelConfig) -> StageProfile:
        return self.by_config[config]

    def __contains__(self, config: object) -> bool:
        return config in self.by_config

    @property
    def configs(self) -> tuple[ParallelConfig, ...]:
        return tuple(self.by_config)

    def to_json(self) -> JSON:
        """Codec hook: ``{"configs": [{"config": ..., **stage}, ...]}``."""
        return {
            "configs": [
                {"config": encode(c), **encode(stage)} for c, stage in self.by_config.items()
            ]
        }

    @classmethod
    def from_json(cls, data: Any, where: str) -> Profile:
        """Codec hook: the inverse of :meth:`to_json`."""
        entries = items(member(data, "configs", where), f"{where}.configs")
        by_config: dict[ParallelConfig, StageProfile] = {}
        for i, entry in enumerate(entries):
            here = f"{where}.configs[{i}]"
            config = decode(ParallelConfig, member(entry, "config", here), f"{here}.config")
            if config in by_config:
                raise _fail(f"{here}.config", f"{config} appears twice")
            by_config[config] = decode(StageProfile, entry, here)
        return construct(cls, where, by_config)


@dataclass(frozen=True)
class ModelSpec:
    """A servable model: its name, latency SLO (seconds, end to end from
    arrival) and profile. ``family`` is informational (``"bert"``, ``"moe"``)."""

    name: str
    slo_s: float
    profile: Profile
    family: str = "custom"

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name.strip():
            raise _fail("name", f"must be a non-empty string, got {self.name!r}")
        _positive_float("slo_s", self.slo_s)


@dataclass(frozen=True)
class Cluster:
    """A homogeneous cluster. Device ``d`` sits on node
    ``d // devices_per_node``. Loading a replica takes
    ``load_overhead_s + weight_bytes_per_device / load_bw_bytes_per_s`` seconds."""

    num_devices: int
    device_mem_bytes: int
    devices_per_node: int = 8
    load_bw_bytes_per_s: float = 8e9
    load_overhead_s: float = 0.0

    def __post_init__(self) -> None:
        _positive_int("num_devices", self.num_devices)
        _positive_int("device_mem_bytes", self.device_mem_bytes)
        _positive_int("devices_per_node", self.devices_per_node)
        _positive_float("load_bw_bytes_per_s", self.load_bw_bytes_per_s)
        _non_negative_float("load_overhead_s", self.load_overhead_s)

    def node_of(self, device: int) -> int:
        return device // self.devices_per_node

    def load_time_s(self, weight_bytes_per_device: int) -> float:
        """Seconds to load a replica holding that many bytes on each device."""
        return self.load_overhead_s + weight_bytes_per_device / self.load_bw_bytes_per_s


@dataclass(frozen=True)
class Group:
    """A device group running one parallel config and hosting replicas of
    ``models`` (names, each at most once). ``devices`` are in stage order:
    stage ``s`` is ``devices[s * op:(s + 1) * op]``."""

    devices: tuple[int, ...]
    config: ParallelConfig
    models: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        devices = tuple(int(d) for d in self.devices)
        for i, device in enumerate(devices):
            _non_negative_int(f"devices[{i}]", device)
        if len(devices) != self.config.size:
            raise _fail(
                "devices",
                f"has {len(devices)} devices but config {self.config} needs {self.config.size}",
            )
        if len(set(devices)) != len(devices):
            raise _fail("devices", f"lists a device twice: {list(devices)}")
        models = tuple(self.models)
        for i, name in enumerate(models):
            if not isinstance(name, str) or not name:
                raise _fail(f"models[{i}]", f"must be a model name, got {name!r}")
        if len(set(models)) != len(models):
            raise _fail("models", f"hosts a model twice: {list(models)}")
        object.__setattr__(self, "devices", devices)
        object.__setattr__(self, "models", models)

    def stage_devices(self, stage: int) -> tuple[int, ...]:
        op = self.config.op
        return self.devices[stage * op : (stage + 1) * op]

    def with_models(self, models: Iterable[str]) -> Group:
        return Group(self.devices, self.config, tuple(models))


@dataclass(frozen=True)
class Placement:
    """Groups over disjoint devices. Whether it fits a cluster and a model
    set is checked by :func:`planner.validation.validate`."""

    groups: tuple[Group, ...]

    def __post_init__(self) -> None:
        groups = tuple(self.groups)
        owner: dict[int, int] = {}
        for g, group in enumerate(groups):
            for device in group.devices:
                if device in owner:
                    raise _fail(
                        f"groups[{g}].devices",
                        f"device {device} is already in groups[{owner[device]}]",
                    )
                owner[device] = g
        object.__setattr__(self, "groups", groups)

    def hosts(self, model: str) -> tuple[int, ...]:
        """Indices of the groups hosting a replica of ``model``."""
        return tuple(g for g, group in enumerate(self.groups) if model in group.models)

    @property
    def model_names(self) -> frozenset[str]:
        return frozenset(name for group in self.groups for name in group.models)

    @property
    def num_replicas(self) -> int:
        return sum(len(group.models) for group in self.groups)


@dataclass(frozen=True)
class TimedPlan:
    """A sequence of placements: ``steps[k] = (start_s, placement)`` holds
    from ``start_s`` until the next step's start. The first step starts at 0
    and starts are strictly increasing."""

    steps: tuple[tuple[float, Placement], ...]

    def __post_init__(self) -> None:
        steps = tuple((float(start), placement) for start, placement in self.steps)
        if not steps:
            raise _fail("steps", "needs at least one placement")
        if steps[0][0] != 0.0:
            raise _fail("steps[0].start_s", f"must be 0, got {steps[0][0]}")
        for k in range(1, len(steps)):
            _finite_float(f"steps[{k}].start_s", steps[k][0])
            if steps[k][0] <= steps[k - 1][0]:
                raise _fail(
                    f"steps[{k}].start_s",
                    f"must be after steps[{k - 1}].start_s={steps[k - 1][0]}, got {steps[k][0]}",
                )
        object.__setattr__(self, "steps", steps)

    @classmethod
    def static(cls, placement: Placement) -> TimedPlan:
        return cls(((0.0, placement),))

    def to_json(self) -> JSON:
        """Codec hook: each step is an object ``{"start_s", "placement"}``."""
        return {"steps": [{"start_s": s, "placement": encode(p)} for s, p in self.steps]}

    @classmethod
    def from_json(cls, data: Any, where: str) -> TimedPlan:
        """Codec hook: the inverse of :meth:`to_json`."""
        steps = []
        for k, step in enumerate(items(member(data, "steps", where), f"{where}.steps")):
            here = f"{where}.steps[{k}]"
            start = _finite_float(f"{here}.start_s", member(step, "start_s", here))
            placement = decode(Placement, member(step, "placement", here), f"{here}.placement")
            steps.append((start, placement))
        return construct(cls, where, tuple(steps))


@dataclass(frozen=True, eq=False)
class Workload:
    """Request arrivals: ``arrivals_s[i]`` (seconds from 0, non-decreasing,
    in ``[0, duration_s)``) of a request for model
    ``model_names[model_ids[i]]``."""

    arrivals_s: npt.NDArray[np.float64]
    model_ids: npt.NDArray[np.int32]
    model_names: tuple[str, ...]
    duration_s: float
    meta: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        arrivals = np.ascontiguousarray(self.arrivals_s, dtype=np.float64)
        ids = np.ascontiguousarray(self.model_ids, dtype=np.int32)
        names = tuple(self.model_names)
        duration = _positive_float("duration_s", self.duration_s)
        if arrivals.ndim != 1 or ids.shape != arrivals.shape:
            raise _fail("model_ids", f"shape {ids.shape} differs from arrivals_s {arrivals.shape}")
        if len(set(names)) != len(names):
            raise _fail("model_names", "lists a model twice")
        if arrivals.size:
            outside = ~((arrivals >= 0) & (arrivals < duration))  # NaN is outside
            if np.any(outside):
                i = int(np.argmax(outside))
                raise _fail(
                    f"arrivals_s[{i}]", f"must be in [0, duration_s={duration}), got {arrivals[i]}"
                )
            steps = np.diff(arrivals)
            if np.any(steps < 0):
                i = int(np.argmax(steps < 0)) + 1
                raise _fail(
                    f"arrivals_s[{i}]",
                    f"{arrivals[i]} is before the previous arrival {arrivals[i - 1]}",
                )
            if ids.min() < 0 or ids.max() >= len(names):
                raise _fail("model_ids", f"must index model_names (0..{len(names) - 1})")
        arrivals.setflags(write=False)
        ids.setflags(write=False)
        object.__setattr__(self, "arrivals_s", arrivals)
        object.__setattr__(self, "model_ids", ids)
        object.__setattr__(self, "model_names", names)
        object.__setattr__(self, "duration_s", float(self.duration_s))
        object.__setattr__(self, "meta", dict(self.meta))

    @property
    def num_requests(self) -> int:
        return int(self.arrivals_s.size)

    def for_model(self, name: str) -> npt.NDArray[np.float64]:
        """Arrival times (s) of one model's requests."""
        if name not in self.model_names:
            return np.empty(0)
        return self.arrivals_s[self.model_ids == self.model_names.index(name)]

    def to_json(self) -> JSON:
        """Codec hook: the arrays as lists."""
        return {
            "model_names": list(self.model_names),
            "duration_s": self.duration_s,
            "arrivals_s": self.arrivals_s.tolist(),
            "model_ids": self.model_ids.tolist(),
            "meta": dict(self.meta),
        }

    @classmethod
    def from_json(cls, data: Any, where: str) -> Workload:
        """Codec hook: the inverse of :meth:`to_json` (``meta`` may be left out)."""
        arrivals = _array(member(data, "arrivals_s", where), np.float64, f"{where}.arrivals_s")
        ids = _array(member(data, "model_ids", where), np.int32, f"{where}.model_ids")
        names = decode(tuple[str, ...], member(data, "model_names", where), f"{where}.model_names")
        meta = decode(dict[str, Any], data.get("meta", {}), f"{where}.meta")
        return construct(cls, where, arrivals, ids, names, member(data, "duration_s", where), meta)

    @classmethod
    def merge(
        cls, per_model: Mapping[str, Sequence[float] | npt.NDArray[np.float64]], duration_s: float
    ) -> Workload:
        """Build a workload from per-model arrival times (any order)."""
        names = tuple(per_model)
        times = [np.asarray(per_model[n], dtype=np.float64) for n in names]
        arrivals = np.concatenate(times) if times else np.empty(0)
        ids = (
            np.concatenate([np.full(t.size, i, np.int32) for i, t in enumerate(times)])
            if times
            else np.empty(0, np.int32)
        )
        order = np.argsort(arrivals, kind="stable")
        return cls(arrivals[order], ids[order], names, duration_s)


def _array(data: Any, dtype: type[np.generic], where: str) -> npt.NDArray[Any]:
    values = items(data, where)
    try:
        return np.asarray(values, dtype=dtype)
    except (TypeError, ValueError):
        raise _fail(where, "must be a list of numbers") from None
