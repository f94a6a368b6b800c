"""Re-placement benchmark: the largest mean request rate at which SLO
attainment stays >= 99 %, static plan (best of greedy/enumeration, planned
on the whole trace) against periodic re-placement (oracle and forecast),
forecast-triggered re-placement and Clockwork++ (free and real switching),
with and without SLO-aware preemption, for model sets S1, S2, S3 (20 GB per
device) on a synthetic Azure-like trace with shifting popularity and on the
shipped Azure 2019 sample (:mod:`planner.evaluation.experiment`).

Prints the table and, per model set, cluster size and workload, the best
re-placement's ratio to static (without preemption, against the targets:
>= 1.2x on S1, >= 1.0x on S2), the best ratios with preemption, and the
upper bound on any plan (:mod:`planner.placement.bound`): a ratio no strategy can
exceed on that trace.
``--quick`` runs shorter traces with a coarser search and no sweeps (a few
minutes on two cores); ``--output FILE`` writes the JSON data (rewritten
after every model set × workload, so a long run leaves partial results);
``--azure2019 FILE`` replays another 2019 trace file.

``--memory-bound`` runs the memory-bound cases instead
(:meth:`planner.evaluation.experiment.ExperimentConfig.memory_bound`: S1 on
4 and 8 devices, S3 on 4, S2 on 8, on the shifting families of
:mod:`planner.workloads.shifts` written as 2019 and 2021 trace files:
rotating hot set, on/off functions, diurnal cycles; parameters printed;
with and without SLO-aware preemption) and prints goodput at the trace's rate with the headroom bound
(:mod:`planner.evaluation.goodput`) and the headroom's measured end (the
best goodput reached, among them oracle re-placement placed at will, with
and without preemption), and per forecast row the verdict against the
targets: >= 80 % of the headroom captured; >= 1.2x static where the
headroom is >= 1.3x; S2 never below 1.0x; with the share its oracle
counterpart captures (same switching cost and queue order, planned on each
window's actual traffic) and the share of the reached headroom beside it. The goodput sweep
doubles the rate while goodput rises, up to ``--max-rate-factor`` times
the trace's rate (8; 2 keeps the sweep at 1x and 2x, the cheapest, about 8
minutes on two cores). About an hour on two cores; with ``--quick`` S1 on
4 and S2 on 8 on two families.

``--forecaster SPEC`` forecasts with another forecaster (``holt`` is the
memory-bound run before ``best``), ``--react-drift X`` sets how far the
mix must drift inside a window before the forecast re-planners re-solve (0
turns it off: the baseline of the watch), ``--seed N`` draws other traces
and forecasts. ``--seeds K`` (memory-bound) runs every case on seeds
``N .. N + K - 1`` and adds a table over the seeds: per row the mean ratio
to static with its range, and the share of the headroom that the mean gain
is of the mean headroom; the verdicts are then on those (S2's on its worst
seed). ``--max-rate-factor 1`` drops the sweep: goodput at the trace's rate
only.

Run: ``python -m bench.replan [--quick] [--memory-bound] [--forecaster SPEC]
[--react-drift X] [--seed N] [--seeds K] [--max-rate-factor F] [--output FILE]
[--azure2019 FILE]``.
"""

from __future__ import annotations

import argparse
import dataclasses
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path
from typing import Any

from api.commands.common import AZURE2019_SAMPLE, default_examples
from planner import files
from planner.codec import encode
from planner.evaluation.experiment import (
    GOODPUT_COLUMNS,
    TABLE_COLUMNS,
    ExperimentConfig,
    Strategy,
    goodput_table_rows,
    run_experiment,
    table_rows,
)
from planner.evaluation.seeds import SEED_COLUMNS, over_seeds, seed_table_rows, with_seed
from planner.replan.forecast import FORECASTER_SPECS
from planner.workloads.shifts import FAMILY_DEFAULTS

TARGETS = {"s1": 1.2, "s2": 1.0}
"""Best re-placement ÷ static, per model set (from the issue)."""


def best_ratios(rows: list[dict[str, Any]]) -> dict[tuple[str, int, str], dict[str, float]]:
    """Per (model set, devices, workload) and kind of strategy, the best
    ratio to static. Kinds: ``replan``, ``clockwork++``, ``static``,
    ``first window`` (the static plan made from the first window) and
    ``bound`` (no plan can exceed it), each with `` preempt`` appended when
    run with preemption."""
    best: dict[tuple[str, int, str], dict[str, float]] = {}
    for row in rows:
        ratio = row["ratio_to_static"]
        if ratio is None:
            continue
        label = row["kind"]
        if label == "static" and row["information"] == "forecast":
            label = "first window"
        if row["policy"] not in (None, "fcfs"):
            label += " preempt"
        entry = best.setdefault((row["model_set"], row["devices"], row["workload"]), {})
        entry[label] = max(entry.get(label, 0.0), ratio)
    return best


SHARE_TARGET = 0.8
"""Forecast re-placement with real switching captures this share of the headroom."""
HEADROOM_FOR_GAIN = 1.3
GAIN_TARGET = 1.2
"""Where the headroom is at least HEADROOM_FOR_GAIN, forecast goodput >= GAIN_TARGET x static."""


def oracle_of(strategy: str) -> str:
    """The name of the oracle counterpart of a forecast re-placement
    strategy: periodic, with the same queue policy and switching."""
    forecast = Strategy.parse(strategy)
    return dataclasses.replace(forecast, information="oracle", trigger="periodic").name


def _case(row: dict[str, Any]) -> tuple[Any, ...]:
    return row["model_set"], row["devices"], row["workload"], row.get("seed")


def memory_bound_verdicts(rows: list[dict[str, Any]]) -> list[str]:
    """One line per forecast re-placement row: its share of the headroom
    and goodput ratio against the targets (module docstring). Beside a
    share, the share its oracle counterpart captures (:func:`oracle_of`):
    planning on each window's actual traffic with the same switching cost,
    which a forecast can match only by luck; where that is under the
    target too, the target is out of the oracle's reach."""
    shares = {(*_case(row), row["strategy"]): row["share_captured"] for row in rows}
    lines = []
    for row in rows:
        if row["kind"] != "replan" or row["information"] != "forecast":
            continue
        share, ratio, headroom = row["share_captured"], row["x_static"], row["headroom"]
        checks = []
        if share is not None:
            checks.append(f"share {share:.2f} {'met' if share >= SHARE_TARGET else 'NOT met'}")
            oracle = shares.get((*_case(row), oracle_of(row["strategy"])))
            if oracle is not None:
                reach = " (out of its reach too)" if oracle < SHARE_TARGET else ""
                checks.append(f"the oracle's share {oracle:.2f}{reach}")
        if row.get("share_of_reached") is not None:
            checks.append(
                f"share of the reached {_ratio(row['reached_headroom'])}:"
                f" {row['share_of_reached']:.2f}"
            )
        if headroom is not None and headroom >= HEADROOM_FOR_GAIN:
            met = ratio is not None and ratio >= GAIN_TARGET
            checks.append(f">= {GAIN_TARGET}x {'met' if met else 'NOT met'}")
        if row["model_set"] == "s2":  # never below: over seeds, the worst
            worst = row.get("x_static_min", ratio)
            checks.append(f">= 1.0x {'met' if worst is not None and worst >= 1.0 else 'NOT met'}")
        lines.append(
            f"{row['model_set']} ({row['devices']} devices)/{row['workload']} {row['strategy']}: "
            f"{_ratio(ratio)} static, headroom {_ratio(headroom)}; " + ("; ".join(checks) or "-")
        )
    return lines


def split_cases(config: ExperimentConfig) -> list[ExperimentConfig]:
    """One config per model set x cluster size x workload of ``config``,
    in its order (sweeps left out)."""
    return [
        dataclasses.replace(
            config, model_sets=(name,), devices={name: devices}, workloads=(workload,), sweeps={}
        )
        for name in config.model_sets
        for devices in config.device_counts(name)
        for workload in config.workloads
    ]


def seed_cases(config: ExperimentConfig, seeds: int) -> list[ExperimentConfig]:
    """:func:`split_cases` on each of ``seeds`` seeds from ``config.seed``
    on, seed by seed."""
    cases = split_cases(config)
    return [dataclasses.replace(case, seed=config.seed + k) for k in range(seeds) for case in cases]


def _run_case(config: ExperimentConfig, started: float) -> dict[str, Any]:
    """One case in a worker process, printing its progress."""

    def progress(message: str) -> None:
        print(f"  [{time.monotonic() - started:6.0f} s] {message}", flush=True)

    return run_experiment(config, progress, None, files.open_lines)


def run_cases(
    config: ExperimentConfig,
    cases: list[ExperimentConfig],
    jobs: int,
    started: float,
    checkpoint: Callable[[dict[str, Any]], None],
) -> dict[str, Any]:
    """``config``'s ``cases`` (:func:`seed_cases`) on ``jobs`` processes,
    merged in order into one result, every row with its case's ``seed``;
    ``checkpoint`` gets the merged data after every case."""
    done: list[dict[str, Any] | None] = [None] * len(cases)

    def merged(partial: bool) -> dict[str, Any]:
        parts = [
            with_seed(part, case.seed)
            for case, part in zip(cases, done, strict=True)
            if part is not None
        ]
        return {
            "kind": "replan-experiment",
            "partial": partial,
            "target_attainment": config.target_attainment,
            "config": encode(config),
            "rows": [row for part in parts for row in part["rows"]],
            "goodput_rows": [row for part in parts for row in part["goodput_rows"]],
            "sweeps": [],
            "solves": sum(part["solves"] for part in parts),
            "solve_s": sum(part["solve_s"] for part in parts),
            "wall_s": time.monotonic() - started,
        }

    with ProcessPoolExecutor(max_workers=jobs) as pool:
        futures = {pool.submit(_run_case, case, started): i for i, case in enumerate(cases)}
        for future in as_completed(futures):
            done[futures[future]] = future.result()
            checkpoint(merged(partial=True))
    return merged(partial=False)


def losing_windows(rows: list[dict[str, Any]], margin: float = 0.01) -> list[str]:
    """Per forecast re-placement row below static: the windows where its
    attainment falls more than ``margin`` under the static plan's, as
    ``window k: forecast vs static``."""
    static = {
        (r["model_set"], r["devices"], r["workload"]): r["per_window_attainment"]
        for r in rows
        if r["kind"] == "static" and r["information"] == "oracle"
    }
    lines = []
    for row in rows:
        if row["kind"] != "replan" or row["information"] != "forecast" or row["x_static"] >= 1:
            continue
        base = static[(row["model_set"], row["devices"], row["workload"])]
        worse = [
            f"{k}: {mine:.3f} vs {theirs:.3f}"
            for k, (mine, theirs) in enumerate(zip(row["per_window_attainment"], base, strict=True))
            if mine is not None and theirs is not None and mine < theirs - margin
        ]
        lines.append(
            f"{row['model_set']} ({row['devices']} devices)/{row['workload']} {row['strategy']}"
            f" loses to static in windows " + (", ".join(worse) or "none by over 1 pt")
        )
    return lines


def _print_table(columns: tuple[str, ...], rows: list[tuple[Any, ...]]) -> None:
    widths = [max([len(str(c)), *(len(str(r[i])) for r in rows)]) for i, c in enumerate(columns)]
    print("  ".join(str(c).ljust(w) for c, w in zip(columns, widths, strict=True)))
    for row in rows:
        print("  ".join(str(v).ljust(w) for v, w in zip(row, widths, strict=True)))


def _ratio(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}x"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.replan", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="shorter traces, coarser search")
    parser.add_argument(
        "--memory-bound", action="store_true", help="the memory-bound cases, in goodput"
    )
    parser.add_argument(
        "--jobs", type=int, default=2, help="processes for the memory-bound cases (default 2)"
    )
    parser.add_argument(
        "--max-rate-factor",
        type=float,
        help="the goodput sweep widens up to this multiple of the trace's rate "
        "(default: the config's, 8 for --memory-bound)",
    )
    parser.add_argument(
        "--react-drift",
        type=float,
        help="the forecast re-planners re-solve inside a window past this drift of the mix "
        "(default: the config's, 0.25 for --memory-bound; 0 never)",
    )
    parser.add_argument(
        "--forecaster",
        help=f"the forecast re-planners' forecaster: {FORECASTER_SPECS} "
        "(default: the config's, best for --memory-bound)",
    )
    parser.add_argument("--seed", type=int, default=0, help="seeds traces and forecast draws")
    parser.add_argument(
        "--seeds",
        type=int,
        default=1,
        help="with --memory-bound, run seeds --seed .. --seed + K - 1 and summarise over them",
    )
    parser.add_argument("--output", type=Path, help="write the JSON data here")
    parser.add_argument(
        "--azure2019",
        type=Path,
        default=default_examples().resolve() / AZURE2019_SAMPLE,
        help="Azure 2019 trace file (default: the shipped sample)",
    )
    args = parser.parse_args(argv)
    config = ExperimentConfig.quick() if args.quick else ExperimentConfig()
    if args.memory_bound:
        config = ExperimentConfig.memory_bound(quick=args.quick)
    config = dataclasses.replace(config, azure2019_path=str(args.azure2019), seed=args.seed)
    if args.react_drift is not None:
        config = dataclasses.replace(config, react_drift=args.react_drift)
    if args.forecaster is not None:
        try:
            config = dataclasses.replace(config, forecaster=args.forecaster)
        except ValueError as error:
            parser.error(f"--forecaster: {error}")
    if args.seeds < 1 or (args.seeds > 1 and not args.memory_bound):
        parser.error(
            f"--seeds: must be >= 1, and above 1 only with --memory-bound, got {args.seeds}"
        )
    if args.max_rate_factor is not None:
        factor = args.max_rate_factor
        if not factor >= 1:
            parser.error(f"--max-rate-factor: must be >= 1 (the trace's own rate), got {factor:g}")
        config = dataclasses.replace(  # the sweep's rates above the factor go with it
            config,
            goodput_rates=tuple(f for f in config.goodput_rates if f <= factor),
            goodput_max_rate_factor=factor,
        )
    if args.memory_bound:
        for family, params in FAMILY_DEFAULTS.items():
            print(f"family {family}: " + ", ".join(f"{k}={v:g}" for k, v in params.items()))
        print(
            f"each trace holds {config.family_requests} requests, replayed over "
            f"{config.duration_s:g} s in {config.window_s:g} s windows; the trace's rate is "
            f"{config.trace_load:g} x half the devices' batch-1 capacity; sweep x "
            + ", ".join(f"{f:g}" for f in config.goodput_rates)
            + f", doubled while goodput rises, up to x {config.goodput_max_rate_factor:g}"
        )
    started = time.monotonic()

    def progress(message: str) -> None:
        print(f"  [{time.monotonic() - started:6.0f} s] {message}", flush=True)

    def checkpoint(partial: dict[str, Any]) -> None:
        if args.output is not None:
            files.write_json(args.output, partial, indent=1)

    if args.memory_bound:
        cases = seed_cases(config, args.seeds)
        result = run_cases(config, cases, max(1, args.jobs), started, checkpoint)
    else:
        result = run_experiment(config, progress, checkpoint, files.open_lines)
    if result["rows"]:
        _print_table(TABLE_COLUMNS, table_rows(result))
    if result.get("goodput_rows"):
        first = [
            row for row in result["goodput_rows"] if row.get("seed", config.seed) == config.seed
        ]
        if args.seeds > 1:
            print(f"seed {config.seed}:")
        _print_table(GOODPUT_COLUMNS, goodput_table_rows({"goodput_rows": first}))
        print("\n".join(memory_bound_verdicts(first)))
        print("\n".join(losing_windows(first)))
        if args.seeds > 1:
            summary = over_seeds(result["goodput_rows"])
            print(f"over seeds {config.seed} .. {config.seed + args.seeds - 1}:")
            _print_table(SEED_COLUMNS, seed_table_rows(summary))
            print("\n".join(memory_bound_verdicts(summary)))
    for row in result["sweeps"]:
        ratio = row["ratio_to_static"]
        print(
            f"sweep {row['knob']}={row['value']:g}: {row['strategy']} "
            f"{row['max_rate_rps']:.1f} rps" + ("" if ratio is None else f" ({ratio:.3f}x static)")
        )
    for (set_name, devices, workload), best in sorted(best_ratios(result["rows"]).items()):
        target = TARGETS.get(set_name)
        replan = best.get("replan")
        verdict = ""
        if target is not None and replan is not None:
            verdict = f" (target >= {target}x: {'met' if replan >= target else 'not met'})"
        print(
            f"{set_name} ({devices} devices)/{workload}: best re-placement / static = "
            f"{_ratio(replan)}{verdict}; with preemption {_ratio(best.get('replan preempt'))}; "
            f"static with preemption {_ratio(best.get('static preempt'))}; "
            f"static planned on the first window {_ratio(best.get('first window'))}; "
            f"no plan can exceed {_ratio(best.get('bound'))}"
        )
    print(f"wall {result['wall_s']:.0f} s, {result['solves']} solves ({result['solve_s']:.0f} s)")
    if args.output is not None:
        files.write_json(args.output, result, indent=1)
        print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
