"""Replay a workload against an inference endpoint (a router or an agent),
open loop: request ``i`` is sent at ``arrivals_s[i]`` after the start
whatever happened to the earlier ones, and its latency is measured by the
client, from its send time to the end of the answer.

A request *attains* its SLO when it is answered 200 within ``slo_s``;
attainment is the fraction of requests that do (1.0 for none). An answer
carries the agent's own ``timings`` (seconds queued and computing inside
it), kept beside the client's latency so that the HTTP hops can be told
apart from the serving.
"""

from __future__ import annotations

import json
import math
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

from planner.domain import Workload

TIMEOUT_S = 60.0


@dataclass(frozen=True)
class Sent:
    """What happened to one replayed request (``status`` 0: no answer);
    ``queue_s`` and ``compute_s`` are the agent's timings of a 200 (None
    otherwise)."""

    model: str
    arrival_s: float
    status: int
    latency_s: float
    slo_s: float
    queue_s: float | None = None
    compute_s: float | None = None

    @property
    def attained(self) -> bool:
        return self.status == 200 and self.latency_s <= self.slo_s


def post_answer(url: str, body: Mapping[str, object], key: str | None = None) -> tuple[int, bytes]:
    """POST (with ``Authorization: Bearer <key>`` when ``key`` is given) and
    read the answer; its HTTP status (0 when unreachable) and body."""
    headers = {"Content-Type": "application/json"}
    if key is not None:
        headers["Authorization"] = f"Bearer {key}"
    request = urllib.request.Request(url, json.dumps(body).encode(), headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT_S) as response:
            return int(response.status), response.read()
    except urllib.error.HTTPError as error:
        return int(error.code), error.read()
    except OSError:
        return 0, b""


def post_json(url: str, body: Mapping[str, object], key: str | None = None) -> int:
    """:func:`post_answer`'s status."""
    return post_answer(url, body, key)[0]


def agent_timings(status: int, answer: bytes) -> tuple[float | None, float | None]:
    """The agent's ``(queue_s, compute_s)`` from a 200 answer; Nones when
    there is none or it does not parse."""
    if status != 200:
        return None, None
    try:
        timings = json.loads(answer)["timings"]
        return float(timings["queue_s"]), float(timings["compute_s"])
    except (ValueError, KeyError, TypeError):
        return None, None


def replay(
    base_url: str,
    workload: Workload,
    slo_s: Mapping[str, float],
    *,
    rows: int = 1,
    max_workers: int = 64,
    key: str | None = None,
) -> list[Sent]:
    """Send every request of ``workload`` to ``{base_url}/v1/infer/<model>``
    (``rows`` random sequences each, presenting ``key`` if given) at its
    arrival time; results in arrival order."""
    results: list[Sent | None] = [None] * workload.num_requests
    lock = threading.Lock()

    def send(i: int, model: str, arrival_s: float) -> None:
        begin = time.perf_counter()
        status, answer = post_answer(
            f"{base_url.rstrip('/')}/v1/infer/{model}", {"num_sequences": rows, "seed": i}, key
        )
        latency_s = time.perf_counter() - begin
        sent = Sent(
            model, arrival_s, status, latency_s, slo_s[model], *agent_timings(status, answer)
        )
        with lock:
            results[i] = sent

    with ThreadPoolExecutor(max_workers) as pool:
        start = time.perf_counter()
        for i, (arrival, model_id) in enumerate(
            zip(workload.arrivals_s, workload.model_ids, strict=True)
        ):
            delay = start + float(arrival) - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            pool.submit(send, i, workload.model_names[model_id], float(arrival))
    return [sent for sent in results if sent is not None]


def attainment(sent: Sequence[Sent]) -> float:
    """Fraction of requests answered 200 within their SLO."""
    return sum(s.attained for s in sent) / len(sent) if sent else 1.0


def attainment_by_model(sent: Sequence[Sent]) -> dict[str, tuple[int, int]]:
    """Model → (requests sent, requests attained), models in name order."""
    counts: dict[str, tuple[int, int]] = {}
    for s in sorted(sent, key=lambda s: s.model):
        requests, attained = counts.get(s.model, (0, 0))
        counts[s.model] = (requests + 1, attained + s.attained)
    return counts


def window_counts(
    sent: Sequence[Sent], window_s: float, duration_s: float
) -> list[tuple[int, int]]:
    """Per arrival window ``[j * window_s, (j + 1) * window_s)``, ``ceil(duration_s
    / window_s)`` of them: (requests sent, requests attained). A request
    arriving at or after the last window's end counts in the last, as the
    simulator's :meth:`planner.sim.SimResult.per_window_attainment` does."""
    if not window_s > 0:
        raise ValueError(f"window_s: must be > 0, got {window_s}")
    count = max(1, math.ceil(duration_s / window_s))
    totals = [[0, 0] for _ in range(count)]
    for s in sent:
        j = min(int(s.arrival_s // window_s), count - 1)
        totals[j][0] += 1
        totals[j][1] += s.attained
    return [(requests, attained) for requests, attained in totals]


@dataclass(frozen=True)
class LatencyParts:
    """Where the client's time went, over the answered requests that carry
    the agent's timings: medians and 90th percentiles (s) of the agent's
    queueing, its compute, and the rest of the client's latency (the HTTP
    hops: client to router to agent and back)."""

    requests: int
    queue_p50_s: float
    compute_p50_s: float
    hops_p50_s: float
    queue_p90_s: float
    compute_p90_s: float
    hops_p90_s: float


def latency_parts(sent: Sequence[Sent]) -> LatencyParts | None:
    """:class:`LatencyParts` of ``sent``; None when no request carries timings."""
    timed = [s for s in sent if s.queue_s is not None and s.compute_s is not None]
    if not timed:
        return None
    queue = np.array([s.queue_s for s in timed], dtype=np.float64)
    compute = np.array([s.compute_s for s in timed], dtype=np.float64)
    hops = np.array([s.latency_s for s in timed], dtype=np.float64) - queue - compute
    p50, p90 = (
        [float(np.percentile(part, q)) for part in (queue, compute, hops)] for q in (50, 90)
    )
    return LatencyParts(len(timed), *p50, *p90)
