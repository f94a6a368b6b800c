"""Stage split: the DP is optimal (brute force), agrees with CP-SAT,
respects memory caps and pins, and fails clearly."""

from __future__ import annotations

import itertools
from collections.abc import Callable

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from planner.autoparallel.problem import SplitProblem, SplitTimeout, StageSplit, validate_split
from planner.autoparallel.split import split_stages, split_stages_cpsat


def brute_force(problem: SplitProblem) -> float | None:
    """Best bottleneck over every split into ``pp`` non-empty contiguous
    stages, recomputed from scratch; None when none fits."""
    n, pp = problem.num_layers, problem.pp
    best = None
    for cuts in itertools.combinations(range(1, n), pp - 1):
        bounds = list(zip((0, *cuts), (*cuts, n), strict=True))
        worst = 0.0
        fits = True
        for k, (start, end) in enumerate(bounds):
            weights = sum(problem.weight_bytes[start:end])
            workspace = problem.max_batch * max(problem.act_bytes[start:end])
            if weights + workspace > problem.caps[k]:
                fits = False
            handoff = problem.handoff_s[k] if k < pp - 1 else 0.0
            worst = max(worst, sum(problem.latency_s[start:end]) + handoff)
        if fits and (best is None or worst < best):
            best = worst
    return best


@st.composite
def problems(draw: st.DrawFn, max_layers: int = 8) -> SplitProblem:
    n = draw(st.integers(1, max_layers))
    pp = draw(st.integers(1, n))
    ints = st.integers(0, 50)
    per_stage = draw(st.booleans())
    caps = (
        tuple(draw(st.lists(st.integers(20, 150), min_size=pp, max_size=pp)))
        if per_stage
        else draw(st.integers(20, 150))
    )
    max_batch = draw(st.integers(1, 3))
    weights = draw(st.lists(st.integers(0, 30), min_size=n, max_size=n))
    acts = draw(st.lists(st.integers(0, 6), min_size=n, max_size=n))
    biggest = max(caps) if isinstance(caps, tuple) else caps
    too_big = any(w + max_batch * a > biggest for w, a in zip(weights, acts, strict=True))
    try:
        problem = SplitProblem(
            latency_s=tuple(float(x) for x in draw(st.lists(ints, min_size=n, max_size=n))),
            weight_bytes=tuple(weights),
            pp=pp,
            mem_cap_bytes=caps,
            act_bytes=tuple(acts),
            handoff_s=tuple(
                float(x)
                for x in draw(st.lists(st.integers(0, 9), min_size=pp - 1, max_size=pp - 1))
            ),
            max_batch=max_batch,
        )
    except ValueError as error:
        assert too_big and str(error).startswith("layers["), error
        assume(False)
    assert not too_big
    return problem


def solve_or_none(
    solver: Callable[[SplitProblem], StageSplit], problem: SplitProblem
) -> StageSplit | None:
    try:
        split = solver(problem)
    except ValueError as error:
        assert str(error).startswith(("mem_cap_bytes:", "pinned:"))
        return None
    validate_split(problem, split)
    return split


@given(problems())
@settings(max_examples=300, deadline=None)
def test_dp_equals_brute_force(problem: SplitProblem) -> None:
    split = solve_or_none(split_stages, problem)
    expected = brute_force(problem)
    assert (split.bottleneck_s if split else None) == expected


@given(problems(max_layers=6))
@settings(max_examples=30, deadline=None)
def test_dp_equals_cpsat(problem: SplitProblem) -> None:
    dp = solve_or_none(split_stages, problem)
    cpsat = solve_or_none(lambda p: split_stages_cpsat(p, resolution_s=1.0), problem)
    assert (dp.bottleneck_s if dp else None) == (cpsat.bottleneck_s if cpsat else None)
    assert cpsat is None or cpsat.optimal


def test_dp_and_cpsat_agree_on_real_latencies_with_default_resolution() -> None:
    latency = tuple(1e-3 * (1 + (7 * i) % 5) / 3 for i in range(12))
    problem = SplitProblem(latency, (1,) * 12, pp=3, mem_cap_bytes=100, handoff_s=(2e-4, 1e-4))
    dp = split_stages(problem)
    cpsat = split_stages_cpsat(problem)
    assert cpsat.bottleneck_s == pytest.approx(dp.bottleneck_s, rel=1e-5)


def test_uneven_split_of_thirteen_layers_on_four_stages() -> None:
    problem = SplitProblem((1.0,) * 13, (0,) * 13, pp=4, mem_cap_bytes=0)
    split = split_stages(problem)
    validate_split(problem, split)
    assert split.bottleneck_s == 4.0
    assert sorted(end - start for start, end in split.bounds) == [3, 3, 3, 4]


def test_handoff_moves_a_layer_off_the_sending_stage() -> None:
    # Without hand-off the split is (0, 2) (2, 4); stage 0 pays 1.5 to send,
    # so it keeps one layer: stage latencies 1 + 1.5 and 3.
    problem = SplitProblem((1.0,) * 4, (0,) * 4, pp=2, mem_cap_bytes=0, handoff_s=(1.5,))
    split = split_stages(problem)
    assert split.bounds == ((0, 1), (1, 4))
    assert split.stage_latency_s == (2.5, 3.0)


def test_memory_caps_force_a_worse_split() -> None:
    free = SplitProblem((1.0,) * 4, (1,) * 4, pp=2, mem_cap_bytes=100)
    assert split_stages(free).bounds == ((0, 2), (2, 4))
    capped = SplitProblem((1.0,) * 4, (1,) * 4, pp=2, mem_cap_bytes=(100, 1))
    for split in (split_stages(capped), split_stages_cpsat(capped)):
        assert split.bounds == ((0, 3), (3, 4))
        assert split.bottleneck_s == 3.0


def test_workspace_counts_the_largest_layer_times_max_batch() -> None:
    # Layer 2 needs 4 x 3 = 12 bytes of workspace; cap 13 leaves room for
    # one byte of weights beside it, so it must sit alone.
    problem = SplitProblem(
        (1.0,) * 4, (1, 1, 1, 1), pp=3, mem_cap_bytes=13, act_bytes=(0, 0, 3, 0), max_batch=4
    )
    split = split_stages(problem)
    assert (2, 3) in split.bounds
    assert problem.stage_memory_bytes(2, 3) == 13


def test_layer_too_big_for_any_device() -> None:
    with pytest.raises(ValueError, match=r"^layers\[1\] \(block0\): needs 12 bytes per device"):
        SplitProblem(
            (1.0, 1.0),
            (1, 10),
            pp=1,
            mem_cap_bytes=11,
            act_bytes=(0, 1),
            max_batch=2,
            names=("embed", "block0"),
        )


def test_more_stages_than_layers() -> None:
    with pytest.raises(ValueError, match=r"^pp: cannot split 3 layers into 4 stages"):
        SplitProblem((1.0,) * 3, (0,) * 3, pp=4, mem_cap_bytes=0)


def test_no_split_fits() -> None:
    problem = SplitProblem((1.0,) * 3, (5,) * 3, pp=2, mem_cap_bytes=6)
    for solve in (split_stages, split_stages_cpsat):
        with pytest.raises(ValueError, match=r"^mem_cap_bytes: no split of 3 layers into 2 stages"):
            solve(problem)


@pytest.mark.parametrize(
    ("field", "kwargs"),
    [
        ("weight_bytes", {"weight_bytes": (1,)}),
        ("handoff_s", {"handoff_s": (1.0, 2.0)}),
        ("mem_cap_bytes", {"mem_cap_bytes": (1, 2, 3)}),
        ("latency_s\\[1\\]", {"latency_s": (1.0, -1.0)}),
    ],
)
def test_malformed_instances_name_the_field(field: str, kwargs: dict[str, object]) -> None:
    base: dict[str, object] = {
        "latency_s": (1.0, 1.0),
        "weight_bytes": (1, 1),
        "pp": 2,
        "mem_cap_bytes": 10,
    }
    with pytest.raises(ValueError, match=f"^{field}:"):
        SplitProblem(**{**base, **kwargs})  # type: ignore[arg-type]


def test_cpsat_pins_layers_to_stages() -> None:
    problem = SplitProblem((1.0,) * 4, (0,) * 4, pp=2, mem_cap_bytes=0)
    split = split_stages_cpsat(problem, pinned={1: 1})
    assert split.bounds == ((0, 1), (1, 4))
    assert split.bottleneck_s == 3.0


def test_cpsat_contradictory_pins() -> None:
    problem = SplitProblem((1.0,) * 4, (0,) * 4, pp=2, mem_cap_bytes=0)
    with pytest.raises(ValueError, match=r"^pinned: no split"):
        split_stages_cpsat(problem, pinned={1: 1, 2: 0})
    with pytest.raises(ValueError, match=r"^pinned\[9\]: no such layer"):
        split_stages_cpsat(problem, pinned={9: 0})
    with pytest.raises(ValueError, match=r"^pinned\[0\]: stage 2 is outside 0..1"):
        split_stages_cpsat(problem, pinned={0: 2})


def test_cpsat_without_time_has_no_split() -> None:
    problem = SplitProblem((1.0,) * 40, (1,) * 40, pp=8, mem_cap_bytes=100)
    with pytest.raises(SplitTimeout, match=r"^time_limit_s:"):
        split_stages_cpsat(problem, time_limit_s=0.0)


@pytest.mark.parametrize(
    ("split", "message"),
    [
        (StageSplit(((0, 4),), (4.0,)), r"^bounds: has 1 stages, expected 2"),
        (StageSplit(((0, 2), (3, 4)), (2.0, 1.0)), r"^bounds\[1\]: \(3, 4\) must be a non-empty"),
        (StageSplit(((0, 2), (2, 3)), (2.0, 1.0)), r"^bounds: cover layers \[0, 3\) of 4"),
        (StageSplit(((0, 3), (3, 4)), (3.0, 1.0)), r"^bounds\[0\]: stage needs 3 bytes"),
        (StageSplit(((0, 2), (2, 4)), (2.0, 1.0)), r"^stage_latency_s\[1\]: is 1.0, expected 2.0"),
    ],
)
def test_validate_split_rejects(split: StageSplit, message: str) -> None:
    problem = SplitProblem((1.0,) * 4, (1,) * 4, pp=2, mem_cap_bytes=2)
    with pytest.raises(ValueError, match=message):
        validate_split(problem, split)
