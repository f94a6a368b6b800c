"""Traffic counting and reporting: arrivals land in the bins of their unix
second, only completed bins are reported, batched and cut at ``max_bins``;
reports wait while the API is down (oldest dropped beyond the bound), a
refused one is dropped, the reporter stops at once; the body travels to
``POST /v1/clusters/{id}/traffic`` as the API expects it."""

from __future__ import annotations

import http.server
import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from executor.api_client import ApiClient, ApiError, ApiUnavailable
from executor.traffic import TrafficCounter, TrafficReport, TrafficReporter
from tests.loopback_http import http_server


class Clock:
    """Unix seconds set by hand."""

    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def arrive(counter: TrafficCounter, clock: Clock, at: float, model: str, times: int = 1) -> None:
    clock.now = at
    for _ in range(times):
        counter.count(model)


def test_arrivals_are_binned_by_unix_second_and_only_completed_bins_reported() -> None:
    clock = Clock(1000.2)
    counter = TrafficCounter("r", 2, clock=clock)  # bins [1000, 1002), [1002, 1004), ...
    arrive(counter, clock, 1000.5, "a", 3)
    arrive(counter, clock, 1001.99, "b")
    arrive(counter, clock, 1005.0, "a", 2)  # bin [1004, 1006), open until 1006
    arrive(counter, clock, 1005.9, "b")
    assert counter.take_completed() == [
        TrafficReport("r", 2, 1000, {"a": (3, 0), "b": (1, 0)})  # [1002, 1004) had none
    ]
    assert counter.take_completed() == []  # nothing new has ended
    arrive(counter, clock, 1006.0, "c")
    report = counter.take_completed()
    assert report == [TrafficReport("r", 2, 1004, {"a": (2,), "b": (1,)})]
    assert report[0].to_json() == {
        "source": "r",
        "bin_s": 2,
        "start": 1004,
        "counts": {"a": [2], "b": [1]},
    }
    clock.now = 1012.0  # [1006, 1008) holds c; [1008, 1012) nothing
    assert counter.take_completed() == [TrafficReport("r", 2, 1006, {"c": (1, 0, 0)})]


def test_long_ranges_are_cut_and_empty_pieces_not_reported() -> None:
    clock = Clock(0.0)
    counter = TrafficCounter("r", 1, max_bins=3, clock=clock)
    arrive(counter, clock, 0.5, "a")
    arrive(counter, clock, 7.5, "a", 2)
    arrive(counter, clock, 8.1, "b")
    clock.now = 9.0  # bins 0..8 ended: pieces [0, 3) [3, 6) [6, 9)
    assert counter.take_completed() == [
        TrafficReport("r", 1, 0, {"a": (1, 0, 0)}),
        TrafficReport("r", 1, 6, {"a": (0, 2, 0), "b": (0, 0, 1)}),
    ]


def test_counts_from_many_threads_add_up() -> None:
    clock = Clock(50.5)
    counter = TrafficCounter("r", clock=clock)

    def thousand() -> None:
        for _ in range(1000):
            counter.count("m")

    threads = [threading.Thread(target=thousand) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    clock.now = 51.0
    assert counter.take_completed() == [TrafficReport("r", 1, 50, {"m": (8000,)})]


def test_bad_settings_are_refused() -> None:
    with pytest.raises(ValueError, match=r"^bin_s: must be in 1..3600, got 0"):
        TrafficCounter("r", 0)
    with pytest.raises(ValueError, match=r"^source: must have 1 to 128 characters, got 129"):
        TrafficCounter("r" * 129)
    with pytest.raises(ValueError, match=r"^every_s: must be positive"):
        TrafficReporter(TrafficCounter("r"), lambda body: None, every_s=0)


class Api:
    """A fake ``send``: down or refusing on demand, keeps what it accepted."""

    def __init__(self) -> None:
        self.down = False
        self.refuse: set[int] = set()
        self.accepted: list[dict[str, Any]] = []

    def __call__(self, body: dict[str, Any]) -> None:
        if self.down:
            raise ApiUnavailable("connection refused")
        if body["start"] in self.refuse:
            raise ApiError(422, "counts: bad")
        self.accepted.append(body)


def one_arrival_per_second(counter: TrafficCounter, clock: Clock, seconds: range) -> None:
    for second in seconds:
        arrive(counter, clock, second + 0.5, "m")
    clock.now = seconds.stop


def test_reports_wait_while_the_api_is_down_and_go_in_order_when_it_is_back() -> None:
    clock, api = Clock(10.0), Api()
    reporter = TrafficReporter(TrafficCounter("r", clock=clock), api, max_pending=3)
    api.down = True
    for start in (10, 12, 14):
        one_arrival_per_second(reporter.counter, clock, range(start, start + 2))
        assert not reporter.flush()
    assert [r.start for r in reporter.pending] == [10, 12, 14]
    one_arrival_per_second(reporter.counter, clock, range(16, 18))
    assert not reporter.flush()  # full: the oldest (from 10) makes room
    assert [r.start for r in reporter.pending] == [12, 14, 16] and reporter.dropped == 1
    api.down = False
    api.refuse = {14}
    assert reporter.flush()
    assert [(b["start"], b["counts"]) for b in api.accepted] == [
        (12, {"m": [1, 1]}),
        (16, {"m": [1, 1]}),
    ]
    assert not reporter.pending and (reporter.sent, reporter.dropped) == (2, 2)


def test_the_reporter_sends_every_round_and_stops_promptly() -> None:
    api = Api()
    counter = TrafficCounter("r")
    reporter = TrafficReporter(counter, api, every_s=0.05)
    reporter.start()
    counter.count("m")
    deadline = time.monotonic() + 10
    while not api.accepted and time.monotonic() < deadline:
        time.sleep(0.01)
    assert [sum(b["counts"]["m"]) for b in api.accepted] == [1]
    slow = TrafficReporter(TrafficCounter("r"), api, every_s=3600)
    slow.start()
    began = time.monotonic()
    slow.stop()
    reporter.stop()
    assert time.monotonic() - began < 0.5
    assert slow._thread is not None and not slow._thread.is_alive()


@contextmanager
def fake_api(statuses: list[int]) -> Iterator[tuple[str, list[tuple[str, str, Any]]]]:
    """An HTTP server answering each POST with the next of ``statuses``;
    yields its URL and (path, Authorization, body) of each request."""
    seen: list[tuple[str, str, Any]] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            seen.append((self.path, self.headers["Authorization"], body))
            status = statuses.pop(0)
            answer = json.dumps({"status": status}).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)

        def log_message(self, *args: Any) -> None:
            pass

    with http_server(Handler) as url:
        yield url, seen


def test_reports_reach_the_traffic_route_and_a_repeat_after_a_lost_answer_is_harmless() -> None:
    clock = Clock(100.0)
    with fake_api([503, 201, 200, 409]) as (url, seen):
        client = ApiClient(url, "k")
        reporter = TrafficReporter(
            TrafficCounter("router-1", clock=clock), lambda body: client.post_traffic(7, body)
        )
        arrive(reporter.counter, clock, 100.5, "bert", 2)
        arrive(reporter.counter, clock, 101.5, "moe")
        clock.now = 102.0
        assert not reporter.flush()  # 503: kept
        assert reporter.flush()  # 201: stored
        body = {
            "source": "router-1",
            "bin_s": 1,
            "start": 100,
            "counts": {"bert": [2, 0], "moe": [0, 1]},
        }
        assert seen == [("/v1/clusters/7/traffic", "Bearer k", body)] * 2
        client.post_traffic(7, body)  # the same report again: 200
        with pytest.raises(ApiError) as conflict:
            client.post_traffic(7, {**body, "counts": {"bert": [3, 0]}})
        assert conflict.value.status == 409
