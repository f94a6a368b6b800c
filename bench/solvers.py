"""Do the exact solvers earn their place? Every solver on a suite of
AlpaServe-shaped instances, scored by the simulator, next to the certified
upper bound on any static placement (:func:`planner.placement.bound.static_bound`).

Instances (24; ``--quick`` takes 8 of them with shorter limits): S1 (64 ×
BERT-1.3B), S2 (8 × BERT-6.7B), S3 (16 mixed BERT/MoE) and a mixed set (the
S3 architectures with SLOs of 1.5, 2.5, 5 and 10 × their reference latency,
model by model) on 4 to 64 devices of 20 GB, nodes of 4 or 8 devices;
Gamma arrivals of CV 1 or 4, uniform or Zipf(1.2) popularity, the total
rate :data:`LOAD` × the devices' single-device throughput.

Solvers: greedy (fast, full and lazy variants), CP-SAT, MILP (CBC and HiGHS),
``auto``, and any solver of :data:`planner.placement.solve.SOLVERS` this
file does not name (a new solver joins by itself). Each gets
:data:`TIME_LIMIT_S` (``--quick``: :data:`QUICK_TIME_LIMIT_S`); its wall
time is that of the whole ``solve`` call (the bound included).

Per instance the verdict says whether an exact method beat the best greedy
by at least 1 point of simulated attainment (``exact +X``), or the bound
certifies the best greedy within 1 point (``greedy certified``), or neither
(``open``), and each non-greedy solver's instances below the best greedy.
Then ``auto`` against the default greedy on 64 models × 32 devices, timed
back to back ``--repeats`` times (target: within 1.5× when auto cannot
improve). Results go to ``bench/results/solvers.json`` (a run of one
``--part`` keeps the other part's last results).

Run: ``python -m bench.solvers [--quick] [--limit S] [--part all|suite|auto] [--repeats N]``.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from planner.deadline import Deadline
from planner.domain import Cluster, ModelSpec, Workload
from planner.placement.bound import static_bound
from planner.placement.options import split_options
from planner.placement.solution import InfeasibleError, SolveResult, SolveTimeoutError
from planner.placement.solve import SOLVERS, solve
from planner.profiles import model_set, reference_latency_s
from planner.sim import Instance
from planner.workloads import ProcessSpec, process_workload

MEMORY_BYTES = 20 * 10**9
LOAD = 0.8
ZIPF_EXPONENT = 1.2
DURATION_S = 10.0
TIME_LIMIT_S = 6.0
QUICK_TIME_LIMIT_S = 3.0
AUTO_LIMIT_S = 60.0
MIXED_SLO_SCALES = (1.5, 2.5, 5.0, 10.0)
RESULTS = Path(__file__).parent / "results" / "solvers.json"

KNOWN: dict[str, tuple[str, dict[str, Any]]] = {
    "greedy-fast": ("greedy", {"greedy_mode": "fast"}),
    "greedy-full": ("greedy", {"greedy_mode": "full"}),
    "greedy-lazy": ("greedy", {"greedy_mode": "lazy"}),
    "cpsat": ("cpsat", {}),
    "milp-cbc": ("milp", {"milp_backend": "cbc"}),
    "milp-highs": ("milp", {"milp_backend": "highs"}),
    "auto": ("auto", {}),
}
"""Report label → solver and its options."""

SKIPPED = {"greedy", "milp", "sr"}
"""Solvers of :data:`SOLVERS` covered by a label above or not a contender."""

GREEDY = ("greedy-fast", "greedy-full", "greedy-lazy")


def labels() -> dict[str, tuple[str, dict[str, Any]]]:
    """Every label to run: :data:`KNOWN` and the solvers this file does not know."""
    extra: dict[str, tuple[str, dict[str, Any]]] = {
        s: (s, {}) for s in SOLVERS if s not in SKIPPED and s not in KNOWN
    }
    return {**KNOWN, **extra}


@dataclass(frozen=True)
class Spec:
    """One instance of the suite."""

    models: str
    devices: int
    cv: float
    popularity: str
    node: int

    @property
    def name(self) -> str:
        return f"{self.models}/{self.devices}d/cv{self.cv:g}/{self.popularity}/n{self.node}"


def suite() -> list[Spec]:
    """The 24 instances: each (set, devices) with two of the four (CV,
    popularity) pairs, nodes of 8 for CV 1 and 4 for CV 4."""
    shapes = [
        ("s1", 8), ("s1", 32), ("s1", 64),
        ("s2", 4), ("s2", 8), ("s2", 16),
        ("s3", 4), ("s3", 16), ("s3", 32),
        ("mixed", 8), ("mixed", 16), ("mixed", 32),
    ]  # fmt: skip
    specs = []
    for i, (models, devices) in enumerate(shapes):
        pairs = ("uniform", "zipf") if i % 2 == 0 else ("zipf", "uniform")
        specs.append(Spec(models, devices, 1.0, pairs[0], 8))
        specs.append(Spec(models, devices, 4.0, pairs[1], 4))
    return specs


def quick_suite() -> list[Spec]:
    """8 of the 24: two per model set, small clusters."""
    keep = {("s1", 8), ("s2", 8), ("s3", 16), ("mixed", 8)}
    return [s for s in suite() if (s.models, s.devices) in keep]


def models_of(name: str) -> tuple[ModelSpec, ...]:
    """The model set of a spec (module docstring)."""
    if name != "mixed":
        return model_set(name, 2.5)
    return tuple(
        dataclasses.replace(
            m, name=f"mixed-{i:02d}", slo_s=m.slo_s * MIXED_SLO_SCALES[i % len(MIXED_SLO_SCALES)]
        )
        for i, m in enumerate(model_set("s3", 1.0))
    )


def traffic(models: Sequence[ModelSpec], spec: Spec, seed: int = 0) -> Workload:
    """Gamma arrivals at :data:`LOAD` of the devices' throughput."""
    ranks = np.arange(1, len(models) + 1, dtype=np.float64)
    shares = ranks**-ZIPF_EXPONENT if spec.popularity == "zipf" else np.ones(len(models))
    shares /= shares.sum()
    capacity_rps = spec.devices / float(np.mean([reference_latency_s(m.profile) for m in models]))
    specs = {
        m.name: ProcessSpec(float(LOAD * capacity_rps * share), spec.cv)
        for m, share in zip(models, shares, strict=True)
    }
    return process_workload(specs, DURATION_S, seed)


def instance_of(spec: Spec) -> Instance:
    models = models_of(spec.models)
    cluster = Cluster(spec.devices, MEMORY_BYTES, devices_per_node=spec.node)
    return Instance(cluster, models, traffic(models, spec))


def run(
    instance: Instance, solver: str, own: dict[str, Any], limit_s: float
) -> tuple[SolveResult | None, float, str]:
    """Solve; the result (None when no placement was found), the wall time
    of the call and the status."""
    _, options = split_options({"workers": 1, **own})
    start = time.perf_counter()
    try:
        result = solve(instance, solver=solver, deadline=Deadline.after(limit_s), options=options)
    except InfeasibleError:
        return None, time.perf_counter() - start, "infeasible"
    except SolveTimeoutError:
        return None, time.perf_counter() - start, "no_solution"
    except RuntimeError as error:  # a solver process that failed: recorded, the suite goes on
        print(f"    {solver} {own}: {error}", flush=True)
        return None, time.perf_counter() - start, "error"
    return result, time.perf_counter() - start, result.status


def verdict(rows: dict[str, dict[str, Any]], bound: float) -> str:
    """``exact +X``, ``greedy certified`` or ``open`` (module docstring)."""
    found = {k: r["attainment"] for k, r in rows.items() if r["attainment"] is not None}
    greedy = max((found[k] for k in GREEDY if k in found), default=0.0)
    exact = {k: v for k, v in found.items() if k not in GREEDY}
    best = max(exact, key=lambda k: exact[k], default=None)
    if best is not None and exact[best] - greedy >= 0.01:
        return f"exact +{100 * (exact[best] - greedy):.2f} ({best})"
    if bound - greedy <= 0.01:
        return "greedy certified"
    return "open"


def bench_instance(spec: Spec, limit_s: float) -> dict[str, Any]:
    instance = instance_of(spec)
    bound = static_bound(instance)
    rows: dict[str, dict[str, Any]] = {}
    for label, (solver, own) in labels().items():
        result, wall_s, status = run(instance, solver, own, limit_s)
        rows[label] = {
            "attainment": None if result is None else result.attainment,
            "status": status,
            "wall_s": wall_s,
            "gap_points": None if result is None else result.gap_points,
            "auto": None if result is None else result.stats.get("auto"),
        }
    return {
        "instance": spec.name,
        "models": len(instance.models),
        "requests": instance.workload.num_requests,
        "bound": bound.attainment,
        "bound_method": bound.method,
        "hostable": bound.hostable,
        "solvers": rows,
        "verdict": verdict(rows, bound.attainment),
    }


def table_header() -> str:
    names = list(labels())
    return (
        "attainment % (wall s) per solver; bound = certified upper bound, %\n"
        + f"{'instance':30} {'bound':>6} "
        + " ".join(f"{n:>16}" for n in names)
        + "  verdict"
    )


def table_row(entry: dict[str, Any]) -> str:
    cells = []
    for name in labels():
        row = entry["solvers"][name]
        shown = row["status"] if row["attainment"] is None else f"{100 * row['attainment']:.2f}"
        cells.append(f"{shown + ' (' + format(row['wall_s'], '.1f') + ')':>16}")
    return (
        f"{entry['instance']:30} {100 * entry['bound']:6.2f} "
        + " ".join(cells)
        + f"  {entry['verdict']}"
    )


def print_table(results: Sequence[dict[str, Any]]) -> None:
    names = list(labels())
    print(table_header())
    for entry in results:
        print(table_row(entry))
    decided = sum(entry["verdict"] != "open" for entry in results)
    print(
        f"decided (exact +>=1 point or greedy certified within 1 point): {decided} of "
        f"{len(results)} (target >= {len(results) / 4:g})"
    )
    for name in (n for n in names if n not in GREEDY):
        worse = [
            f"{entry['instance']} ({below_by(entry['solvers'], name):+.2f})"
            for entry in results
            if below_by(entry["solvers"], name) < -1e-7
        ]
        print(f"{name} below the best greedy (points): {len(worse)} {', '.join(worse)}")


def below_by(rows: dict[str, dict[str, Any]], name: str) -> float:
    """Points by which solver ``name``'s plan is above (positive) or below
    (negative) the best greedy's; 0 when either found none."""
    greedy = [rows[g]["attainment"] for g in GREEDY if rows[g]["attainment"] is not None]
    found = rows[name]["attainment"]
    if found is None or not greedy:
        return 0.0
    return 100 * (found - max(greedy))


def auto_versus_greedy(repeats: int) -> list[dict[str, Any]]:
    """``auto`` against the default greedy on S1, 64 models × 32 devices,
    timed back to back, ``repeats`` times (both with the bound, as
    ``solve`` computes it by default)."""
    spec = Spec("s1", 32, 4.0, "zipf", 8)
    instance = instance_of(spec)
    rounds = []
    for i in range(repeats):
        greedy, greedy_s, _ = run(instance, "greedy", {}, AUTO_LIMIT_S)
        auto, auto_s, _ = run(instance, "auto", {}, AUTO_LIMIT_S)
        assert greedy is not None and auto is not None
        stats = auto.stats.get("auto", {})
        print(
            f"auto vs greedy on {spec.name} (64 models x 32 devices), run {i + 1}: greedy "
            f"{greedy_s:.2f} s ({100 * greedy.attainment:.2f}%), auto {auto_s:.2f} s "
            f"({100 * auto.attainment:.2f}%), ratio {auto_s / greedy_s:.2f}x; auto ran "
            f"{', '.join(stats.get('ran', []))}, stopped: {stats.get('stopped')}; bound "
            f"{100 * (auto.upper_bound or 0):.2f}% (bound {auto.stats.get('bound_s', 0):.2f} s; "
            "target <= 1.5x when auto cannot improve)",
            flush=True,
        )
        rounds.append(
            {
                "instance": spec.name,
                "greedy_s": greedy_s,
                "auto_s": auto_s,
                "ratio": auto_s / greedy_s,
                "greedy_attainment": greedy.attainment,
                "auto_attainment": auto.attainment,
                "bound": auto.upper_bound,
                "bound_s": auto.stats.get("bound_s"),
                "auto": stats,
            }
        )
    return rounds


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.solvers")
    parser.add_argument("--quick", action="store_true", help="8 instances, shorter limits")
    parser.add_argument(
        "--limit",
        type=float,
        default=None,
        help=f"seconds per solver and instance (default {TIME_LIMIT_S:g}, --quick "
        f"{QUICK_TIME_LIMIT_S:g})",
    )
    parser.add_argument(
        "--part",
        choices=("all", "suite", "auto"),
        default="all",
        help="run the suite, the auto-vs-greedy timing, or both",
    )
    parser.add_argument("--repeats", type=int, default=3, help="auto-vs-greedy timings (default 3)")
    args = parser.parse_args(argv)
    specs = quick_suite() if args.quick else suite()
    limit_s = args.limit or (QUICK_TIME_LIMIT_S if args.quick else TIME_LIMIT_S)
    written: dict[str, Any] = {}
    # the simulator compiles on its first call (seconds, not interruptible):
    # done here, so that no timed solve pays for it
    run(instance_of(specs[0]), "greedy", {"greedy_mode": "fast"}, limit_s)
    if args.part != "auto":
        results = []
        for spec in specs:
            results.append(bench_instance(spec, limit_s))
            print(table_row(results[-1]), flush=True)
        print_table(results)
        written.update(quick=args.quick, limit_s=limit_s, instances=results)
    if args.part != "suite":
        written["auto"] = auto_versus_greedy(args.repeats)
    # a run of one part keeps the other part's last results
    kept = json.loads(RESULTS.read_text()) if args.part != "all" and RESULTS.exists() else {}
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps({**kept, **written}, indent=1))
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    import sys

    main(sys.argv[1:])
