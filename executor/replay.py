"""Replay a workload against an inference endpoint (a router or an agent),
open loop: request ``i`` is sent at ``arrivals_s[i]`` after the start
whatever happened to the earlier ones, and its latency is measured by the
client, from its send time to the end of the answer.

A request *attains* its SLO when it is answered 200 within ``slo_s``;
attainment is the fraction of requests that do (1.0 for none).
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

from planner.domain import Workload

TIMEOUT_S = 60.0


@dataclass(frozen=True)
class Sent:
    """What happened to one replayed request (``status`` 0: no answer)."""

    model: str
    arrival_s: float
    status: int
    latency_s: float
    slo_s: float

    @property
    def attained(self) -> bool:
        return self.status == 200 and self.latency_s <= self.slo_s


def post_json(url: str, body: Mapping[str, object], key: str | None = None) -> int:
    """POST (with ``Authorization: Bearer <key>`` when ``key`` is given) and
    read the answer; its HTTP status (0 when unreachable)."""
    headers = {"Content-Type": "application/json"}
    if key is not None:
        headers["Authorization"] = f"Bearer {key}"
    request = urllib.request.Request(url, json.dumps(body).encode(), headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT_S) as response:
            response.read()
            return int(response.status)
    except urllib.error.HTTPError as error:
        error.read()
        return int(error.code)
    except OSError:
        return 0


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
        status = post_json(
            f"{base_url.rstrip('/')}/v1/infer/{model}", {"num_sequences": rows, "seed": i}, key
        )
        sent = Sent(model, arrival_s, status, time.perf_counter() - begin, slo_s[model])
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


def window_counts(sent: Sequence[Sent], window_s: float, duration_s: float) -> list[tuple[int, int]]:
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
