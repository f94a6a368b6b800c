"""Workloads: arrivals stored as a compressed blob, plus per-window rates
and inter-arrival CVs (for forecasting and re-planning)."""

from __future__ import annotations

import math

from sqlalchemy.orm import Session

from planner import domain
from planner.workloads import window_stats
from store.blobfile import BlobFile
from store.blobs import pack_arrivals, unpack_arrivals
from store.models import Workload, WorkloadWindow

READ_BYTES = 4 << 20
"""Bytes of a stored blob to fetch per query (:class:`store.blobfile.BlobFile`)."""


def add_workload(
    session: Session, name: str, workload: domain.Workload, *, source: str, window_s: float
) -> Workload:
    """Store ``workload`` under a unique ``name`` with its windows of
    ``window_s`` seconds (the last one may be shorter)."""
    row = Workload(
        name=name,
        source=source,
        duration_s=workload.duration_s,
        window_s=window_s,
        num_requests=workload.num_requests,
        model_names=list(workload.model_names),
        arrivals=pack_arrivals(workload.arrivals_s, workload.model_ids),
        meta=dict(workload.meta),
        windows=window_rows(workload, window_s),
    )
    session.add(row)
    session.flush()
    return row


def workload_value(row: Workload) -> domain.Workload:
    """The domain value of a stored workload."""
    arrivals_s, model_ids = unpack_arrivals(row.arrivals)
    return domain.Workload(arrivals_s, model_ids, tuple(row.model_names), row.duration_s, row.meta)


def arrivals_file(session: Session, workload_id: int) -> BlobFile:
    """A stored workload's arrivals blob (:mod:`store.blobs`) as a seekable
    file that reads from the database only what is asked; read it
    :data:`READ_BYTES` at a time."""
    return BlobFile(session, Workload.arrivals, Workload.id == workload_id)


def window_rows(workload: domain.Workload, window_s: float) -> list[WorkloadWindow]:
    """One row per window of ``window_s`` seconds (the last may be shorter):
    each model's rate (req/s) and inter-arrival CV (None where
    :func:`planner.workloads.window_stats` has NaN: too few arrivals)."""
    return [
        WorkloadWindow(
            index=stats.index,
            start_s=stats.start_s,
            end_s=stats.start_s + stats.duration_s,
            rates_rps=dict(zip(stats.model_names, stats.rate_rps, strict=True)),
            cv={
                name: None if math.isnan(cv) else cv
                for name, cv in zip(stats.model_names, stats.cv, strict=True)
            },
        )
        for stats in window_stats(workload, window_s)
    ]
