"""Read the re-placement experiment's JSON data
(:func:`planner.evaluation.experiment.run_experiment`, ``"kind":
"replan-experiment"``) into a :class:`ReplanReport`: its ``rows`` become the
capacity table (rates in requests per second), its ``goodput_rows`` the
goodput table of the memory-bound cases (with rows of several seeds, also
that table over the seeds, :func:`planner.evaluation.seeds.over_seeds`), its
``sweeps`` one :class:`KnobSweep` per knob (ratio to static per strategy)."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from planner.evaluation.experiment import information_text, switching_text
from planner.evaluation.reports.replan_data import (
    CapacityRow,
    GoodputRow,
    KnobSweep,
    ReplanReport,
    SeedRow,
)
from planner.evaluation.seeds import over_seeds

EXPERIMENT_KIND = "replan-experiment"


def _field(data: Any, key: str, where: str) -> Any:
    if not isinstance(data, Mapping):
        raise ValueError(f"{where}: must be an object, got {type(data).__name__}")
    if key not in data:
        raise ValueError(f"{where}.{key}: is required")
    return data[key]


def _number(data: Any, key: str, where: str, optional: bool = False) -> float | None:
    value = _field(data, key, where)
    if value is None and optional:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"{where}.{key}: must be a number, got {value!r}")
    return float(value)


def _later_number(data: Mapping[str, Any], key: str, where: str) -> float | None:
    """An optional number that data written before it was recorded lacks."""
    return _number(data, key, where, optional=True) if key in data else None


def _list(data: Any, key: str, where: str) -> list[Any]:
    value = _field(data, key, where)
    if not isinstance(value, list):
        raise ValueError(f"{where}.{key}: must be a list, got {type(value).__name__}")
    return value


def _note(row: Mapping[str, Any]) -> str:
    switching = row.get("switching")
    if row.get("kind") == "bound":
        return "no plan exceeds it (free switches, no queueing)"
    if row.get("kind") == "clockwork++" and switching == "free":
        return "switches at no cost (as published)"
    if row.get("kind") == "clockwork++":
        return "real switching cost"
    if row.get("kind") == "replan" and switching == "free":
        return "loads take no time: placed at will (the measured end of the headroom)"
    forecaster = row.get("forecaster")
    return f"forecaster {forecaster}" if forecaster else ""


def lowest_rate(row: Any, where: str) -> float:
    """The smallest rate the row's search tried: ``lowest_rate_rps``, or in
    data written before it was recorded the smallest of its ``probes``."""
    if isinstance(row, Mapping) and row.get("lowest_rate_rps") is not None:
        lowest = _number(row, "lowest_rate_rps", where)
        assert lowest is not None
        return lowest
    probes = _list(row, "probes", where)
    try:
        return min(float(scale) for scale, _ in probes)
    except (TypeError, ValueError):
        raise ValueError(
            f"{where}.probes: must be a non-empty list of [rate, attainment]"
        ) from None


def capacity_row(row: Any, where: str) -> CapacityRow:
    """One experiment row as a capacity row; a max rate of None (0 in data
    written before) means even the lowest rate tried failed."""
    return CapacityRow(
        model_set=f"{_field(row, 'model_set', where)} ({_field(row, 'devices', where)} dev)",
        workload=str(_field(row, "workload", where)),
        strategy=str(_field(row, "strategy", where)),
        max_rate=_number(row, "max_rate_rps", where, optional=True) or None,
        ratio_to_static=_number(row, "ratio_to_static", where, optional=True),
        switches=int(_number(row, "switches", where) or 0),
        lost_replica_s=_number(row, "lost_replica_s", where) or 0.0,
        note=_note(row),
        rate_unit="req/s",
        lowest_rate_tried=lowest_rate(row, where),
    )


def goodput_row(row: Any, where: str, seeded: bool = False) -> GoodputRow:
    """One row of the experiment's goodput table (rates in requests per
    second); ``best_at_cap`` is false in data written before it was
    recorded. With ``seeded`` (rows of several seeds) the workload names
    the row's ``seed``."""

    def number(key: str) -> float:
        value = _number(row, key, where)
        assert value is not None
        return value

    _field(row, "kind", where)
    for key in ("information", "switching", "forecaster"):
        _field(row, key, where)
    workload = str(_field(row, "workload", where))
    if seeded:
        seed = _field(row, "seed", where)
        if isinstance(seed, bool) or not isinstance(seed, int):
            raise ValueError(f"{where}.seed: must be an integer, got {seed!r}")
        workload += f" (seed {seed})"
    return GoodputRow(
        model_set=f"{_field(row, 'model_set', where)} ({_field(row, 'devices', where)} dev)",
        workload=workload,
        strategy=str(_field(row, "strategy", where)),
        information=information_text(row),
        switching=switching_text(row),
        rate_rps=number("rate_rps"),
        goodput_rps=number("goodput_rps"),
        x_static=_number(row, "x_static", where, optional=True),
        best_goodput_rps=number("best_goodput_rps"),
        best_rate_rps=number("best_rate_rps"),
        bound_goodput_rps=number("bound_goodput_rps"),
        headroom=_number(row, "headroom", where, optional=True),
        share_captured=_number(row, "share_captured", where, optional=True),
        switches=int(number("switches")),
        lost_replica_s=number("lost_replica_s"),
        best_at_cap=bool(row.get("best_at_cap", False)),
        reached_headroom=_later_number(row, "reached_headroom", where),
        share_of_reached=_later_number(row, "share_of_reached", where),
    )


def knob_sweeps(rows: list[Any], where: str) -> tuple[KnobSweep, ...]:
    """Sweep rows grouped by knob: ratio to static per strategy and value."""
    ratios: dict[str, dict[float, dict[str, float | None]]] = {}
    for i, row in enumerate(rows):
        here = f"{where}[{i}]"
        knob = str(_field(row, "knob", here))
        value = _number(row, "value", here)
        assert value is not None
        strategy = str(_field(row, "strategy", here))
        ratio = _number(row, "ratio_to_static", here, optional=True)
        ratios.setdefault(knob, {}).setdefault(value, {})[strategy] = ratio
    sweeps = []
    for knob, by_value in ratios.items():
        values = tuple(sorted(by_value))
        strategies = list(dict.fromkeys(s for v in values for s in by_value[v]))
        series = {s: tuple(by_value[v].get(s) for v in values) for s in strategies}
        sweeps.append(KnobSweep(knob, values, series, "capacity relative to the static plan"))
    return tuple(sweeps)


def from_experiment(data: Any, where: str = "experiment") -> ReplanReport:
    """The experiment's JSON data as a report without timelines; ValueError
    naming the field for anything malformed."""
    kind = _field(data, "kind", where)
    if kind != EXPERIMENT_KIND:
        raise ValueError(f"{where}.kind: must be {EXPERIMENT_KIND!r}, got {kind!r}")
    target = _number(data, "target_attainment", where)
    assert target is not None
    rows = _list(data, "rows", where)
    capacity = tuple(capacity_row(row, f"{where}.rows[{i}]") for i, row in enumerate(rows))
    goodput_data = data.get("goodput_rows", [])
    if not isinstance(goodput_data, list):
        raise ValueError(f"{where}.goodput_rows: must be a list, got {type(goodput_data).__name__}")
    seeds = {row.get("seed") for row in goodput_data if isinstance(row, Mapping)}
    goodput = tuple(
        goodput_row(row, f"{where}.goodput_rows[{i}]", len(seeds) > 1)
        for i, row in enumerate(goodput_data)
    )
    summary: list[dict[str, Any]] = []
    if len(seeds) > 1:  # over_seeds groups by these: as text, whatever JSON value they hold
        keys = ("model_set", "devices", "workload", "strategy")
        summary = over_seeds([{**row, **{k: str(row[k]) for k in keys}} for row in goodput_data])
    return ReplanReport(
        title="Re-placement experiment",
        inputs={"experiment": data.get("config", {})},
        target_attainment=target,
        capacity=capacity,
        timelines=(),
        sweeps=knob_sweeps(list(data.get("sweeps", [])), f"{where}.sweeps"),
        goodput=goodput,
        over_seeds=tuple(seed_row(row) for row in summary),
    )


def seed_row(row: Mapping[str, Any]) -> SeedRow:
    """One row of :func:`planner.evaluation.seeds.over_seeds` (of rows
    :func:`goodput_row` accepted) as a :class:`SeedRow`."""
    fields = {f.name: row[f.name] for f in dataclasses.fields(SeedRow) if f.name != "model_set"}
    return SeedRow(model_set=f"{row['model_set']} ({row['devices']} dev)", **fields)


def with_timelines(experiment: ReplanReport, runs: ReplanReport) -> ReplanReport:
    """The experiment's capacity and goodput tables and sweeps with the
    timelines (and any capacity and goodput rows) of ``runs``; the experiment's target attainment,
    which capacity rows of ``runs`` must share (else ValueError)."""
    if runs.capacity and runs.target_attainment != experiment.target_attainment:
        raise ValueError(
            f"target_attainment: the capacity rows were searched at {runs.target_attainment:g}, "
            f"the experiment's at {experiment.target_attainment:g}"
        )
    return ReplanReport(
        title=runs.title,
        inputs={**runs.inputs, **experiment.inputs},
        target_attainment=experiment.target_attainment,
        capacity=experiment.capacity + runs.capacity,
        timelines=runs.timelines,
        sweeps=experiment.sweeps + runs.sweeps,
        goodput=experiment.goodput + runs.goodput,
        over_seeds=experiment.over_seeds + runs.over_seeds,
    )
