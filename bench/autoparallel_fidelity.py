"""Cost-model fidelity: per-stage latency predicted by
:func:`planner.autoparallel.plan_parallel` against the latency measured by
real forward passes on CPU-emulated devices, for a small BERT and a small
MoE under every ``(op, pp)`` in ``{1, 2, 4} x {1, 2, 4}`` that fits 8
devices, at batch sizes 1 and 4.

1. Calibration (this run, this machine): achieved FLOP/s of one matmul of
   the model's MLP size (``[4 s, h] x [h, f]``) on one device; memory
   bandwidth from an in-place elementwise pass over a large buffer (read
   and written once: ``2 x bytes / s``; the buffer is donated so that no
   fresh pages are touched, which would time the allocator); the link
   ``alpha`` and bandwidth fitted by least squares to device-to-device
   sends (``alpha + B / bw``) and ring all-reduces over 2 and 4 devices
   (``2 (n - 1) alpha + 2 (n - 1) / n B / bw``). They become a
   :class:`DeviceModel` (``efficiency`` 1: the FLOP/s is already achieved).
2. Prediction: ``plan_parallel(arch, config, device)``, whose stage split
   and sharding rules are chosen with that device model.
3. Measurement: that same plan loaded as a replica on the first ``op x pp``
   devices and warmed up the way the profiler and agents warm a model
   (:meth:`ModelRuntime.warm_up`: per stage, the median of timed runs of the
   padded batch). A measured stage includes moving its input onto its mesh;
   a predicted stage includes the hand-off to the next one.
4. Baselines, from the single-device latency ``T1(b)`` measured in the same
   run: *naive scaling* ``T1 / (op pp)`` per stage and *pipeline only*
   ``T1 / pp`` per stage.

The headline is the median and maximum ``|predicted / measured - 1|`` over
the stages of the configs with more than one device (where the baselines
are not simply the measurement itself), and the ratio of the cost model's
median error to each baseline's. No target was set: the figures are
reported as they are. The emulated devices share the host's cores, so an
``op``-way sharded stage cannot run faster than the host can compute: the
cost model, which assumes ``op`` independent devices, is expected to be
optimistic for ``op > 1`` on CPU.

Run ``python -m bench.autoparallel_fidelity [--quick]``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from functools import partial

import numpy as np

from api.commands.common import print_table
from api.commands.executor import ask_for_cpu_devices
from planner.autoparallel import Architecture, DeviceModel, ParallelPlan, plan_parallel
from planner.domain import ParallelConfig

DEVICE_COUNT = 8
DEGREES = (1, 2, 4)
BATCHES = (1, 4)
SEND = "send"
ALL_REDUCE = "all_reduce"

ask_for_cpu_devices(DEVICE_COUNT)


@dataclass(frozen=True)
class LinkSample:
    """One timed transfer: a ``"send"`` of ``nbytes`` between two devices, or
    a ring ``"all_reduce"`` of an ``nbytes`` buffer over ``devices``."""

    collective: str
    devices: int
    nbytes: float
    seconds: float

    def __post_init__(self) -> None:
        if self.collective not in (SEND, ALL_REDUCE):
            raise ValueError(
                f"collective: must be {SEND!r} or {ALL_REDUCE!r}, got {self.collective!r}"
            )
        if self.devices < 2:
            raise ValueError(f"devices: must be >= 2, got {self.devices}")
        if self.nbytes <= 0 or self.seconds <= 0:
            raise ValueError(f"nbytes/seconds: must be > 0, got {self.nbytes}, {self.seconds}")

    def terms(self) -> tuple[float, float]:
        """Coefficients of ``(alpha, 1 / bw)`` in the modelled time, as in
        :class:`DeviceModel` (send ``alpha + B / bw``; ring all-reduce
        ``2 (n - 1) alpha + 2 (n - 1) / n B / bw``)."""
        if self.collective == SEND:
            return 1.0, self.nbytes
        n = self.devices
        return 2.0 * (n - 1), 2.0 * (n - 1) / n * self.nbytes


def fit_link(samples: Sequence[LinkSample]) -> tuple[float, float]:
    """Least-squares ``(latency_s, bw_bytes_per_s)`` of the link model over
    ``samples``, with ``latency_s >= 0`` (refitted through the origin when
    the free fit makes it negative). Needs two samples of different byte
    counts; raises ValueError when the fitted bandwidth is not positive."""
    if len({s.nbytes for s in samples}) < 2:
        raise ValueError("samples: need at least two different byte counts to fit a link")
    terms = np.array([s.terms() for s in samples])
    seconds = np.array([s.seconds for s in samples])
    (alpha, inv_bw), *_ = np.linalg.lstsq(terms, seconds, rcond=None)
    if alpha < 0:
        alpha = 0.0
        inv_bw = float(terms[:, 1] @ seconds / (terms[:, 1] @ terms[:, 1]))
    if inv_bw <= 0:
        raise ValueError(f"samples: fitted seconds per byte {inv_bw:.3g} is not positive")
    return float(alpha), float(1.0 / inv_bw)


@dataclass(frozen=True)
class Calibration:
    """What one emulated CPU device achieves, measured in this run."""

    flops_per_s: float
    mem_bw_bytes_per_s: float
    link_latency_s: float
    link_bw_bytes_per_s: float

    @classmethod
    def from_measurements(
        cls,
        matmul_shape: tuple[int, int, int],
        matmul_s: float,
        copy_bytes: float,
        copy_s: float,
        links: Sequence[LinkSample],
    ) -> Calibration:
        """From a ``[m, k] x [k, n]`` matmul (``2 m k n`` FLOPs) taking
        ``matmul_s``, an elementwise pass over ``copy_bytes`` (read once,
        written once) taking ``copy_s``, and timed transfers (:func:`fit_link`)."""
        m, k, n = matmul_shape
        latency_s, bw = fit_link(links)
        return cls(2.0 * m * k * n / matmul_s, 2.0 * copy_bytes / copy_s, latency_s, bw)

    def device(self) -> DeviceModel:
        """The device model: peak = achieved FLOP/s (efficiency 1), the link
        inside and between nodes alike, all emulated devices in one node."""
        return DeviceModel(
            peak_flops=self.flops_per_s,
            efficiency=1.0,
            mem_bw_bytes_per_s=self.mem_bw_bytes_per_s,
            intra_bw_bytes_per_s=self.link_bw_bytes_per_s,
            intra_latency_s=self.link_latency_s,
            inter_bw_bytes_per_s=self.link_bw_bytes_per_s,
            inter_latency_s=self.link_latency_s,
            devices_per_node=DEVICE_COUNT,
        )


@dataclass(frozen=True)
class StageRow:
    """One stage of one config at one batch size: cost-model prediction,
    measurement and the single-device latency ``single_s`` of the batch."""

    model: str
    config: ParallelConfig
    batch: int
    stage: int
    predicted_s: float
    measured_s: float
    single_s: float

    def naive_s(self, scale_op: bool) -> float:
        """Baseline stage latency: ``single_s / (op pp)`` (naive scaling) or
        ``single_s / pp`` (pipeline only)."""
        return self.single_s / (self.config.pp * (self.config.op if scale_op else 1))


def relative_error(predicted: float, measured: float) -> float:
    """``predicted / measured - 1`` (positive: the prediction is too slow)."""
    if measured <= 0:
        raise ValueError(f"measured: must be > 0, got {measured}")
    return predicted / measured - 1.0


PREDICTORS: dict[str, Callable[[StageRow], float]] = {
    "cost model": lambda row: row.predicted_s,
    "naive T1/(op*pp)": lambda row: row.naive_s(scale_op=True),
    "naive T1/pp": lambda row: row.naive_s(scale_op=False),
}


def error_summary(rows: Iterable[StageRow]) -> dict[str, tuple[float, float]]:
    """Per predictor of :data:`PREDICTORS`: (median, max) of ``|relative
    error|`` over ``rows``."""
    rows = list(rows)
    if not rows:
        raise ValueError("rows: need at least one stage")
    summary = {}
    for name, predict in PREDICTORS.items():
        errors = [abs(relative_error(predict(row), row.measured_s)) for row in rows]
        summary[name] = (statistics.median(errors), max(errors))
    return summary


# --- measurements (JAX) ---------------------------------------------------


def median_s(run: Callable[[], object], repeats: int) -> float:
    """Median seconds of ``run()`` (waited for) after one untimed call."""
    import jax

    jax.block_until_ready(run())
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        jax.block_until_ready(run())
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def calibrate(arch: Architecture, repeats: int, copy_bytes: int) -> Calibration:
    """Micro-measurements on the emulated devices (module docstring, step 1)."""
    import jax
    import jax.numpy as jnp
    from jax.sharding import Mesh, PartitionSpec

    devices = jax.devices()
    rng = np.random.default_rng(0)
    shape = (max(BATCHES) * arch.seq_len, arch.hidden, arch.ffn)
    x = jax.device_put(rng.standard_normal(shape[:2], np.float32), devices[0])
    w = jax.device_put(rng.standard_normal(shape[1:], np.float32), devices[0])
    matmul = jax.jit(jnp.matmul)
    matmul_s = median_s(partial(matmul, x, w), repeats)
    buffer = [jax.device_put(np.ones(copy_bytes // 4, np.float32), devices[0])]
    bump = jax.jit(lambda a: a + 1.0, donate_argnums=0)

    def bump_in_place() -> jax.Array:
        buffer[0] = bump(buffer[0])
        return buffer[0]

    copy_s = median_s(bump_in_place, repeats)
    links = []
    for batch in BATCHES:
        elements = batch * arch.seq_len * arch.hidden
        nbytes = 4.0 * elements
        local = jax.device_put(np.ones(elements, np.float32), devices[0])
        seconds = median_s(partial(jax.device_put, local, devices[1]), repeats)
        links.append(LinkSample(SEND, 2, nbytes, seconds))
        for n in (2, 4):
            mesh = Mesh(np.array(devices[:n]), ("op",))
            spec = PartitionSpec("op")
            reduce = jax.jit(
                jax.shard_map(
                    lambda b: jax.lax.psum(b, "op"), mesh=mesh, in_specs=spec, out_specs=spec
                )
            )
            sharded = jax.device_put(
                np.ones((n, elements), np.float32), jax.NamedSharding(mesh, spec)
            )
            seconds = median_s(partial(reduce, sharded), repeats)
            links.append(LinkSample(ALL_REDUCE, n, nbytes, seconds))
    return Calibration.from_measurements(shape, matmul_s, copy_bytes, copy_s, links)


def measure_plan(plan: ParallelPlan, repeats: int) -> dict[int, tuple[float, ...]]:
    """Per-stage seconds of ``plan`` at each of :data:`BATCHES`, loaded on
    the first ``op x pp`` devices and timed as the profiler times a model."""
    import jax

    from executor.replica import Replica, model_seed
    from executor.runtime import ModelRuntime
    from executor.sharding import stage_meshes

    config = plan.config
    meshes = stage_meshes(jax.devices()[: config.size], config)
    replica = Replica(plan, meshes, model_seed(plan.arch.name))
    runtime = ModelRuntime(plan.arch.name, replica, max(BATCHES), slo_s=1.0)
    runtime.warm_up(repeats)
    return {b: tuple(runtime.latency_s(b)) for b in BATCHES}


def layout(plan: ParallelPlan) -> str:
    """Stage ranges and split axes, e.g. ``"[0,3)[3,5) heads+mlp"``."""
    ranges = "".join(f"[{s.start},{s.end})" for s in plan.stages)
    return f"{ranges} {'+'.join(plan.rules.sharded) or 'replicated'}"


def configs(device_count: int) -> list[ParallelConfig]:
    """Every ``(op, pp)`` of :data:`DEGREES` with ``op x pp <= device_count``."""
    return [ParallelConfig(op, pp) for op in DEGREES for pp in DEGREES if op * pp <= device_count]


def run_model(
    arch: Architecture, device: DeviceModel, repeats: int, device_count: int
) -> tuple[list[StageRow], list[str]]:
    """Every config of ``arch``: the stage rows and notes on layouts the
    profiler (which plans with the default GPU device model) would run
    differently."""
    measured: dict[ParallelConfig, dict[int, tuple[float, ...]]] = {}
    plans: dict[ParallelConfig, ParallelPlan] = {}
    notes = []
    for config in configs(device_count):
        plan = plan_parallel(arch, config, device, max_batch=max(BATCHES))
        gpu_plan = plan_parallel(arch, config, max_batch=max(BATCHES))
        if layout(gpu_plan) != layout(plan):
            notes.append(
                f"{arch.name} {config}: CPU model plans {layout(plan)}, "
                f"the GPU model {layout(gpu_plan)}"
            )
        started = time.perf_counter()
        plans[config], measured[config] = plan, measure_plan(plan, repeats)
        print(
            f"  {arch.name} {config}: measured in {time.perf_counter() - started:.1f} s", flush=True
        )
    single = {b: sum(measured[ParallelConfig(1, 1)][b]) for b in BATCHES}
    rows = [
        StageRow(arch.name, config, b, k, stage.latency_s[b - 1], measured[config][b][k], single[b])
        for config, plan in plans.items()
        for b in BATCHES
        for k, stage in enumerate(plan.stages)
    ]
    return rows, notes


def architectures(quick: bool) -> tuple[Architecture, Architecture]:
    """The small BERT and MoE: hidden 256 / seq 64 (quick) or hidden 512 /
    seq 128, four blocks, fp32, vocab 1024 (divisible by 1, 2 and 4)."""
    hidden, heads, seq = (256, 4, 64) if quick else (512, 8, 128)
    bert = Architecture(
        "bert", 4, hidden, heads, vocab=1024, seq_len=seq, dtype_bytes=4, name=f"bert-h{hidden}"
    )
    return bert, replace(bert, family="moe", num_experts=4, top_k=2, name=f"moe-h{hidden}")


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="bench.autoparallel_fidelity")
    parser.add_argument("--quick", action="store_true", help="smaller models, fewer repeats")
    args = parser.parse_args(argv)
    import jax

    device_count = min(DEVICE_COUNT, len(jax.devices()))
    repeats = 2 if args.quick else 5
    bert, moe = architectures(args.quick)
    print(
        f"{device_count} emulated {jax.devices()[0].platform} devices sharing "
        f"{os.cpu_count()} host cores; configs op x pp <= {device_count}, batches {BATCHES}"
    )
    calibration = calibrate(bert, repeats=10, copy_bytes=(64 if args.quick else 256) << 20)
    device = calibration.device()
    print(
        f"calibrated: {calibration.flops_per_s / 1e9:.1f} GFLOP/s (one matmul "
        f"{max(BATCHES) * bert.seq_len}x{bert.hidden}x{bert.ffn}), memory "
        f"{calibration.mem_bw_bytes_per_s / 1e9:.1f} GB/s, link alpha "
        f"{calibration.link_latency_s * 1e6:.1f} us, {calibration.link_bw_bytes_per_s / 1e9:.2f} GB/s"
    )
    rows, notes = [], []
    for arch in (bert, moe):
        model_rows, model_notes = run_model(arch, device, repeats, device_count)
        rows += model_rows
        notes += model_notes
    print_table(
        "per-stage latency (ms) and relative error (predicted / measured - 1)",
        ["model", "config", "batch", "stage", "predicted", "measured", "err", "err T1/(op*pp)"],
        [
            [
                r.model,
                str(r.config),
                r.batch,
                r.stage,
                f"{r.predicted_s * 1e3:.2f}",
                f"{r.measured_s * 1e3:.2f}",
                f"{relative_error(r.predicted_s, r.measured_s):+.0%}",
                f"{relative_error(r.naive_s(scale_op=True), r.measured_s):+.0%}",
            ]
            for r in rows
        ],
    )
    for note in notes:
        print(f"note: {note}")
    print_headline(rows)


def print_headline(rows: Sequence[StageRow]) -> None:
    """Median/max |error| per predictor on all stages, on ``op = 1`` and on
    ``op > 1`` (configs of more than one device only)."""
    multi = [r for r in rows if r.config.size > 1]
    subsets = {
        "all multi-device": multi,
        "op = 1 (pipeline only)": [r for r in multi if r.config.op == 1],
        "op > 1 (sharded)": [r for r in multi if r.config.op > 1],
    }
    for title, subset in subsets.items():
        if not subset:
            continue
        summary = error_summary(subset)
        figures = ", ".join(
            f"{name} {median:.0%} / {worst:.0%}" for name, (median, worst) in summary.items()
        )
        model_median = summary["cost model"][0]
        ratios = ", ".join(
            f"vs {name} {model_median / median:.2f}"
            for name, (median, _) in summary.items()
            if name != "cost model"
        )
        print(f"{title} ({len(subset)} stages): median / max |error|: {figures}")
        print(f"  cost model median error ratio (< 1: the model beats the baseline): {ratios}")
    print(
        "single-device (op1xpp1) |error| of the cost model: "
        + ", ".join(
            f"{r.model} b{r.batch} {abs(relative_error(r.predicted_s, r.measured_s)):.0%}"
            for r in rows
            if r.config.size == 1
        )
    )
    print(
        "note: the emulated devices share the host's cores, so op > 1 cannot run faster than "
        "one device using every core, while the cost model assumes op independent devices; "
        "errors for op > 1 measure that gap as much as the model."
    )


if __name__ == "__main__":
    main(sys.argv[1:])
