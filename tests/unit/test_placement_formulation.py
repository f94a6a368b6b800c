"""Each module of the proxy formulation alone, on CP-SAT and on PuLP/CBC:
a feasible case, a forced-infeasible case and an alternative case."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pulp
import pytest
from ortools.sat.python import cp_model

from planner.domain import ParallelConfig
from planner.placement.cpsat import CpSatBackend
from planner.placement.formulation import (
    add_config_choice,
    add_memory,
    add_objective,
    add_replicas,
    add_serving,
    build,
    decode,
    fill,
    hint,
    proxy_value,
)
from planner.placement.milp import PulpBackend
from planner.placement.proxy import ProxyData, ProxyGroup
from planner.placement.pulprun import cbc_solver
from planner.placement.scoring import Layout

ONE = ParallelConfig(1, 1)
PIPE = ParallelConfig(1, 2)


def data(
    *,
    groups: tuple[ProxyGroup, ...] = (ProxyGroup((0,), (ONE,)),),
    weights: dict[tuple[int, ParallelConfig], tuple[int, ...]] | None = None,
    workspace: int = 0,
    cost: int = 10,
    window: int = 25,
    demand: tuple[tuple[int, ...], ...] = ((5, 1),),
    window_weight: tuple[int, ...] = (1,),
) -> ProxyData:
    """Two models; each usable under every config of every group with
    ``cost`` µs per request; 10 memory units per device."""
    configs = {c for g in groups for c in g.configs}
    default = {(m, c): (6 // c.pp,) * c.pp for m in (0, 1) for c in configs}
    weight_units = default if weights is None else weights
    return ProxyData(
        groups=groups,
        num_models=2,
        memory_units=10,
        weight_units=weight_units,
        workspace_units={key: workspace for key in weight_units},
        cost_us={key: cost for key in weight_units},
        window_us=window,
        demand=demand,
        window_weight=window_weight,
    )


Solved = tuple[bool, Callable[[Any], float]]


def solve_cpsat(backend: CpSatBackend) -> Solved:
    solver = cp_model.CpSolver()
    status = solver.solve(backend.model)
    feasible = status in (cp_model.OPTIMAL, cp_model.FEASIBLE)
    return feasible, lambda expr: solver.value(expr)


def solve_pulp(backend: PulpBackend) -> Solved:
    backend.problem.solve(cbc_solver(msg=False))
    feasible = backend.problem.status == pulp.LpStatusOptimal
    return feasible, lambda expr: pulp.value(expr)


BACKENDS: dict[str, tuple[Callable[[], Any], Callable[[Any], Solved]]] = {
    "cpsat": (CpSatBackend, solve_cpsat),
    "cbc": (PulpBackend, solve_pulp),
}


@pytest.fixture(params=list(BACKENDS))
def make(request: pytest.FixtureRequest) -> tuple[Callable[[], Any], Callable[[Any], Solved]]:
    return BACKENDS[request.param]


def test_config_choice(make: Any) -> None:
    new, run = make
    two = data(groups=(ProxyGroup((0, 1), (ONE, PIPE)),))
    backend = new()
    y = add_config_choice(backend, two)
    backend.maximize(y[0, PIPE])
    feasible, value = run(backend)
    assert feasible and value(y[0, PIPE]) == 1 and value(y[0, ONE]) == 0
    # alternative: the other config can be chosen instead
    backend = new()
    y = add_config_choice(backend, two)
    backend.maximize(y[0, ONE])
    feasible, value = run(backend)
    assert feasible and value(y[0, ONE]) == 1 and value(y[0, PIPE]) == 0
    # forced infeasible: both configs at once
    backend = new()
    y = add_config_choice(backend, two)
    backend.add(y[0, ONE] + y[0, PIPE] == 2)
    assert not run(backend)[0]


def test_replicas_need_their_config(make: Any) -> None:
    new, run = make
    two = data(groups=(ProxyGroup((0, 1), (ONE, PIPE)),))
    backend = new()
    y = add_config_choice(backend, two)
    z = add_replicas(backend, two, y)
    backend.add(z[0, 0, PIPE] == 1)
    backend.maximize(backend.total(z.values()))
    feasible, value = run(backend)
    assert feasible and value(y[0, PIPE]) == 1
    assert value(z[1, 0, PIPE]) == 1 and value(z[0, 0, ONE]) == value(z[1, 0, ONE]) == 0
    backend = new()
    y = add_config_choice(backend, two)
    z = add_replicas(backend, two, y)
    backend.add(z[0, 0, PIPE] + z[1, 0, ONE] == 2)  # two configs at once
    assert not run(backend)[0]
    # an unusable pair has no variable at all
    only_zero = data(weights={(0, ONE): (6,)})
    backend = new()
    assert set(add_replicas(backend, only_zero, add_config_choice(backend, only_zero))) == {
        (0, 0, ONE)
    }


def test_memory_per_stage_and_workspace(make: Any) -> None:
    new, run = make
    two = data(groups=(ProxyGroup((0, 1), (ONE, PIPE)),))

    def model_with(extra: Callable[[Any, dict, dict], None], case: ProxyData = two) -> Solved:
        backend = new()
        y = add_config_choice(backend, case)
        z = add_replicas(backend, case, y)
        add_memory(backend, case, y, z)
        extra(backend, y, z)
        backend.maximize(backend.total(z.values()))
        return run(backend)

    # 6 + 6 > 10 units on one device: infeasible under op1xpp1
    assert not model_with(lambda b, y, z: b.add(z[0, 0, ONE] + z[1, 0, ONE] == 2))[0]
    # alternative: two stages hold 3 + 3 per device
    feasible, _ = model_with(lambda b, y, z: b.add(z[0, 0, PIPE] + z[1, 0, PIPE] == 2))
    assert feasible
    # the workspace is reserved once: 3 + 3 + 4 = 10 fits, 3 + 3 + 5 does not
    assert model_with(
        lambda b, y, z: b.add(z[0, 0, PIPE] + z[1, 0, PIPE] == 2),
        data(groups=two.groups, workspace=4),
    )[0]
    assert not model_with(
        lambda b, y, z: b.add(z[0, 0, PIPE] + z[1, 0, PIPE] == 2),
        data(groups=two.groups, workspace=5),
    )[0]


def serving_model(new: Callable[[], Any], case: ProxyData) -> tuple[Any, dict, dict, dict]:
    backend = new()
    y = add_config_choice(backend, case)
    z = add_replicas(backend, case, y)
    x = add_serving(backend, case, y, z)
    return backend, y, z, x


def test_serving_budget_and_demand(make: Any) -> None:
    new, run = make
    case = data()  # one group; 25 µs budget at 10 µs a request: 2 requests
    backend, _, z, x = serving_model(new, case)
    add_objective(backend, case, x)
    feasible, value = run(backend)
    assert feasible and value(x[0, 0, ONE, 0]) + value(x[1, 0, ONE, 0]) == 2
    backend, _, z, x = serving_model(new, case)
    backend.add(x[0, 0, ONE, 0] == 3)
    assert not run(backend)[0]
    # no replica, no service
    backend, _, z, x = serving_model(new, case)
    backend.add(z[0, 0, ONE] == 0)
    backend.add(x[0, 0, ONE, 0] == 1)
    assert not run(backend)[0]
    # alternative: two groups split a model's demand, never beyond it
    wide = data(groups=(ProxyGroup((0,), (ONE,)), ProxyGroup((1,), (ONE,))), demand=((3, 0),))
    backend, _, _, x = serving_model(new, wide)
    add_objective(backend, wide, x)
    feasible, value = run(backend)
    assert feasible and value(x[0, 0, ONE, 0]) + value(x[0, 1, ONE, 0]) == 3
    assert (1, 0, ONE, 0) not in x  # no demand, no variable


def test_objective_weights_windows(make: Any) -> None:
    new, run = make
    case = data(demand=((5, 0), (1, 0)), window_weight=(3, 7))
    backend, _, _, x = serving_model(new, case)
    objective = add_objective(backend, case, x)
    feasible, value = run(backend)
    assert feasible and value(objective) == 3 * 2 + 7 * 1


def test_decode_hint_and_fill_agree(make: Any) -> None:
    new, run = make
    case = data(
        groups=(ProxyGroup((0, 1), (ONE, PIPE)), ProxyGroup((2,), (ONE,))),
        demand=((5, 1), (0, 4)),
        window_weight=(2, 1),
    )
    layout = Layout((PIPE, ONE), ((0, 1), (0,)))
    served = fill(case, layout)
    # window 0: group 0 serves 2 of model 0, group 1 serves the next 2;
    # window 1: group 0 serves 2 of model 1.
    assert served == {(0, 0, PIPE, 0): 2, (0, 1, ONE, 0): 2, (1, 0, PIPE, 1): 2}
    assert proxy_value(case, served) == 2 * 4 + 1 * 2
    backend = new()
    variables = build(backend, case)
    for var, amount in hint(case, variables, layout).items():
        backend.add(var == amount)
    feasible, value = run(backend)
    assert feasible
    assert decode(case, variables, value) == layout
    assert value(variables.objective) == proxy_value(case, served)
