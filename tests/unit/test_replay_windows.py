"""Measured attainment per window of replayed requests, against counts by
hand, and the same windows as the simulator's."""

from __future__ import annotations

import pytest

from executor.replay import Sent, agent_timings, latency_parts, window_counts


def sent(arrival_s: float, status: int = 200, latency_s: float = 0.1) -> Sent:
    return Sent("m", arrival_s, status, latency_s, slo_s=0.5)


def test_requests_count_in_their_arrival_window_and_attain_only_200_within_the_slo() -> None:
    requests = [
        sent(0.0),  # window 0: attained
        sent(9.99, latency_s=0.6),  # window 0: late
        sent(10.0),  # window 1: attained
        sent(12.0, status=503),  # window 1: refused
        sent(15.0, status=0),  # window 1: no answer
        sent(19.5, latency_s=0.5),  # window 1: exactly the SLO, attained
        sent(31.0),  # window 3
    ]
    assert window_counts(requests, 10.0, 40.0) == [(2, 1), (4, 2), (0, 0), (1, 1)]


def test_a_partial_last_window_and_arrivals_past_the_end_count_in_the_last() -> None:
    assert window_counts([sent(24.0), sent(26.0, status=500)], 10.0, 25.0) == [
        (0, 0),
        (0, 0),
        (2, 1),
    ]
    assert window_counts([], 8.0, 8.0) == [(0, 0)]


def test_a_window_must_be_positive() -> None:
    with pytest.raises(ValueError, match="window_s"):
        window_counts([sent(1.0)], 0.0, 10.0)


def test_latency_parts_split_the_client_latency_by_the_agent_timings() -> None:
    requests = [
        Sent("m", 0.0, 200, 0.030, 0.5, queue_s=0.010, compute_s=0.005),  # hops 15 ms
        Sent("m", 1.0, 200, 0.020, 0.5, queue_s=0.000, compute_s=0.010),  # hops 10 ms
        Sent("m", 2.0, 200, 0.050, 0.5, queue_s=0.020, compute_s=0.015),  # hops 15 ms
        Sent("m", 3.0, 404, 0.002, 0.5),  # no timings: left out
    ]
    parts = latency_parts(requests)
    assert parts is not None and parts.requests == 3
    assert parts.queue_p50_s == pytest.approx(0.010)
    assert parts.compute_p50_s == pytest.approx(0.010)
    assert parts.hops_p50_s == pytest.approx(0.015)
    assert parts.queue_p90_s == pytest.approx(0.018)  # 0.010 + 0.8 * (0.020 - 0.010)
    assert latency_parts(requests[3:]) is None


def test_agent_timings_come_from_a_200_answer_only() -> None:
    body = b'{"timings": {"queue_s": 0.25, "compute_s": 0.5, "total_s": 0.75}}'
    assert agent_timings(200, body) == (0.25, 0.5)
    assert agent_timings(503, body) == (None, None)
    assert agent_timings(200, b"not json") == (None, None)
    assert agent_timings(200, b'{"timings": {}}') == (None, None)
