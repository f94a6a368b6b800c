"""The live re-planner's decision (planner/replan/live.py) on hand-made
two-device cases where each device holds one model: a popularity flip it
must follow, a load too slow for the window, the last replica of a busy
model, a revert after a bad window, the drift watch inside a window; and
transition orders that never exceed device memory (property test)."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from planner.domain import Cluster, Group, ModelSpec, ParallelConfig, Placement
from planner.replan.live import (
    AppliedSwitch,
    LiveInputs,
    LiveSettings,
    MeasuredLoadCluster,
    Step,
    WatchInputs,
    decide_live,
    decide_watch,
    keep_group_indices,
    measured_cluster,
    observed_workload,
    transition_steps,
)
from planner.validation import models_by_name, stage_memory_bytes, validate
from tests.unit.simulator_cases import GB, PIPE, SERIAL, group, model, multi_config_model, placement

# Two devices of 2.5 GB: one 2 GB model each. Loads take 2 s (2 GB at 1 GB/s).
CLUSTER = Cluster(2, int(2.5 * GB), devices_per_node=2, load_bw_bytes_per_s=1e9)
MODELS = (model("a", 0.5, [[0.1]]), model("b", 0.5, [[0.1]]), model("c", 0.5, [[0.1]]))
SETTINGS = LiveSettings(window_s=60.0, forecaster="last", min_gain=0.01)
BOTH_A = placement(group([0], "a"), group([1], "a"))


def flip_inputs(load_s: Mapping[str, float]) -> LiveInputs:
    """a served 10 req/s for two windows, then b took over at 15 req/s."""
    return LiveInputs(
        CLUSTER,
        MODELS,
        BOTH_A,
        {"a": [600, 600, 0], "b": [0, 0, 900]},
        load_s,
    )


def test_a_popularity_flip_switches_to_the_hot_model() -> None:
    decision = decide_live(flip_inputs({}), SETTINGS)
    assert decision.action == "switch"
    assert decision.placement.hosts("b"), decision.reason
    validate(CLUSTER, MODELS, decision.placement)
    assert decision.forecast_rps["b"] == pytest.approx(15.0, rel=0.2)
    assert decision.candidate_attainment is not None and decision.keep_attainment is not None
    assert decision.candidate_attainment > decision.keep_attainment + SETTINGS.min_gain
    # b loads 2 GB at 1 GB/s into each group it enters, after a leaves it
    loaded = [s for s in decision.steps if s.action == "load"]
    assert {s.model for s in loaded} == {"b"}
    assert decision.cost.replicas_loaded == len(loaded)
    assert decision.cost.load_s == pytest.approx(2.0 * len(loaded))
    assert all(s.action == "evict" and s.model == "a" for s in decision.steps[:1])


def test_kept_groups_keep_their_index() -> None:
    before = placement(group([2], "a"), group([0], "b"), group([1], "c"))
    rotated = placement(group([0], "a"), group([1], "b"), group([2], "c"))
    ordered = keep_group_indices(before, rotated)
    assert ordered == placement(group([2], "c"), group([0], "a"), group([1], "b"))
    # one model per device: each group evicts its model, then loads the new one, at one index
    three = Cluster(3, int(2.5 * GB), devices_per_node=3, load_bw_bytes_per_s=1e9)
    steps = transition_steps(three, MODELS, before, ordered)
    assert sorted(steps, key=lambda s: (s.group, s.action)) == [
        Step(0, "evict", "a"), Step(0, "load", "c"),
        Step(1, "evict", "b"), Step(1, "load", "a"),
        Step(2, "evict", "c"), Step(2, "load", "b"),
    ]  # fmt: skip
    for g in range(3):
        assert steps.index(Step(g, "evict", before.groups[g].models[0])) < steps.index(
            Step(g, "load", ordered.groups[g].models[0])
        )
    # devices 0 and 1 become one pipeline: the kept group on device 2 keeps index 0
    merged = placement(group([0, 1], "a", config=PIPE), group([2], "b"))
    assert keep_group_indices(before, merged) == placement(
        group([2], "b"), group([0, 1], "a", config=PIPE)
    )


def test_a_measured_load_longer_than_the_window_keeps_the_placement() -> None:
    # the agents measured 1000 s per load of b: it would serve nothing of the 60 s window
    decision = decide_live(flip_inputs({"b": 1000.0}), SETTINGS)
    assert decision.action == "keep", decision.reason
    assert decision.placement == BOTH_A
    assert decision.steps == ()
    # the same with a measured 1 s load moves
    assert decide_live(flip_inputs({"b": 1.0}), SETTINGS).action == "switch"


def test_measured_load_times_stand_for_the_bandwidth_by_weight_size() -> None:
    small = model("s", 0.5, [[0.1]], weight_bytes=1 * GB)
    cluster = measured_cluster(CLUSTER, (*MODELS, small), {"a": 7.0})
    assert isinstance(cluster, MeasuredLoadCluster)
    assert cluster.load_time_s(2 * GB) == 7.0  # a (and b, c: same size)
    assert cluster.load_time_s(1 * GB) == pytest.approx(1.0)  # s: 1 GB at 1 GB/s
    assert measured_cluster(CLUSTER, MODELS, {}) is CLUSTER


def test_the_last_replica_of_a_busy_model_stays() -> None:
    # c turned hot (30 req/s) with no replica; a still had 2 requests and only one replica
    inputs = LiveInputs(
        CLUSTER,
        MODELS,
        placement(group([0], "a"), group([1], "b")),
        {"a": [2, 2, 2], "b": [0, 0, 0], "c": [0, 0, 1800]},
        {},
    )
    decision = decide_live(inputs, SETTINGS)
    assert decision.action == "switch", decision.reason
    assert decision.placement.hosts("a") and decision.placement.hosts("c")
    assert "kept the last replica of a" in decision.reason
    assert Step(1, "evict", "b") in decision.steps


def test_two_busy_last_replicas_keep_the_placement() -> None:
    current = placement(group([0], "a"), group([1], "b"))
    inputs = LiveInputs(
        CLUSTER, MODELS, current, {"a": [2, 2, 2], "b": [3, 3, 3], "c": [0, 0, 1800]}, {}
    )
    decision = decide_live(inputs, SETTINGS)
    assert decision.action == "keep"
    assert decision.placement == current
    assert "kept the last replica" in decision.reason


A_AND_B = placement(group([0], "a"), group([1], "b"))


def after_switch_to_both_a(counts: dict[str, list[int]]) -> LiveInputs:
    """The window after a switch from a and b to a on both devices."""
    return LiveInputs(
        CLUSTER, MODELS, BOTH_A, counts, {}, 1, window_switches=(AppliedSwitch(A_AND_B, BOTH_A),)
    )


def test_a_switch_that_did_worse_than_keeping_is_reverted() -> None:
    # then b got 6 req/s: none of it served
    decision = decide_live(after_switch_to_both_a({"a": [300, 300], "b": [0, 360]}), SETTINGS)
    assert decision.action == "revert", decision.reason
    assert decision.placement == A_AND_B
    assert decision.steps == (Step(1, "evict", "a"), Step(1, "load", "b"))
    assert decision.replayed_switch is not None and decision.replayed_keep is not None
    # b is 360 of the 660 replayed requests and lost all of them; a is served either way
    assert decision.replayed_switch == pytest.approx(300 / 660, abs=0.01)
    assert decision.replayed_keep > 0.95


def test_a_switch_at_a_drift_check_is_judged_on_the_requests_after_it() -> None:
    """The switch came 30 s into the last window; b had 24 requests then, all
    after it, and a 570 in the window, 150 after it."""
    counts = {"a": [300, 570], "b": [300, 24]}
    whole = dataclasses.replace(
        after_switch_to_both_a(counts), window_switches=(AppliedSwitch(A_AND_B, BOTH_A),)
    )
    assert decide_live(whole, SETTINGS).action != "revert"  # 24 of 594 lost: within the margin
    checked = AppliedSwitch(A_AND_B, BOTH_A, at_s=30.0, counts={"a": 150, "b": 24})
    decision = decide_live(dataclasses.replace(whole, window_switches=(checked,)), SETTINGS)
    assert decision.action == "revert", decision.reason
    # the 174 requests of the last 30 s replayed: b's 24 lost after the switch
    assert decision.replayed_switch == pytest.approx(150 / 174, abs=0.01)
    assert decision.replayed_keep is not None and decision.replayed_keep > 0.95
    with pytest.raises(ValueError, match=r"^counts: a switch inside a window needs"):
        AppliedSwitch(A_AND_B, BOTH_A, at_s=30.0)


A_AND_C = placement(group([0], "a"), group([1], "c"))


def two_switches(
    counts: dict[str, list[int]],
    placements: tuple[Placement, Placement, Placement],
    after_check: dict[str, int],
) -> LiveInputs:
    """Two windows observed; in the last, a switch from ``placements[0]`` to
    ``placements[1]`` at its start and one to ``placements[2]`` (serving
    now) 30 s in, with ``after_check`` requests after it."""
    first, second, serving = placements
    switches = (
        AppliedSwitch(first, second),
        AppliedSwitch(second, serving, at_s=30.0, counts=after_check),
    )
    return LiveInputs(CLUSTER, MODELS, serving, counts, {}, 2, window_switches=switches)


def test_a_window_of_switches_that_did_worse_than_keeping_is_reverted_whole() -> None:
    """At the last window's start a and b were switched to a on both devices,
    then 30 s in to a and c. In the first 30 s b had 120 requests, none after;
    c had 60, all after. The last switch alone paid (c served), the two did not
    (b's 120 lost), so the revert goes back to a and b."""
    counts = {"a": [300, 300], "b": [300, 120], "c": [0, 60]}
    inputs = two_switches(counts, (A_AND_B, BOTH_A, A_AND_C), {"a": 150, "b": 0, "c": 60})
    decision = decide_live(inputs, SETTINGS)
    assert decision.action == "revert", decision.reason
    assert decision.placement == A_AND_B
    assert "after its 2 switches" in decision.reason
    # 480 requests replayed: the switches lose b's 120 and c's first ones while c loads
    # (2 s at 2 req/s); keeping a and b loses c's 60
    assert decision.replayed_switch == pytest.approx(356 / 480, abs=0.01)
    assert decision.replayed_keep == pytest.approx(420 / 480, abs=0.01)
    # judged alone, the last switch is no revert
    last = dataclasses.replace(inputs, window_switches=inputs.window_switches[1:])
    assert decide_live(last, SETTINGS).action != "revert"


def test_the_last_switch_of_a_window_is_reverted_alone_when_only_it_lost() -> None:
    """a and c were switched to a and b at the window's start (b turned hot),
    then 30 s in to a on both devices; b kept its 5 req/s. The two switches
    together beat keeping a and c, the last alone lost b's last 150."""
    counts = {"a": [300, 300], "b": [0, 300], "c": [300, 0]}
    inputs = two_switches(counts, (A_AND_C, A_AND_B, BOTH_A), {"a": 150, "b": 150, "c": 0})
    decision = decide_live(inputs, SETTINGS)
    assert decision.action == "revert", decision.reason
    assert decision.placement == A_AND_B
    assert "after its last switch" in decision.reason
    assert decision.replayed_switch == pytest.approx(150 / 300, abs=0.01)
    assert decision.replayed_keep == pytest.approx(1.0)


@pytest.mark.parametrize(
    ("switches", "error"),
    [
        (
            (AppliedSwitch(A_AND_B, A_AND_C), AppliedSwitch(A_AND_B, BOTH_A, 30.0, {})),
            r"window_switches\[0\]\.after: must be the placement the next switch left",
        ),
        ((AppliedSwitch(A_AND_B, A_AND_C),), r"window_switches\[0\]\.after: .*the serving one"),
        (
            (AppliedSwitch(A_AND_B, A_AND_C, 30.0, {}), AppliedSwitch(A_AND_C, BOTH_A, 30.0, {})),
            r"window_switches\[1\]\.at_s: must be after the switch before it",
        ),
        (
            (AppliedSwitch(A_AND_B, A_AND_C), AppliedSwitch(A_AND_C, BOTH_A, 30.0, {"a": 301})),
            r"window_switches\[1\]\.counts\.a: 301 requests after it, more than after",
        ),
    ],
    ids=["broken-chain", "not-to-current", "same-instant", "more-requests"],
)
def test_window_switches_must_chain_to_the_serving_placement(
    switches: tuple[AppliedSwitch, ...], error: str
) -> None:
    counts = {"a": [300], "b": [0], "c": [0]}
    with pytest.raises(ValueError, match=error):
        LiveInputs(CLUSTER, MODELS, BOTH_A, counts, {}, window_switches=switches)


def test_a_switch_that_did_as_predicted_is_not_reverted() -> None:
    decision = decide_live(after_switch_to_both_a({"a": [300, 600], "b": [300, 0]}), SETTINGS)
    assert decision.action != "revert"
    assert decision.replayed_switch is None


def test_the_switch_cap_holds() -> None:
    inputs = LiveInputs(CLUSTER, MODELS, BOTH_A, {"a": [0], "b": [900]}, {}, switches_last_hour=6)
    decision = decide_live(inputs, SETTINGS)
    assert decision.action == "hold"
    assert "max_switches_per_hour 6" in decision.reason
    assert decision.forecast_rps == {"a": 0.0, "b": pytest.approx(15.0, rel=0.2), "c": 0.0}


def test_settings_name_the_bad_field() -> None:
    with pytest.raises(ValueError, match=r"^forecast: unknown forecaster"):
        LiveSettings(forecaster="crystal-ball")
    with pytest.raises(ValueError, match=r"^revert_margin: must be a number in \[0, 1\], got 2.0"):
        LiveSettings(revert_margin=2.0)
    with pytest.raises(ValueError, match=r"^min_gain: must be a number in \[0, 1\], got True"):
        LiveSettings(min_gain=True)
    for bad in (-1, 2.5, False):
        with pytest.raises(ValueError, match=r"^max_switches_per_hour: must be an integer >= 0"):
            LiveSettings(max_switches_per_hour=bad)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"^window_s"):
        LiveSettings(window_s=0.0)
    for bad in (-1, 12, True, 1.5):  # 11 at most: 12 windows of history
        with pytest.raises(ValueError, match=r"^trust_windows"):
            LiveSettings(trust_windows=bad)  # type: ignore[arg-type]


def test_trust_windows_reach_the_loop_options() -> None:
    assert LiveSettings().replan_options(seed=0).trust_windows == 0
    options = LiveSettings(trust_windows=3).replan_options(seed=0)
    assert options.trust_windows == 3 and options.information == "forecast" and options.hedge


def test_a_forecast_that_keeps_missing_loses_its_say() -> None:
    """a and b take turns: each window plan (forecaster last) bet on the
    wrong one, so with trust_windows only the history plan is a candidate."""
    flipping = LiveInputs(
        CLUSTER, MODELS, BOTH_A, {"a": [600, 0, 600, 0], "b": [0, 600, 0, 600]}, {}
    )
    trusting = decide_live(flipping, SETTINGS)
    assert "window plan" in trusting.reason and "distrusted" not in trusting.reason
    wary = decide_live(flipping, dataclasses.replace(SETTINGS, trust_windows=3))
    assert "forecast distrusted" in wary.reason and "history plan" in wary.reason


WATCHING = dataclasses.replace(SETTINGS, react_drift=0.25, nowcast_s=10.0)


def watch_b(so_far_b: int, so_far_a: int = 0, **changes: Any) -> WatchInputs:
    """Both devices serve a, which had 10 req/s for two windows; 20 s into
    the third window a had ``so_far_a`` requests and b ``so_far_b``."""
    live = LiveInputs(CLUSTER, MODELS, BOTH_A, {"a": [600, 600], "b": [0, 0]}, {})
    return dataclasses.replace(WatchInputs(live, {"a": so_far_a, "b": so_far_b}, 20.0), **changes)


def test_the_watch_switches_when_the_mix_drifts_inside_the_window() -> None:
    outcome = decide_watch(watch_b(300), WATCHING)
    # nowcast (seen + forecast x 10 s) / (20 s + 10 s): a (0 + 100) / 30, b 300 / 30;
    # shares (1, 0) -> (0.25, 0.75): total variation 0.75 (the rate grew 1/3)
    assert outcome.drift == pytest.approx(0.75, abs=0.01)
    decision = outcome.decision
    assert decision is not None and decision.action == "switch", outcome.note
    # (the nowcast's elapsed time ends at the last request drawn before the check)
    assert re.search(r"the mix drifted by 0\.7\d* > 0\.25 since planned", decision.reason)
    assert decision.placement.hosts("b") and decision.placement.hosts("a")
    validate(CLUSTER, MODELS, decision.placement)
    assert decision.forecast_rps == {
        "a": pytest.approx(10 / 3, rel=0.02), "b": pytest.approx(10, rel=0.02), "c": 0.0,
    }  # fmt: skip
    assert [(s.action, s.model) for s in decision.steps] == [("evict", "a"), ("load", "b")]
    assert decision.candidate_attainment is not None and decision.keep_attainment is not None
    assert decision.candidate_attainment > decision.keep_attainment + WATCHING.min_gain


def test_the_watch_checks_against_the_mix_it_is_given() -> None:
    steady = decide_watch(watch_b(0, so_far_a=200), WATCHING)
    assert steady.decision is None  # (200 + 100) / 30 = 10 req/s of a, as forecast
    assert steady.drift == pytest.approx(0.0, abs=0.01)
    assert re.search(r"drifted by 0\.00\d* <= react_drift 0\.25$", steady.note)
    # the same window after a check that already saw b's share: no drift left
    seen = decide_watch(watch_b(300, mix={"a": 10 / 3, "b": 10.0}), WATCHING)
    assert seen.decision is None and seen.drift == pytest.approx(0.0, abs=0.01)
    # an empty window so far, the cap, the watch off: nothing checked
    assert decide_watch(watch_b(0), WATCHING).drift is None
    capped = decide_watch(
        watch_b(300, live=dataclasses.replace(watch_b(300).live, switches_last_hour=6)), WATCHING
    )
    assert capped.decision is None and "max_switches_per_hour 6" in capped.note
    assert decide_watch(watch_b(300), SETTINGS).note == "the watch is off (react_drift 0)"


def test_watch_settings_are_checked_and_give_the_check_instants() -> None:
    with pytest.raises(ValueError, match=r"^react_drift: watching .* needs nowcast_s > 0"):
        LiveSettings(react_drift=0.25)
    with pytest.raises(ValueError, match=r"^nowcast_s: must be in \[0, window_s 60\)"):
        LiveSettings(nowcast_s=60.0)
    with pytest.raises(ValueError, match=r"^react_drift: must be a number in \[0, 10\]"):
        LiveSettings(react_drift=-0.1, nowcast_s=10.0)
    assert WATCHING.check_offsets_s() == (10.0, 20.0, 30.0, 40.0, 50.0)
    assert dataclasses.replace(WATCHING, nowcast_s=25.0).check_offsets_s() == (25.0, 50.0)
    assert SETTINGS.check_offsets_s() == ()
    options = WATCHING.replan_options(seed=0)
    assert (options.react_drift, options.nowcast_s) == (0.25, 10.0)


def test_observed_workload_draws_a_partly_observed_last_window_in_its_first_seconds() -> None:
    work = observed_workload({"a": [2, 50]}, 10.0, 20.0, seed=1, last_s=3.0)
    last = work.arrivals_s[work.arrivals_s >= 10.0]
    assert last.size == 50 and last.max() < 13.0
    with pytest.raises(ValueError, match=r"^last_s"):
        observed_workload({"a": [2]}, 10.0, 20.0, seed=1, last_s=11.0)


def test_observed_workload_draws_each_window_s_count_inside_it() -> None:
    work = observed_workload({"a": [3, 0, 2], "b": [1, 1, 0]}, 10.0, 40.0, seed=5)
    assert work.model_names == ("a", "b")
    assert work.duration_s == 40.0
    windows = (work.arrivals_s // 10).astype(int)
    for m, expected in enumerate(([3, 0, 2, 0], [1, 1, 0, 0])):
        assert np.bincount(windows[work.model_ids == m], minlength=4).tolist() == expected
    again = observed_workload({"a": [3, 0, 2], "b": [1, 1, 0]}, 10.0, 40.0, seed=5)
    assert np.array_equal(work.arrivals_s, again.arrivals_s)


# Transition orders: random placements on 4 devices of 10 units, models of 1..6 units.
UNIT = 10**6
PROPERTY_CLUSTER = Cluster(4, 10 * UNIT, devices_per_node=4)
LAYOUTS = (
    ((0,), (1,), (2,), (3,)),
    ((0, 1), (2,), (3,)),
    ((0, 1), (2, 3)),
)


@st.composite
def fitting_placement(draw: st.DrawFn, models: tuple[ModelSpec, ...]) -> Placement:
    layout = draw(st.sampled_from(LAYOUTS))
    index = models_by_name(models)
    groups = []
    for devices in layout:
        config = SERIAL if len(devices) == 1 else PIPE
        names = draw(st.permutations([m.name for m in models]))
        hosted: list[str] = []
        for name in names[: draw(st.integers(0, len(names)))]:
            candidate = Group(devices, config, (*hosted, name))
            if max(stage_memory_bytes(candidate, index)) <= PROPERTY_CLUSTER.device_mem_bytes:
                hosted.append(name)
        groups.append(Group(devices, config, tuple(hosted)))
    return Placement(tuple(groups))


def _usage(
    resident: Mapping[tuple[tuple[int, ...], ParallelConfig], set[str]],
    index: Mapping[str, ModelSpec],
) -> dict[int, int]:
    used: dict[int, int] = {}
    for (devices, config), names in resident.items():
        if names:
            group = Group(devices, config, tuple(sorted(names)))
            for stage, bytes_ in enumerate(stage_memory_bytes(group, index)):
                for device in group.stage_devices(stage):
                    used[device] = used.get(device, 0) + bytes_
    return used


@settings(max_examples=150, deadline=None)
@given(data=st.data(), sizes=st.lists(st.integers(1, 6), min_size=2, max_size=5))
def test_transition_steps_never_exceed_memory(data: st.DataObject, sizes: list[int]) -> None:
    models = tuple(
        multi_config_model(f"m{i}", 1.0, {SERIAL: [[0.1]], PIPE: [[0.05, 0.05]]}, size * UNIT)
        for i, size in enumerate(sizes)
    )
    before = data.draw(fitting_placement(models))
    after = data.draw(fitting_placement(models))
    validate(PROPERTY_CLUSTER, models, before)
    validate(PROPERTY_CLUSTER, models, after)
    index = models_by_name(models)
    resident = {(g.devices, g.config): set(g.models) for g in before.groups}
    for step in transition_steps(PROPERTY_CLUSTER, models, before, after):
        if step.action == "load":
            where = after.groups[step.group]
            names = resident.setdefault((where.devices, where.config), set())
            assert step.model not in names
            names.add(step.model)
        else:
            where = before.groups[step.group]
            names = resident[(where.devices, where.config)]
            assert step.model in names
            names.remove(step.model)
        used = _usage(resident, index)
        assert max(used.values(), default=0) <= PROPERTY_CLUSTER.device_mem_bytes, step
    final = {key: names for key, names in resident.items() if names}
    assert final == {(g.devices, g.config): set(g.models) for g in after.groups if g.models}
