"""Serving a stored workload's arrivals without building the workload or
holding its stored blob: the blob is read from the database a few MiB at a
time (:func:`store.repositories.workloads.arrivals_file`). The ``.npz``
workload file (:mod:`planner.files`) is the blob streamed as it is with the
workload's names, duration and meta appended; a JSON page decompresses the
stored arrays only up to its end and is written out a chunk at a time.
Memory is a read piece plus the page's arrays, never the whole arrays, nor
them as Python lists or one JSON text."""

from __future__ import annotations

import enum
import io
import json
from collections.abc import Iterator
from typing import Any

import numpy.typing as npt
from flask import Response, request, stream_with_context, url_for
from sqlalchemy.orm import Session

from api.errors import Problem, invalid
from planner.files import npz_header
from store.blobs import appended, arrivals_slice
from store.models import Workload
from store.repositories import workloads

NPZ_MEDIA = "application/x-npz"
JSON_MEDIA = "application/json"
CHUNK = 1 << 16
"""Numbers per piece of a streamed JSON page."""


class ArrivalsFormat(enum.StrEnum):
    JSON = "json"
    NPZ = "npz"


def chosen_format(requested: ArrivalsFormat | None) -> ArrivalsFormat:
    """``requested`` (the ``format`` query field), else what ``Accept``
    prefers, else JSON; 406 when ``Accept`` takes neither."""
    if requested is not None:
        return requested
    if not request.accept_mimetypes:
        return ArrivalsFormat.JSON
    media = request.accept_mimetypes.best_match((JSON_MEDIA, NPZ_MEDIA))
    if media is None:
        raise Problem(406, f"Accept: arrivals are served as {JSON_MEDIA} or {NPZ_MEDIA}")
    return ArrivalsFormat.NPZ if media == NPZ_MEDIA else ArrivalsFormat.JSON


def npz_file(session: Session, row: Workload) -> Response:
    """The workload as a ``.npz`` file that :func:`planner.files.load_workload`
    reads: the stored blob's members, streamed from the database as they
    are, then the names, duration and meta and the new central directory."""
    blob = workloads.arrivals_file(session, row.id)
    kept, tail = appended(blob, npz_header(row.model_names, row.duration_s, row.meta))

    def content() -> Iterator[bytes]:
        blob.seek(0)
        while blob.tell() < kept:
            yield blob.read(min(kept - blob.tell(), workloads.READ_BYTES))
        yield tail

    headers = {
        "Content-Disposition": f'attachment; filename="workload-{row.id}.npz"',
        "Content-Length": str(kept + len(tail)),
        "Vary": "Accept",
    }
    return Response(stream_with_context(content()), mimetype=NPZ_MEDIA, headers=headers)


def json_page(session: Session, row: Workload, offset: int, limit: int) -> Response:
    """Arrivals ``[offset, offset + limit)`` with the workload's names,
    duration and meta, its request count and the ``next`` page's link,
    streamed (the JSON text is made :data:`CHUNK` numbers at a time); 422
    when ``offset`` is past the last arrival."""
    if offset and offset >= row.num_requests:
        raise invalid("offset", f"past the last of the {row.num_requests} arrivals")
    blob = io.BufferedReader(workloads.arrivals_file(session, row.id), workloads.READ_BYTES)
    arrivals, ids = arrivals_slice(blob, offset, offset + limit)
    stop = offset + arrivals.size
    link = None
    if stop < row.num_requests:
        link = url_for("workloads.get_arrivals", workload_id=row.id, offset=stop, limit=limit)
    head = {
        "model_names": row.model_names,
        "duration_s": row.duration_s,
        "meta": row.meta,
        "num_requests": row.num_requests,
        "offset": offset,
    }

    def text() -> Iterator[str]:
        yield _compact(head)[:-1] + ',"arrivals_s":['
        yield from _items(arrivals)
        yield '],"model_ids":['
        yield from _items(ids)
        yield f'],"next":{_compact(link)}}}'

    headers = {"Vary": "Accept", **({"Link": f'<{link}>; rel="next"'} if link else {})}
    return Response(text(), mimetype=JSON_MEDIA, headers=headers)


def _compact(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"))


def _items(values: npt.NDArray[Any]) -> Iterator[str]:
    """The items of ``values`` as a JSON array's, :data:`CHUNK` at a time."""
    for start in range(0, values.size, CHUNK):
        items = _compact(values[start : start + CHUNK].tolist())[1:-1]
        yield items if start == 0 else "," + items
