"""Re-placement on hand-made traces with known right answers: move when
popularity flips, stay when the load outlasts the window, hedge a window
plan that chases a burst with the plan for all traffic so far, never read
the future in forecast mode, never switch on stationary traffic."""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
import pytest

from planner.codec import encode
from planner.domain import Cluster, ModelSpec, Workload
from planner.replan.forecast import LastWindow
from planner.replan.loop import replan
from planner.replan.options import ReplanOptions, ReplanResult
from planner.replan.solvecache import SolveCache
from planner.replan.transition import SwitchCost
from planner.sim import Instance, SimOptions
from planner.workloads import ProcessSpec, process_workload
from tests.unit.simulator_cases import GB, group, model, placement

W = 10.0
# One device holding one of a (4 GB) and b (1 GB) at a time (not both).
MODELS = [
    model("a", 1.0, [[0.1]], weight_bytes=4 * GB),
    model("b", 1.0, [[0.1]], weight_bytes=1 * GB),
]
FAST = Cluster(1, 9 * GB // 2, devices_per_node=1, load_bw_bytes_per_s=1e9)  # b loads in 1 s
SLOW = dataclasses.replace(FAST, load_bw_bytes_per_s=0.08e9)  # b loads in 12.5 s > W


def trace(windows: list[str]) -> Workload:
    """Window ``k`` of ``W`` s carries the models named in ``windows[k]``:
    ``a`` once a second, ``b`` every 0.25 s."""
    times: dict[str, list[float]] = {"a": [], "b": []}
    for k, names in enumerate(windows):
        if "a" in names:
            times["a"] += list(k * W + np.arange(10.0))
        if "b" in names:
            times["b"] += list(k * W + 0.25 * np.arange(40))
    return Workload.merge(times, W * len(windows))


def options(**changes: Any) -> ReplanOptions:
    base = ReplanOptions(window_s=W, time_limit_s=10.0)
    return dataclasses.replace(base, **changes)


def replan_on(
    cluster: Cluster,
    models: list[ModelSpec],
    workload: Workload,
    options: ReplanOptions,
    warmup_s: float = W,
    **kwargs: Any,
) -> ReplanResult:
    """Re-place, scored without the first ``warmup_s`` seconds."""
    instance = Instance(cluster, tuple(models), workload, SimOptions(warmup_s=warmup_s))
    return replan(instance, options, **kwargs)


def test_periodic_moves_when_popularity_flips() -> None:
    result = replan_on(FAST, MODELS, trace(["a", "b"]), options())
    assert result.plan.steps == (
        (0.0, placement(group([0], "a"))),
        (W, placement(group([0], "b"))),
    )
    assert [w.action for w in result.windows] == ["bootstrap", "switch"]
    assert result.switches == 1
    assert result.cost == SwitchCost(1, 1.0, 1.0)
    # window 1 is scored: b's requests at 10, 10.25, 10.5, 10.75 find it loading
    assert result.unavailable_requests == 4
    assert result.attainment == 36 / 40


def test_no_move_when_the_load_outlasts_the_window() -> None:
    # Window 1 has a (10 requests) and b (40): b would win, but its 12.5 s
    # load covers the whole window, so moving serves nothing there.
    result = replan_on(SLOW, MODELS, trace(["a", "ab"]), options())
    assert [w.action for w in result.windows] == ["bootstrap", "keep"]
    assert result.windows[1].reason == "periodic re-plan; moving does not pay"
    assert result.windows[1].target_attainment == 0.0
    assert result.plan.steps == ((0.0, placement(group([0], "a"))),)
    assert result.attainment == 10 / 50
    moved = replan_on(FAST, MODELS, trace(["a", "ab"]), options())
    assert moved.switches == 1 and moved.attainment == 36 / 50


def test_forecast_mode_reacts_when_a_model_with_no_replica_turns_hot() -> None:
    # a arrives once a second throughout; b only from 25 s, every 0.25 s.
    # The forecast (last window) sees no b, so the window plans keep a.
    workload = Workload.merge(
        {"a": list(np.arange(30.0)), "b": list(25 + 0.25 * np.arange(20))}, 3 * W
    )
    forecast = options(information="forecast", forecaster=LastWindow())
    stays = replan_on(FAST, MODELS, workload, forecast)
    assert stays.plan.steps == ((0.0, placement(group([0], "a"))),)
    assert stays.attainment == 20 / 40  # b is never served
    # Reacting at b's 4th request (25.75 s) moves the device to b, which
    # serves from 26.75 s (1 s load). Scored: a's 10 in window 1 and 20..25
    # s (6); b's 13 requests from 26.75 s.
    reacts = replan_on(FAST, MODELS, workload, dataclasses.replace(forecast, react_after=4))
    assert reacts.plan.steps == (
        (0.0, placement(group([0], "a"))),
        (25.75, placement(group([0], "b"))),
    )
    assert [(w.window, w.start_s, w.action) for w in reacts.windows] == [
        (0, 0.0, "bootstrap"),
        (1, 10.0, "keep"),
        (2, 20.0, "keep"),
        (2, 25.75, "switch"),
        (2, 29.0, "keep"),  # a's 4th request since: its 4 s load would not pay
    ]
    assert reacts.windows[3].reason == (
        "b had 4 requests and no replica; loaded into group 0 in place of a"
    )
    assert reacts.windows[4].reason == "a had 4 requests and no replica; moving does not pay"
    assert reacts.switches == 1 and reacts.cost == SwitchCost(1, 1.0, 1.0)
    assert reacts.attainment == (16 + 13) / 40
    # the reaction read nothing after 25.75 s: cutting the trace there
    # gives the same decision
    cut = Workload.merge({"a": list(np.arange(26.0)), "b": list(25 + 0.25 * np.arange(4))}, 3 * W)
    early = replan_on(FAST, MODELS, cut, dataclasses.replace(forecast, react_after=4))
    assert early.plan.steps == reacts.plan.steps


def test_forecast_mode_never_reads_the_future() -> None:
    # with the hedge on: its history plan is solved on windows 0 .. k - 1 only
    stays, flips = trace(["a", "a", "a"]), trace(["a", "a", "b"])
    forecast = options(information="forecast", forecaster=LastWindow(), hedge=True)
    cache = SolveCache()
    seen = [replan_on(FAST, MODELS, w, forecast, cache=cache) for w in (stays, flips)]
    assert seen[0].plan == seen[1].plan
    assert [encode(w) for w in seen[0].windows] == [encode(w) for w in seen[1].windows]
    assert seen[1].switches == 0
    assert [w.candidate for w in seen[1].windows] == [None, "window", "window"]
    # the oracle sees window 2 and moves: the two traces do differ there
    oracle = [replan_on(FAST, MODELS, w, options(), cache=cache) for w in (stays, flips)]
    assert (oracle[0].switches, oracle[1].switches) == (0, 1)
    assert oracle[1].plan.steps[1][0] == 2 * W


def test_triggered_forecast_follows_a_flip_one_window_late() -> None:
    result = replan_on(
        FAST,
        MODELS,
        trace(["a", "a", "b", "b", "b"]),
        options(information="forecast", forecaster=LastWindow(), trigger="triggered"),
    )
    assert [w.action for w in result.windows] == ["bootstrap", "keep", "keep", "switch", "keep"]
    assert result.windows[1].reason == "traffic stable" and not result.windows[1].solved
    # window 3 forecast: b 4 rps (last window) and a at its floor, a quarter
    # of its mean so far (1, 1, 0 rps): 1/6; the total went 1 -> 25/6 rps,
    # a drift of 19/6 (more than the mix's total variation, 24/25)
    assert result.windows[3].reason == (
        "traffic drifted by 3.17 > 0.25; 1/1 blocks of the window plan moved"
    )
    assert result.plan.steps[1] == (3 * W, placement(group([0], "b")))


# b (1 GB, loads in 1 s) is requested every 0.25 s in every window; the
# burst model named for a window, a or c (4 GB each, 4 s to load), every
# 0.2 s. The device holds one model at a time.
BURSTS = [*MODELS, model("c", 1.0, [[0.1]], weight_bytes=4 * GB)]


def bursts(windows: str) -> Workload:
    """Window ``k`` of ``W`` s carries b and the burst model ``windows[k]``."""
    times: dict[str, list[float]] = {"a": [], "b": [], "c": []}
    for k, name in enumerate(windows):
        times["b"] += list(k * W + 0.25 * np.arange(40))
        times[name] += list(k * W + 0.2 * np.arange(50))
    return Workload.merge(times, W * len(windows))


def test_hedge_moves_to_the_history_plan_when_the_window_plan_chases_a_burst() -> None:
    # Bootstrap: c (50 requests) beats b (40). Window 1 (a 50, b 40): the
    # window plan is a, which loads in 4 s and serves the 30 requests from
    # 14 s on; the history plan (windows 0-1: b 80, a 50, c 50) is b, which
    # loads in 1 s and serves 36. Window 2 (c 50, b 40): the window plan c
    # would serve 30 after its load; the history plan (b 120, c 100, a 50) is
    # b, already in place: keep it and serve all 40.
    work = bursts("cac")
    hedged = replan_on(FAST, BURSTS, work, options())
    assert [(w.action, w.candidate) for w in hedged.windows] == [
        ("bootstrap", None),
        ("switch", "history"),
        ("keep", "window"),
    ]
    assert hedged.windows[1].reason == "periodic re-plan; 1/1 blocks of the history plan moved"
    assert hedged.windows[1].switch_attainment == 36 / 90
    assert hedged.plan.steps == (
        (0.0, placement(group([0], "c"))),
        (W, placement(group([0], "b"))),
    )
    assert hedged.attainment == (36 + 40) / 180
    # Without the hedge it chases every burst: a in window 1, c in window 2,
    # 30 requests served in each.
    chasing = replan_on(FAST, BURSTS, work, options(hedge=False))
    assert [(w.action, w.candidate) for w in chasing.windows] == [
        ("bootstrap", None),
        ("switch", "window"),
        ("switch", "window"),
    ]
    assert [w.switch_attainment for w in chasing.windows[1:]] == [30 / 90, 30 / 90]
    assert chasing.attainment == (30 + 30) / 180
    assert chasing.to_json()["windows"][1]["candidate"] == "window"


def test_a_forecast_that_keeps_missing_loses_its_say_to_history() -> None:
    # b (40 requests) and a (10) take turns by window, so the last window
    # always forecasts the wrong model. The history plan is b throughout
    # (b has more traffic so far at every window).
    work = trace(["b", "a", "b", "a", "b"])
    forecast = options(information="forecast", forecaster=LastWindow(), forecast_floor=0.0)
    chasing = replan_on(FAST, MODELS, work, forecast)
    # Window 2 and 4 forecast a (window 1, 3): a is judged better than
    # keeping b, and the device serves a while b's 40 requests come.
    assert [(w.action, w.candidate) for w in chasing.windows] == [
        ("bootstrap", None),
        ("keep", "window"),
        ("switch", "window"),
        ("switch", "window"),
        ("switch", "window"),
    ]
    assert chasing.attainment == 0.0
    # With trust: at window 2 the past window 1 had both plans b (no
    # edge); at window 3 window 2's plan a served 0 of b's 40 where the
    # history plan b served all 40; at window 4 that is still in the last
    # 2 windows, so only the history plan b is a candidate and b stays.
    trusting = replan_on(FAST, MODELS, work, dataclasses.replace(forecast, trust_windows=2))
    assert [(w.action, w.candidate) for w in trusting.windows] == [
        ("bootstrap", None),
        ("keep", "window"),
        ("switch", "window"),
        ("switch", "history"),
        ("keep", "history"),
    ]
    assert trusting.windows[3].reason == (
        "periodic re-plan; forecast distrusted (its plans served 40 fewer requests);"
        " 1/1 blocks of the history plan moved"
    )
    assert trusting.attainment == 40 / 100  # window 4's b, served from its start
    # a trust window of 1 forgets window 2 at window 4 (window 3's plans
    # were both b): it chases a again
    short = replan_on(FAST, MODELS, work, dataclasses.replace(forecast, trust_windows=1))
    assert [w.candidate for w in short.windows][-1] == "window"
    assert short.attainment == 0.0


def test_headroom_plans_and_judges_for_more_traffic_than_forecast() -> None:
    # a: one request every 0.125 s (8 rps, CV 0) on a device serving 10 rps.
    steady = Workload.merge({"a": [0.125 * k for k in range(160)]}, 2 * W)
    forecast = options(information="forecast", forecaster=LastWindow())
    plain = replan_on(FAST, MODELS, steady, forecast)
    assert plain.windows[1].keep_attainment == 1.0
    # judged at twice the forecast (16 rps) the device cannot keep up
    hedged = replan_on(FAST, MODELS, steady, dataclasses.replace(forecast, headroom=1.0))
    keep = hedged.windows[1].keep_attainment
    assert keep is not None and keep < 0.8
    assert plain.attainment == hedged.attainment == 1.0


def _stationary_models() -> list[ModelSpec]:
    return [model(name, 0.5, [[0.05]], weight_bytes=2 * GB) for name in ("x", "y", "z")]


def test_triggered_makes_no_switch_on_a_stationary_workload() -> None:
    cluster = Cluster(2, 5 * GB, devices_per_node=2, load_bw_bytes_per_s=1e9)
    rates = {"x": ProcessSpec(18.0), "y": ProcessSpec(9.0), "z": ProcessSpec(6.0)}
    # 33 rps on two devices of 20 rps each: busy, so plans are judged near capacity
    work = process_workload(rates, 8 * 30.0, seed=5)
    for information in ("forecast", "oracle"):
        result = replan_on(
            cluster,
            _stationary_models(),
            work,
            ReplanOptions(
                window_s=30.0,
                information=information,
                trigger="triggered",
                time_limit_s=10.0,
            ),
            warmup_s=30.0,
        )
        assert result.switches == 0, information
        assert len(result.plan.steps) == 1
        assert all(w.action in ("bootstrap", "keep") for w in result.windows)
        assert result.cost == SwitchCost()


def test_result_json_names_the_information_mode() -> None:
    result = replan_on(FAST, MODELS, trace(["a", "b"]), options(information="forecast"))
    data = result.to_json(include_plan=True)
    assert data["information"] == "forecast"
    assert data["forecaster"] == "ewma(0.5)"
    assert data["strategy"] == "periodic/forecast ewma(0.5)"
    assert data["windows"][0]["action"] == "bootstrap"
    assert len(data["plan"]["steps"]) == 1 + result.switches
    oracle = replan_on(FAST, MODELS, trace(["a", "b"]), options()).to_json()
    assert (oracle["information"], oracle["forecaster"]) == ("oracle", None)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"window_s": -1.0}, "window_s: must be a finite number > 0, got -1.0"),
        ({"window_s": 0}, "window_s: must be a finite number > 0, got 0"),
        ({"information": "psychic"}, "information: must be one of oracle, forecast"),
        ({"trigger": "sometimes"}, "trigger: must be one of periodic, triggered"),
        ({"horizon_windows": 0}, "horizon_windows: must be an integer >= 1, got 0"),
        ({"min_gain": 2.0}, r"min_gain: must be a number in \[0, 1\], got 2.0"),
        ({"drift_threshold": -1}, "drift_threshold: must be a number >= 0, got -1"),
        ({"headroom": -0.5}, "headroom: must be a number >= 0, got -0.5"),
        ({"forecast_floor": -1}, "forecast_floor: must be a number >= 0, got -1"),
        ({"time_limit_s": 0}, "time_limit_s: must be a finite number > 0, got 0"),
        ({"time_limit_s": float("inf")}, "time_limit_s: must be a finite number > 0, got inf"),
        ({"solver": "magic"}, "solver: must be one of greedy"),
        ({"hedge": "yes"}, "hedge: must be a bool, got 'yes'"),
        (
            {"react_after": 1, "information": "forecast"},
            "react_after: must be 0 or an integer >= 2, got 1",
        ),
        ({"react_after": 4}, r"react_after: reactions are for forecast mode \(oracle knows"),
        (
            {"trust_windows": -1, "information": "forecast"},
            "trust_windows: must be an integer >= 0, got -1",
        ),
        ({"trust_windows": 2}, "trust_windows: weighing the forecast against history needs"),
        (
            {"trust_windows": 2, "information": "forecast", "hedge": False},
            "trust_windows: weighing the forecast against history needs",
        ),
    ],
)
def test_bad_options(changes: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=f"^{message}"):
        options(**changes)


def test_window_longer_than_the_trace() -> None:
    with pytest.raises(
        ValueError, match=r"^window_s: 30.0 s is longer than the workload \(20.0 s\)"
    ):
        replan_on(FAST, MODELS, trace(["a", "b"]), options(window_s=30.0))


def test_zero_bandwidth_is_rejected() -> None:
    with pytest.raises(ValueError, match=r"^load_bw_bytes_per_s: must be > 0, got 0"):
        dataclasses.replace(FAST, load_bw_bytes_per_s=0)


def test_a_nowcast_reaction_evicts_the_model_that_turned_cold() -> None:
    # Three 2 GB models, room for two. Window 0: a at 4 rps, b at 6 rps.
    # Window 1: b stops, a goes to 6 rps and c turns on at 6 rps.
    models = [model(name, 0.5, [[0.01]], weight_bytes=2 * GB) for name in "abc"]
    cluster = Cluster(1, 9 * GB // 2, devices_per_node=1, load_bw_bytes_per_s=20e9)
    workload = Workload.merge(
        {
            "a": [*(0.25 * np.arange(40)), *(W + np.arange(60) / 6)],
            "b": list(np.arange(60) / 6),
            "c": list(W + 0.01 + np.arange(60) / 6),
        },
        2 * W,
    )
    forecast = options(information="forecast", forecaster=LastWindow(), react_after=4)
    # the last window's forecast ranks b (6 rps) over a (4 rps): loading c
    # evicts a, which is hot now, then a's requests evict c, and so on:
    # the reactions thrash and b, which is cold, is never evicted
    blind = replan_on(cluster, models, workload, forecast)
    assert blind.switches >= 10
    assert all("b" in placement.model_names for _, placement in blind.plan.steps)
    # re-estimated from window 1 so far (b: no request since 10 s), b goes
    nowcast = replan_on(cluster, models, workload, dataclasses.replace(forecast, nowcast_s=0.5))
    assert nowcast.plan.steps[-1] == (10.51, placement(group([0], "a", "c")))
    assert nowcast.switches == 1
    assert nowcast.windows[-1].reason == (
        "c had 4 requests and no replica; loaded into group 0 in place of b"
    )
    # scored (window 1): a's 60 and c's 60 but those before c loads at 10.61 s
    assert nowcast.attainment == pytest.approx((60 + 56) / 120)
    assert blind.attainment < 0.5


# Three devices, each holding a or b (4 GB each, 1 s loads). Windows 0-1:
# a at 15 rps, b at 1 rps: a on two devices. Window 2: a at 1 rps, b at 20.
SHIFT_MODELS = [model(name, 1.0, [[0.1]], weight_bytes=4 * GB) for name in "ab"]
SHIFT_CLUSTER = Cluster(3, 9 * GB // 2, devices_per_node=3, load_bw_bytes_per_s=4e9)
SHIFT = Workload.merge(
    {
        "a": [*(np.arange(300) / 15), *(20 + np.arange(10.0))],
        "b": [*np.arange(20.0), *(20 + np.arange(200) / 20)],
    },
    3 * W,
)


def test_forecast_mode_reacts_when_the_mix_drifts_inside_a_window() -> None:
    # The last window's forecast still says a in window 2: the window keeps.
    models, cluster, workload = SHIFT_MODELS, SHIFT_CLUSTER, SHIFT
    forecast = options(information="forecast", forecaster=LastWindow(), nowcast_s=1.0)
    blind = replan_on(cluster, models, workload, forecast)
    two_a = placement(group([0], "b"), group([1], "a"), group([2], "a"))
    assert blind.plan.steps == ((0.0, two_a),)
    # window 2: a's 10 and, of b's 200 on one device (10 rps, 1 s SLO), the
    # 109 that finish by the last deadline (20.1 + 0.1 j <= 30.95)
    assert blind.attainment == (160 + 10 + 109) / 370
    watches = replan_on(cluster, models, workload, dataclasses.replace(forecast, react_drift=0.25))
    # at 21 s (checks every nowcast_s): a's 1 and b's 20 requests in 0.95 s
    # with the forecast (15, 1) worth 1 s give the nowcast (16, 21) / 1.95;
    # its mix a: 0.432 against 0.9375 planned, a drift of 0.505. The re-solve
    # on it (b at 10.8 rps fits one device within the SLO) keeps, and the
    # nowcast becomes the mix planned for. At 25 s: (5 + 15, 100 + 1) /
    # 5.95, a: 0.165 of the mix, a drift of 0.267 (0.242 at 24 s): b moves
    # onto device 2, loaded at 26 s.
    assert [(w.start_s, w.action, w.reason) for w in watches.windows[3:]] == [
        (21.0, "keep", "the mix drifted by 0.505 > 0.25 since planned; moving does not pay"),
        (
            25.0,
            "switch",
            "the mix drifted by 0.267 > 0.25 since planned; "
            "1/1 blocks re-planned on the window's traffic so far",
        ),
    ]
    assert watches.plan.steps == (
        (0.0, two_a),
        (25.0, placement(group([0], "b"), group([1], "a"), group([2], "b"))),
    )
    # b: device 0's 60 finished by 26 s and its 9 queued within the SLO of
    # the 120 arrivals before 26 s, then all 80 on two devices
    assert watches.attainment == (160 + 10 + 60 + 9 + 80) / 370
    # the reactions read nothing after 25 s: cutting the trace there gives
    # the same plan
    cut = Workload.merge(
        {name: list(t[t < 25.0]) for name in "ab" if (t := workload.for_model(name)).size}, 3 * W
    )
    early = replan_on(cluster, models, cut, dataclasses.replace(forecast, react_drift=0.25))
    assert early.plan.steps == watches.plan.steps


def test_nowcast_options_are_checked() -> None:
    with pytest.raises(ValueError, match=r"^nowcast_s: must be a number >= 0"):
        options(nowcast_s=-1.0)
    with pytest.raises(
        ValueError, match=r"^react_replan: re-solving on a reaction needs nowcast_s"
    ):
        options(react_replan=True)
    with pytest.raises(ValueError, match=r"^fill_spare: must be a bool"):
        options(fill_spare=1)
    with pytest.raises(ValueError, match=r"^react_drift: must be a number >= 0"):
        options(react_drift=-0.1)
    with pytest.raises(ValueError, match=r"^react_drift: watching the mix .* needs forecast mode"):
        options(react_drift=0.25, nowcast_s=1.0)
    with pytest.raises(ValueError, match=r"^react_drift: .* and nowcast_s > 0"):
        options(react_drift=0.25, information="forecast")


def test_fill_spare_hosts_a_cold_model_where_memory_is_left() -> None:
    # a (4 GB) and b (1 GB) both fit 6 GB; window 0 has only a's traffic,
    # window 1 only b's: the forecast (last window) gives b no traffic
    roomy = dataclasses.replace(FAST, device_mem_bytes=6 * GB)
    forecast = options(information="forecast", forecaster=LastWindow())
    dropped = replan_on(roomy, MODELS, trace(["a", "b"]), forecast)
    assert dropped.plan.steps == ((0.0, placement(group([0], "a"))),)
    assert dropped.attainment == 0.0  # b's 40 scored requests find no replica
    filled = replan_on(
        roomy, MODELS, trace(["a", "b"]), dataclasses.replace(forecast, fill_spare=True)
    )
    assert filled.plan.steps == ((0.0, placement(group([0], "a", "b"))),)
    assert filled.attainment == 1.0
    # no room: nothing is added
    tight = replan_on(
        FAST, MODELS, trace(["a", "b"]), dataclasses.replace(forecast, fill_spare=True)
    )
    assert tight.plan.steps[0] == (0.0, placement(group([0], "a")))


def test_window_solves_skip_the_certified_bound_unless_asked(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from planner.replan import solvecache

    asked: list[bool] = []
    solve = solvecache.solve

    def recording(instance: Instance, **kwargs: Any) -> Any:
        asked.append(kwargs["options"].certify)
        result = solve(instance, **kwargs)
        assert (result.upper_bound is None) == (not kwargs["options"].certify)
        return result

    monkeypatch.setattr(solvecache, "solve", recording)
    replan_on(FAST, MODELS, trace(["a", "b"]), options())
    assert asked and not any(asked)
    asked.clear()
    replan_on(FAST, MODELS, trace(["a", "b"]), options(solver_options={"certify": True}))
    assert asked and all(asked)
