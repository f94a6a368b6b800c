"""Measured attainment per window of replayed requests, against counts by
hand, and the same windows as the simulator's."""

from __future__ import annotations

import pytest

from executor.replay import Sent, window_counts


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
