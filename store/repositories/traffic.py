"""Observed traffic: request counts per cluster, source, bin length, bin
start (unix s) and model. A bin is written once: a report repeating it must
agree with what is stored (:func:`store_report`), so a router may resend a
report it is unsure arrived. Writers lock the cluster row, so concurrent
reports of one cluster serialise."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from sqlalchemy import delete, insert, select
from sqlalchemy.orm import Session

from store.models import Cluster, TrafficBin


@dataclass(frozen=True)
class Conflict:
    """A reported bin (``counts[model][index]``) that differs from the stored one."""

    model: str
    index: int
    stored: int
    reported: int


def store_report(
    session: Session,
    cluster_id: int,
    source: str,
    bin_s: int,
    start_s: int,
    counts: Mapping[str, Sequence[int]],
) -> tuple[int, Conflict | None]:
    """Store the report's bins (``counts[model][i]`` requests in ``[start_s
    + i * bin_s, start_s + (i + 1) * bin_s)``) that are not stored yet; the
    number stored, or ``(0, conflict)`` with nothing stored when a bin is
    stored with another count."""
    session.execute(select(Cluster.id).where(Cluster.id == cluster_id).with_for_update())
    length = max((len(series) for series in counts.values()), default=0)
    query = select(TrafficBin.model, TrafficBin.start_s, TrafficBin.requests).where(
        TrafficBin.cluster_id == cluster_id,
        TrafficBin.source == source,
        TrafficBin.bin_s == bin_s,
        TrafficBin.model.in_(list(counts)),
        TrafficBin.start_s >= start_s,
        TrafficBin.start_s < start_s + length * bin_s,
    )
    stored = {(row.model, row.start_s): row.requests for row in session.execute(query)}
    rows = []
    for model, series in counts.items():
        for i, requests in enumerate(series):
            at = start_s + i * bin_s
            old = stored.get((model, at))
            if old is None:
                rows.append(
                    {
                        "cluster_id": cluster_id,
                        "source": source,
                        "bin_s": bin_s,
                        "start_s": at,
                        "model": model,
                        "requests": requests,
                    }
                )
            elif old != requests:
                return 0, Conflict(model, i, old, requests)
    if rows:
        session.execute(insert(TrafficBin), rows)
    return len(rows), None


def prune(session: Session, cluster_id: int, before_s: int) -> int:
    """Delete the cluster's bins that start before ``before_s``; how many."""
    result = session.execute(
        delete(TrafficBin).where(TrafficBin.cluster_id == cluster_id, TrafficBin.start_s < before_s)
    )
    return int(getattr(result, "rowcount", 0) or 0)


def window_counts(
    session: Session, cluster_id: int, since_s: int, window_s: int, windows: int
) -> dict[str, list[int]]:
    """Requests per model in each of ``windows`` windows of ``window_s``
    seconds from ``since_s``, summed over sources (a bin counts in the
    window its start falls in); only models with a stored bin."""
    query = select(TrafficBin.model, TrafficBin.start_s, TrafficBin.requests).where(
        TrafficBin.cluster_id == cluster_id,
        TrafficBin.start_s >= since_s,
        TrafficBin.start_s < since_s + windows * window_s,
    )
    counts: dict[str, list[int]] = {}
    for row in session.execute(query):
        series = counts.setdefault(row.model, [0] * windows)
        series[(row.start_s - since_s) // window_s] += row.requests
    return dict(sorted(counts.items()))
