"""The pure arithmetic of the cost-model fidelity benchmark: the link fit,
the calibrated device model, the baselines and the error summary, on
synthetic timings with hand-computed answers."""

from __future__ import annotations

import pytest

from bench.autoparallel_fidelity import (
    ALL_REDUCE,
    SEND,
    Calibration,
    LinkSample,
    StageRow,
    error_summary,
    fit_link,
    relative_error,
)
from planner.autoparallel import DeviceModel
from planner.domain import ParallelConfig

ALPHA_S = 50e-6
BW = 2e9


def exact_samples() -> list[LinkSample]:
    """Timings that follow the link model exactly for ALPHA_S and BW."""
    device = DeviceModel(intra_latency_s=ALPHA_S, intra_bw_bytes_per_s=BW)
    samples = [LinkSample(SEND, 2, b, device.send_s(b, inter_node=False)) for b in (1e5, 4e5)]
    samples += [
        LinkSample(ALL_REDUCE, n, b, device.all_reduce_s(b, n)) for n in (2, 4) for b in (1e5, 4e5)
    ]
    return samples


def test_fit_link_recovers_the_latency_and_bandwidth_of_exact_timings() -> None:
    latency_s, bw = fit_link(exact_samples())
    assert latency_s == pytest.approx(ALPHA_S, rel=1e-9)
    assert bw == pytest.approx(BW, rel=1e-9)


def test_all_reduce_terms_follow_the_ring_formula() -> None:
    # n = 4: 2 (n - 1) = 6 latencies, 2 (n - 1) / n = 1.5 buffers.
    assert LinkSample(ALL_REDUCE, 4, 1000.0, 1.0).terms() == (6.0, 1500.0)
    assert LinkSample(SEND, 2, 1000.0, 1.0).terms() == (1.0, 1000.0)


def test_fit_link_clamps_a_negative_latency_and_refits_through_the_origin() -> None:
    # Free fit: slope 1.2e-9 s/B, intercept -0.2 ms. Through the origin:
    # (1e6 * 1e-3 + 2e6 * 2.2e-3) / (1e12 + 4e12) = 1.08e-9 s/B.
    samples = [LinkSample(SEND, 2, 1e6, 1e-3), LinkSample(SEND, 2, 2e6, 2.2e-3)]
    latency_s, bw = fit_link(samples)
    assert latency_s == 0.0
    assert bw == pytest.approx(1 / 1.08e-9)


def test_fit_link_needs_two_byte_counts() -> None:
    with pytest.raises(ValueError, match=r"^samples: need at least two different byte counts"):
        fit_link([LinkSample(SEND, 2, 1e6, 1e-3), LinkSample(ALL_REDUCE, 2, 1e6, 3e-3)])


def test_fit_link_rejects_timings_that_shrink_with_size() -> None:
    with pytest.raises(ValueError, match=r"^samples: fitted seconds per byte"):
        fit_link([LinkSample(SEND, 2, 1e6, 2e-3), LinkSample(SEND, 2, 2e6, 1e-3)])


@pytest.mark.parametrize(
    ("collective", "devices", "message"),
    [("gather", 2, r"^collective: "), (SEND, 1, r"^devices: must be >= 2")],
)
def test_link_sample_rejects_bad_fields(collective: str, devices: int, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        LinkSample(collective, devices, 1.0, 1.0)


def test_calibration_turns_micro_measurements_into_a_device_model() -> None:
    calibration = Calibration.from_measurements(
        (256, 256, 1024), 0.01, copy_bytes=1e9, copy_s=0.1, links=exact_samples()
    )
    # 2 * 256 * 256 * 1024 FLOPs in 10 ms; 1 GB read and written in 0.1 s.
    assert calibration.flops_per_s == pytest.approx(2 * 256 * 256 * 1024 / 0.01)
    assert calibration.mem_bw_bytes_per_s == pytest.approx(20e9)
    device = calibration.device()
    assert device.flops_per_s == pytest.approx(calibration.flops_per_s)
    assert device.efficiency == 1.0
    assert device.intra_latency_s == pytest.approx(ALPHA_S)
    assert device.inter_bw_bytes_per_s == pytest.approx(BW)
    assert device.devices_per_node == 8


def row(config: ParallelConfig, predicted_s: float, measured_s: float) -> StageRow:
    return StageRow("m", config, 1, 0, predicted_s, measured_s, single_s=0.08)


def test_naive_baselines_divide_the_single_device_latency() -> None:
    stage = row(ParallelConfig(2, 4), 0.01, 0.02)
    assert stage.naive_s(scale_op=True) == pytest.approx(0.01)
    assert stage.naive_s(scale_op=False) == pytest.approx(0.02)


def test_relative_error_and_its_summary() -> None:
    assert relative_error(0.015, 0.01) == pytest.approx(0.5)
    with pytest.raises(ValueError, match=r"^measured: must be > 0"):
        relative_error(1.0, 0.0)
    # op2xpp1: naive T1/2 = 0.04, T1/1 = 0.08; op1xpp2: both 0.04.
    rows = [
        row(ParallelConfig(2, 1), 0.03, 0.05),  # model -40%, naive -20% / +60%
        row(ParallelConfig(1, 2), 0.05, 0.04),  # model +25%, naive 0% / 0%
        row(ParallelConfig(1, 2), 0.04, 0.05),  # model -20%, naive -20% / -20%
    ]
    summary = error_summary(rows)
    assert summary["cost model"] == pytest.approx((0.25, 0.4))
    assert summary["naive T1/(op*pp)"] == pytest.approx((0.2, 0.2))
    assert summary["naive T1/pp"] == pytest.approx((0.2, 0.6))
    with pytest.raises(ValueError, match=r"^rows: need at least one stage"):
        error_summary([])
