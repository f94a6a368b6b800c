"""CP-SAT model of the stage split, built from small constraint modules.
Imported only by :func:`planner.autoparallel.split.split_stages_cpsat`, so
OR-Tools (the ``solvers`` extra) is needed only when CP-SAT is used.

Variables: ``x[i, k]`` (layer ``i`` is in stage ``k``), ``end[i, k]``
(stage ``k < pp - 1`` ends after layer ``i``), ``ws[k]`` (stage ``k``'s
activation workspace) and ``z`` (the bottleneck). Latencies are integers of
``resolution_s``:

- assignment: every layer in exactly one stage; layer 0 in stage 0, layer
  ``L-1`` in stage ``pp-1``; ``x[i+1, k] <= x[i, k] + x[i, k-1]`` (stages
  are contiguous, in order, and none is skipped, hence none is empty);
- boundary: ``end[i, k] >= x[i, k] + x[i+1, k+1] - 1``;
- memory: ``ws[k] >= max_batch * act[i] * x[i, k]`` and
  ``sum_i weight[i] x[i, k] + ws[k] <= cap[k]``;
- pins: ``x[i, pinned[i]] = 1``;
- objective: ``z >= sum_i lat[i] x[i, k] + handoff[k] * sum_i end[i, k]``,
  minimise ``z``.
"""

from __future__ import annotations

from collections.abc import Mapping

from ortools.sat.python import cp_model

from planner.autoparallel.problem import SplitProblem

Grid = dict[tuple[int, int], cp_model.IntVar]


def add_assignment(model: cp_model.CpModel, problem: SplitProblem) -> Grid:
    """``x[i, k]`` with every layer in one stage and stages contiguous, in order."""
    n, pp = problem.num_layers, problem.pp
    x = {(i, k): model.new_bool_var(f"x_{i}_{k}") for i in range(n) for k in range(pp)}
    for i in range(n):
        model.add_exactly_one(x[i, k] for k in range(pp))
    model.add(x[0, 0] == 1)
    model.add(x[n - 1, pp - 1] == 1)
    for i in range(n - 1):
        model.add(x[i + 1, 0] <= x[i, 0])
        for k in range(1, pp):
            model.add(x[i + 1, k] <= x[i, k] + x[i, k - 1])
    return x


def add_boundaries(model: cp_model.CpModel, problem: SplitProblem, x: Grid) -> Grid:
    """``end[i, k]`` forced to 1 where stage ``k`` ends after layer ``i``."""
    end = {}
    for k in range(problem.pp - 1):
        for i in range(problem.num_layers - 1):
            end[i, k] = model.new_bool_var(f"end_{i}_{k}")
            model.add(end[i, k] >= x[i, k] + x[i + 1, k + 1] - 1)
    return end


def add_memory(model: cp_model.CpModel, problem: SplitProblem, x: Grid) -> None:
    """Weights plus the largest workspace of each stage within its cap."""
    for k in range(problem.pp):
        cap = problem.caps[k]
        ws = model.new_int_var(0, cap, f"ws_{k}")
        for i, act in enumerate(problem.act_bytes):
            if act:
                model.add(ws >= problem.max_batch * act * x[i, k])
        model.add(sum(w * x[i, k] for i, w in enumerate(problem.weight_bytes)) + ws <= cap)


def add_pins(model: cp_model.CpModel, x: Grid, pinned: Mapping[int, int]) -> None:
    """Layer ``i`` in stage ``pinned[i]``."""
    for layer, stage in pinned.items():
        model.add(x[layer, stage] == 1)


def add_bottleneck(
    model: cp_model.CpModel, problem: SplitProblem, x: Grid, end: Grid, resolution_s: float
) -> cp_model.IntVar:
    """``z`` >= every stage's latency (integer units); minimised."""
    lat = [round(t / resolution_s) for t in problem.latency_s]
    handoff = [round(t / resolution_s) for t in problem.handoff_s]
    z = model.new_int_var(0, sum(lat) + sum(handoff), "z")
    n = problem.num_layers
    for k in range(problem.pp):
        last = k == problem.pp - 1
        ends = [] if last else [end[i, k] for i in range(n - 1)]
        coefficients = lat + ([] if last else [handoff[k]] * (n - 1))
        stage = cp_model.LinearExpr.weighted_sum([x[i, k] for i in range(n)] + ends, coefficients)
        model.add(z >= stage)
    model.minimize(z)
    return z


def solve(
    problem: SplitProblem, pinned: Mapping[int, int], time_limit_s: float, resolution_s: float
) -> tuple[str, list[int]]:
    """``(status, starts)``: status ``"optimal"``, ``"feasible"``,
    ``"infeasible"`` or ``"unknown"``; ``starts[k]`` is stage ``k``'s first
    layer (empty unless a split was found)."""
    model = cp_model.CpModel()
    x = add_assignment(model, problem)
    end = add_boundaries(model, problem, x)
    add_memory(model, problem, x)
    add_pins(model, x, pinned)
    add_bottleneck(model, problem, x, end, resolution_s)
    solver = cp_model.CpSolver()
    solver.parameters.max_time_in_seconds = time_limit_s
    solver.parameters.num_workers = 1
    code = solver.solve(model)
    if code == cp_model.MODEL_INVALID:
        raise RuntimeError(f"CP-SAT rejected the split model: {model.validate()}")
    if code == cp_model.INFEASIBLE:
        return "infeasible", []
    if code not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        return "unknown", []
    starts = [
        min(i for i in range(problem.num_layers) if solver.value(x[i, k]))
        for k in range(problem.pp)
    ]
    return ("optimal" if code == cp_model.OPTIMAL else "feasible"), starts
