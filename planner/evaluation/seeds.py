"""An experiment run on several seeds (each seed draws other traces and
forecasts): its rows tagged with their seed, and its goodput rows
summarised over the seeds, so that a target is judged on a mean with its
range rather than on one draw.

The summary's shares pool the seeds: the mean gain over static in the mean
headroom, not the mean of per-seed shares, which a seed with almost no
headroom would swing (gains -0.02 and +0.06 in headrooms 0.02 and 0.18
pool to 0.20; their per-seed shares average -0.33)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from planner.evaluation.experiment import TABLES, fixed_text
from planner.evaluation.goodput import share_captured


def with_seed(result: Mapping[str, Any], seed: int) -> dict[str, Any]:
    """``result`` (an experiment's or one case's data) with every row of
    its tables (:data:`planner.evaluation.experiment.TABLES`) carrying
    ``seed``."""
    tagged = {table: [{**row, "seed": seed} for row in result.get(table, [])] for table in TABLES}
    return {**result, **tagged}


def merge_seeds(parts: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """One experiment's data from its runs on several seeds (each tagged by
    :func:`with_seed`, in seed order): the last run's other fields, with
    every run's rows in each table."""
    tables = {table: [row for part in parts for row in part.get(table, [])] for table in TABLES}
    return {**parts[-1], **tables}


def _mean(values: list[float | None]) -> float | None:
    known = [value for value in values if value is not None]
    return sum(known) / len(known) if known and len(known) == len(values) else None


def over_seeds(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Goodput ``rows`` (each with its ``seed``) per model set x devices x
    workload x strategy, in first-seen order: ``seeds``, the mean
    ``x_static``, ``headroom`` and ``reached_headroom`` (None where a seed
    has none), the range ``x_static_min``/``_max``, and the shares of the
    mean gain over static in the mean headroom (``share_captured``, of the
    bound; ``share_of_reached``, of the reached; None for the bound's own
    row, of kind ``bound``), so that a seed with almost no headroom does not swing them."""
    groups: dict[tuple[Any, ...], list[dict[str, Any]]] = {}
    for row in rows:
        key = (row["model_set"], row["devices"], row["workload"], row["strategy"])
        groups.setdefault(key, []).append(row)
    summary = []
    for members in groups.values():
        first = members[0]
        ratios = [row["x_static"] for row in members]
        ratio, headroom = _mean(ratios), _mean([row["headroom"] for row in members])
        reached = _mean([row.get("reached_headroom") for row in members])
        known = [value for value in ratios if value is not None]
        summary.append(
            {
                **{key: first[key] for key in ("model_set", "devices", "workload", "strategy")},
                **{key: first[key] for key in ("kind", "information")},
                "seeds": len(members),
                "x_static": ratio,
                "x_static_min": min(known, default=None),
                "x_static_max": max(known, default=None),
                "headroom": headroom,
                "reached_headroom": reached,
                "share_captured": None
                if ratio is None or headroom is None
                else share_captured(ratio, 1.0, headroom),
                "share_of_reached": share_captured(ratio, 1.0, reached)
                if first["kind"] != "bound" and ratio is not None and reached is not None
                else None,
            }
        )
    return summary


SEED_COLUMNS = (
    "set",
    "devices",
    "workload",
    "strategy",
    "seeds",
    "x static: mean (range)",
    "headroom",
    "share",
    "reached",
    "share of reached",
)


def seed_table_rows(summary: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    """:func:`over_seeds` as the rows of :data:`SEED_COLUMNS`."""
    return [
        (
            row["model_set"],
            row["devices"],
            row["workload"],
            row["strategy"],
            row["seeds"],
            f"{fixed_text(row['x_static'], 3)} [{fixed_text(row['x_static_min'], 3)},"
            f" {fixed_text(row['x_static_max'], 3)}]",
            fixed_text(row["headroom"], 3),
            fixed_text(row["share_captured"], 2),
            fixed_text(row["reached_headroom"], 3),
            fixed_text(row["share_of_reached"], 2),
        )
        for row in summary
    ]
