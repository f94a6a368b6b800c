"""Observed traffic: ``/v1/clusters/{id}/traffic``. Routers and agents
report per-model request counts in fixed bins, idempotently (a bin is
stored once; repeating it with the same count changes nothing); readers get
them summed over sources in windows. Bins older than
``TRAFFIC_RETENTION_S`` are pruned whenever a report stores new bins."""

from __future__ import annotations

import math
import time
from typing import Annotated, Any

from flask import Blueprint, Response, current_app
from pydantic import Field

from api.auth import Permission
from api.database import session
from api.errors import invalid
from api.fields import INTEGRAL, Count, StoredText
from api.routing import Body, Out, Query, found, operation, reply
from store.models import Cluster
from store.repositories import catalog, traffic

bp = Blueprint("traffic", __name__)

UNIX_MAX = 2**40
"""Bin starts (unix s) beyond this are refused (about 34,800 years)."""

BinSeconds = Annotated[int, Field(ge=1, le=3600), INTEGRAL]
WindowSeconds = Annotated[int, Field(ge=1, le=86400), INTEGRAL]
UnixSeconds = Annotated[int, Field(ge=0, le=UNIX_MAX), INTEGRAL]
Bins = Annotated[list[Count], Field(min_length=1, max_length=3600)]


class TrafficIn(Body):
    source: StoredText = Field(min_length=1, max_length=128, description="who counted, e.g. router")
    bin_s: BinSeconds = Field(description="bin length (s)")
    start: UnixSeconds = Field(description="first bin's start (unix s), a multiple of bin_s")
    counts: dict[StoredText, Bins] = Field(
        min_length=1,
        description="per model of the catalog, requests in bins "
        "[start + i*bin_s, start + (i+1)*bin_s); every list the same length",
    )


class TrafficReportOut(Out):
    cluster_id: int
    source: str
    bin_s: int
    start: int
    end: int = Field(description="end of the last bin (unix s)")
    stored: int = Field(description="bins stored by this report")
    repeated: int = Field(description="bins already stored with the same counts")


class TrafficQuery(Query):
    since: UnixSeconds | None = Field(
        None, description="first window's start (unix s); default: 10 windows ago"
    )
    window_s: WindowSeconds = Field(60, description="window length (s)")


class TrafficWindowOut(Out):
    start: int
    end: int
    requests: dict[str, int] = Field(description="per model, summed over sources")
    rates_rps: dict[str, float] = Field(
        description="per model, requests / s over the window's elapsed part"
    )


class TrafficOut(Out):
    cluster_id: int
    since: int
    window_s: int
    windows: list[TrafficWindowOut]


def _check(body: TrafficIn, now_s: float) -> None:
    """422 naming the field of a report that cannot be stored."""
    lengths = {len(series) for series in body.counts.values()}
    if len(lengths) > 1:
        first = len(next(iter(body.counts.values())))
        name = next(n for n, series in body.counts.items() if len(series) != first)
        raise invalid(f"counts.{name}", f"has {len(body.counts[name])} bins, the first {first}")
    if body.start % body.bin_s:
        raise invalid("start", f"must be a multiple of bin_s={body.bin_s}, got {body.start}")
    end = body.start + lengths.pop() * body.bin_s
    leeway_s = float(current_app.config["TRAFFIC_LEEWAY_S"])
    if end > now_s + leeway_s:
        raise invalid(
            "start",
            f"the bins end at {end}, in the future (now {math.floor(now_s)}, leeway {leeway_s:g} s)",
        )
    known = catalog.models_named(session(), list(body.counts))
    for name in body.counts:
        if name not in known:
            raise invalid(f"counts.{name}", f"unknown model {name!r}")


@operation(
    bp,
    "/clusters/<int:cluster_id>/traffic",
    "POST",
    summary="Report observed requests per model in bins (201 new bins; 200 all already stored)",
    permission=Permission.EXECUTE,
    body=TrafficIn,
    response=TrafficReportOut,
    status=201,
    alternatives={200: TrafficReportOut},
    errors=(409,),
)
def report_traffic(cluster_id: int, body: TrafficIn) -> Response:
    db = session()
    found(db, Cluster, cluster_id, "cluster")
    now_s = time.time()
    _check(body, now_s)
    stored, conflict = traffic.store_report(
        db, cluster_id, body.source, body.bin_s, body.start, body.counts
    )
    if conflict is not None:
        db.rollback()
        raise invalid(
            f"counts.{conflict.model}[{conflict.index}]",
            f"bin {body.start + conflict.index * body.bin_s} is stored with "
            f"{conflict.stored} requests, reported {conflict.reported}",
            status=409,
        )
    if stored:  # a repeated report changes nothing, not even the retained bins
        retention_s = float(current_app.config["TRAFFIC_RETENTION_S"])
        traffic.prune(db, cluster_id, math.floor(now_s - retention_s))
    db.commit()
    bins = sum(len(series) for series in body.counts.values())
    length = len(next(iter(body.counts.values())))
    out = {
        "cluster_id": cluster_id,
        "source": body.source,
        "bin_s": body.bin_s,
        "start": body.start,
        "end": body.start + length * body.bin_s,
        "stored": stored,
        "repeated": bins - stored,
    }
    return reply(out, 201 if stored else 200)


def traffic_windows(cluster_id: int, since: int, window_s: int, now_s: float) -> list[Any]:
    """The cluster's observed traffic in windows from ``since`` up to now."""
    windows = max(1, math.ceil((now_s - since) / window_s))
    counts = traffic.window_counts(session(), cluster_id, since, window_s, windows)
    out = []
    for w in range(windows):
        start = since + w * window_s
        elapsed_s = max(1.0, min(float(window_s), now_s - start))
        requests = {name: series[w] for name, series in counts.items()}
        rates = {name: count / elapsed_s for name, count in requests.items()}
        out.append(
            {"start": start, "end": start + window_s, "requests": requests, "rates_rps": rates}
        )
    return out


@operation(
    bp,
    "/clusters/<int:cluster_id>/traffic",
    "GET",
    summary="Observed requests per model in windows, summed over sources",
    permission=Permission.READ,
    query=TrafficQuery,
    response=TrafficOut,
)
def get_traffic(cluster_id: int, query: TrafficQuery) -> Response:
    found(session(), Cluster, cluster_id, "cluster")
    now_s = time.time()
    window_s = query.window_s
    since = query.since
    if since is None:
        since = (math.floor(now_s) // window_s - 9) * window_s
    if since > now_s:
        raise invalid("query.since", f"must not be in the future (now {math.floor(now_s)})")
    limit = int(current_app.config["MAX_WINDOWS"])
    if (now_s - since) / window_s > limit:
        raise invalid(
            "query.window_s", f"gives more than MAX_WINDOWS={limit} windows since {since}"
        )
    body = {
        "cluster_id": cluster_id,
        "since": since,
        "window_s": window_s,
        "windows": traffic_windows(cluster_id, since, window_s, now_s),
    }
    return reply(body)
