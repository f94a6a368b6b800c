"""End to end on loopback: API + job worker, profiler, two agents of 4
emulated devices, router, each its own process. A workload is posted,
solved and activated; its trace is replayed through the router; the
measured SLO attainment is reported next to the simulator's prediction for
the same plan and trace."""

from __future__ import annotations

import collections
from pathlib import Path

import pytest

from harness.loopback import Scenario, run_fidelity

# Tiny models (a few ms per batch) with SLOs far above the HTTP overhead of
# two shared cores; a load the plan can mostly serve.
SCENARIO = Scenario(
    rate_rps=6.0,
    cv=1.0,
    duration_s=8.0,
    slo_scale=50.0,
    agents=2,
    devices_per_agent=4,
    replicas_per_device=1,
    scale="tiny",
)


@pytest.mark.slow
def test_replayed_trace_attainment_is_reported_against_the_simulator(tmp_path: Path) -> None:
    result = run_fidelity(tmp_path, SCENARIO)
    print(f"measured {result.measured:.3f} simulated {result.simulated:.3f}")
    statuses = collections.Counter(sent.status for sent in result.sent)
    assert set(statuses) <= {200, 429}, statuses  # answered, or refused at once
    assert len(result.sent) == sum(statuses.values()) > 0
    served = {sent.model for sent in result.sent if sent.status == 200}
    assert served == set(SCENARIO.models) == result.placement.model_names
    assert result.simulated >= 0.9  # the plan fits this load
    assert abs(result.measured - result.simulated) <= 0.35
