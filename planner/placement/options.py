"""Solver knobs, as typed frozen dataclasses with help text per field.

The CLI and the API take one loose ``options`` mapping that holds both the
simulator's knobs of the instance (``max_batch``, ``warmup_s``) and the
solvers' (:class:`SolveOptions`). :func:`split_options` splits it into a
:class:`planner.sim.SimOptions` and a :class:`SolveOptions`, and rejects
unknown names and bad values with a ``ValueError`` whose message starts with
``options.<name>``.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Mapping
from dataclasses import Field, dataclass, field, fields
from typing import Any

from planner.fanout import ADDRESS_ENV, BACKENDS, head_endpoint
from planner.sim import SimOptions

Check = Callable[[str, Any], Any]

MILP_BACKENDS = ("cbc", "highs")
"""The MILP backends behind solver ``milp``, chosen by option ``milp_backend``."""


def backend_hint(name: str) -> str:
    """For a MILP backend spelled as a solver name (``"milp-highs"``, as
    reports once labelled them), a sentence saying how to ask for it;
    ``""`` for any other name."""
    backend = name.removeprefix("milp-")
    if backend == name or backend not in MILP_BACKENDS:
        return ""
    return f" ({name!r} is solver 'milp' with option milp_backend={backend})"


RENAMED = {"use_ray": "backend=ray (and ray_address for an existing cluster)"}
"""Options that were renamed: the old name → what to write instead."""


def _int_at_least(minimum: int) -> Check:
    def check(name: str, value: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
            raise ValueError(f"{name}: must be an integer >= {minimum}, got {value!r}")
        return int(value)

    return check


def _one_of(*choices: str) -> Check:
    def check(name: str, value: Any) -> str:
        if value not in choices:
            raise ValueError(f"{name}: must be one of {', '.join(choices)}; got {value!r}")
        return str(value)

    return check


def _non_negative_float(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ValueError(f"{name}: must be a finite number, got {value!r}")
    if value < 0:
        raise ValueError(f"{name}: must be >= 0, got {value!r}")
    return float(value)


def _bool(name: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise ValueError(f"{name}: must be true or false, got {value!r}")
    return value


def _positive_float(name: str, value: Any) -> float:
    number = _non_negative_float(name, value)
    if number == 0:
        raise ValueError(f"{name}: must be > 0, got {value!r}")
    return number


def _optional_positive_float(name: str, value: Any) -> float | None:
    return None if value is None else _positive_float(name, value)


def _share(name: str, value: Any) -> float:
    number = _non_negative_float(name, value)
    if not 0 < number <= 1:
        raise ValueError(f"{name}: must be in (0, 1], got {value!r}")
    return number


def _int_list(name: str, value: Any) -> tuple[int, ...] | None:
    if value is None:
        return None
    if not isinstance(value, list | tuple) or not value:
        raise ValueError(f"{name}: must be a non-empty list of positive integers, got {value!r}")
    return tuple(_int_at_least(1)(f"{name}[{i}]", v) for i, v in enumerate(value))


def _ray_address(name: str, value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or len(value) > 255:
        raise ValueError(f"{name}: must be host:port (at most 255 characters), got {value!r}")
    try:
        head_endpoint(value)
    except ValueError as error:
        raise ValueError(f"{name}: {error}") from None
    return value


def _option(default: Any, check: Check, help: str) -> Any:
    return field(default=default, metadata={"check": check, "help": help})


def available_cores() -> int:
    """CPU cores this process may run on (its affinity mask where the
    platform has one)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


@dataclass(frozen=True)
class _SimKnobs:
    """The simulator options a solve request may set (the instance's)."""

    max_batch: int = _option(
        1, _int_at_least(1), "Largest batch the simulated servers form (requests)."
    )
    warmup_s: float = _option(
        0.0, _non_negative_float, "Seconds at the start of the workload left out of the scores."
    )


@dataclass(frozen=True)
class SolveOptions:
    """Knobs shared by every solver; each solver reads the ones it needs."""

    seed: int = _option(0, _int_at_least(0), "Seed for tie-breaking and solver randomness.")
    workers: int = field(
        default_factory=available_cores,
        metadata={
            "check": _int_at_least(1),
            "help": "Processes for the fan-out backend (local: the pool; ray: the CPUs of a "
            "Ray started for the solve) and search workers for CP-SAT "
            "(default: the cores this process may use). Plans do not depend on it.",
        },
    )
    backend: str = _option(
        "local",
        _one_of(*BACKENDS),
        "Where the enumeration's blocks, the LNS sub-problems, a report's sweep points and an "
        "experiment's cases run: local (a pool of `workers` processes) or ray (a Ray cluster).",
    )
    ray_address: str | None = _option(
        None,
        _ray_address,
        f"Ray cluster (host:port) for backend ray; default: ${ADDRESS_ENV}, else a Ray "
        "started for the solve.",
    )
    greedy_mode: str = _option(
        "auto",
        _one_of("auto", "full", "lazy", "fast"),
        "full: try every (model, group) pair each step; lazy: the full greedy trying pairs in "
        "order of their last gain, stopping once none can beat the best; fast: give the model "
        "with the most unserved requests a replica on its least-loaded group; auto: full on "
        "small instances.",
    )
    beam_width: int = _option(1, _int_at_least(1), "Placements kept per step of the full greedy.")
    top_models: int = _option(
        0,
        _int_at_least(0),
        "Models tried per step of the full greedy, most unserved first (0: all).",
    )
    max_op: int = _option(8, _int_at_least(1), "Largest intra-op (tensor) degree enumerated.")
    max_pp: int = _option(8, _int_at_least(1), "Largest number of pipeline stages enumerated.")
    group_sizes: tuple[int, ...] | None = _option(
        None, _int_list, "Only enumerate groups of these sizes (devices); default: all."
    )
    max_buckets: int = _option(
        2, _int_at_least(1), "Most model buckets (by size and latency) the enumeration splits into."
    )
    screen_keep: int = _option(
        3,
        _int_at_least(1),
        "Blocks (configs) per bucket and device share the enumeration solves with the "
        "greedy, best fluid estimates first; blocks whose bound shows they cannot win are "
        "skipped, and every block not solved is logged with why.",
    )
    partition: str = _option(
        "free",
        _one_of("free", "seed"),
        "CP-SAT/MILP: free: the exact model chooses the group partition, configs and replicas "
        "(calibrated master over group types); seed: keep the greedy seed's groups and choose "
        "configs and replicas only.",
    )
    lns_groups: int = _option(3, _int_at_least(1), "Groups the LNS frees per move (solver lns).")
    lns_move_s: float = _option(
        2.0,
        _positive_float,
        "CP-SAT's deterministic time (its measure of work, in roughly seconds) per LNS "
        "sub-problem: plans depend on it, not on the machine's speed or load; only the solve's "
        "time limit cuts a sub-problem short.",
    )
    lns_round: int = _option(
        3,
        _int_at_least(1),
        "Sub-problems per LNS round, on disjoint groups, solved in parallel on the backend "
        "(plans depend on it, not on workers).",
    )
    milp_backend: str = _option(
        "cbc", _one_of(*MILP_BACKENDS), "MILP solver behind PuLP (solver milp)."
    )
    proxy_windows: int = _option(
        12, _int_at_least(1), "Demand scenarios (sampled time windows) in the CP-SAT/MILP proxy."
    )
    auto_tolerance_points: float = _option(
        0.5,
        _non_negative_float,
        "solver auto stops once the certified bound is within this many attainment points "
        "of its best plan.",
    )
    certify: bool = _option(
        True,
        _bool,
        "Compute the certified upper bound on attainment (upper_bound, gap_points) with the "
        "plan; false skips it (the bound is then null and solver auto never stops by it).",
    )
    window_s: float | None = _option(
        None,
        _optional_positive_float,
        "Length (s) of a proxy demand window; default: the median SLO of the models.",
    )


def _fields() -> dict[str, tuple[type[Any], Field[Any]]]:
    """Option name → the dataclass it belongs to and its field."""
    return {f.name: (kind, f) for kind in (_SimKnobs, SolveOptions) for f in fields(kind)}


def split_options(options: Mapping[str, Any] | None) -> tuple[SimOptions, SolveOptions]:
    """Validate ``options`` and split it into the instance's simulator
    options and the solvers' knobs; errors start with ``options.<name>``."""
    if options is None:
        options = {}
    if not isinstance(options, Mapping):
        raise ValueError(f"options: must be an object, got {type(options).__name__}")
    known = _fields()
    values: dict[type[Any], dict[str, Any]] = {_SimKnobs: {}, SolveOptions: {}}
    for name, value in options.items():
        if name in RENAMED:
            raise ValueError(f"options.{name}: replaced by {RENAMED[name]}")
        if name not in known:
            raise ValueError(f"options.{name}: unknown option; known: {', '.join(sorted(known))}")
        kind, spec = known[name]
        values[kind][name] = spec.metadata["check"](f"options.{name}", value)
    knobs = _SimKnobs(**values[_SimKnobs])
    sim = SimOptions(max_batch=knobs.max_batch, warmup_s=knobs.warmup_s)
    return sim, SolveOptions(**values[SolveOptions])


def option_help() -> dict[str, str]:
    """Option name → help text, for CLIs and API documents."""
    return {name: spec.metadata["help"] for name, (_, spec) in _fields().items()}
