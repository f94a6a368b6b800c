"""Batch formation and admission against hand-computed pipeline timelines."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from executor.schedule import Schedule


def latency(model: str, rows: int) -> tuple[float, float]:
    """Two stages: 0.1 s and 0.2 s for one row, +0.05 s per extra row (model b x2)."""
    scale = 2.0 if model == "b" else 1.0
    extra = 0.05 * (rows - 1)
    return (scale * (0.1 + extra), scale * (0.2 + extra))


def schedule(policy: str = "fcfs", cap: int = 2) -> Schedule[str]:
    return Schedule(2, latency, lambda _model: cap, policy)


def add(s: Schedule[str], now: float, model: str, deadline: float, name: str) -> float:
    offer = s.offer(now, model, 1, deadline)
    assert offer.admitted, name
    s.commit(offer, model, 1, deadline, name)
    return offer.finish_s


def test_requests_join_the_open_batch_until_it_is_full() -> None:
    s = schedule()
    assert add(s, 0.0, "a", 1.0, "r0") == pytest.approx(0.3)
    # joins: two rows take 0.15 + 0.25
    assert add(s, 0.0, "a", 1.0, "r1") == pytest.approx(0.4)
    # cap 2 reached: new batch after it, stage 0 at 0.15-0.25, stage 1 at 0.4-0.6
    assert add(s, 0.0, "a", 1.0, "r2") == pytest.approx(0.6)
    assert [b.members for b in s.waiting] == [["r0", "r1"], ["r2"]]


def test_join_that_would_break_a_deadline_forms_a_new_batch() -> None:
    s = schedule()
    add(s, 0.0, "a", 0.35, "r0")  # alone it finishes at 0.3
    # joining would finish both at 0.4 > 0.35: a new batch, stage 0 at
    # 0.1-0.2, stage 1 once r0 leaves it at 0.3, until 0.5
    assert add(s, 0.0, "a", 1.0, "r1") == pytest.approx(0.5)
    assert [b.members for b in s.waiting] == [["r0"], ["r1"]]


def test_a_request_that_cannot_make_its_slo_is_rejected_and_changes_nothing() -> None:
    s = schedule()
    add(s, 0.0, "a", 1.0, "r0")
    offer = s.offer(0.0, "b", 1, 0.5)  # b: 0.2 + 0.4 after a's 0.1 / 0.3 -> 0.1+0.2, max(.3,.3)+.4
    assert not offer.admitted
    assert offer.finish_s == pytest.approx(0.7)
    assert [b.members for b in s.waiting] == [["r0"]]
    with pytest.raises(ValueError, match=r"^offer: "):
        s.commit(offer, "b", 1, 0.5, "r1")


def test_started_batches_hold_their_stages_from_when_they_began() -> None:
    s = schedule()
    add(s, 0.0, "a", 1.0, "r0")
    batch = s.take()
    assert batch is not None and s.waiting == []
    s.run(batch, 0, 0.02)  # stage 0 busy until 0.12, stage 1 until 0.32
    assert s.finishes(0.05, []) == pytest.approx([0.32])
    # the started batch cannot be joined: a new one goes 0.12-0.22, 0.32-0.52
    assert add(s, 0.05, "a", 1.0, "r1") == pytest.approx(0.52)
    s.done(batch, 0)  # finished stage 0 at 0.15 (late): ready now, stage 1 0.15-0.35
    assert s.finishes(0.15, []) == pytest.approx([0.35])
    s.run(batch, 1, 0.16)
    s.done(batch, 1)
    assert s.started == []


def test_overdue_stage_is_assumed_to_end_now() -> None:
    s = schedule()
    add(s, 0.0, "a", 1.0, "r0")
    batch = s.take()
    assert batch is not None
    s.run(batch, 1, 0.0)  # stage 1 should end at 0.2 but it is 0.5
    assert s.finishes(0.5, []) == pytest.approx([0.5])


def test_edf_runs_urgent_batches_first_unless_that_breaks_a_waiting_one() -> None:
    s = schedule("edf")
    add(s, 0.0, "a", 2.0, "late")
    # b alone: 0.2 + 0.4 = 0.6 <= 0.7; "late" then ends 0.3 + ... = 0.9 <= 2.0
    assert add(s, 0.0, "b", 0.7, "urgent") == pytest.approx(0.6)
    assert [b.members for b in s.waiting] == [["urgent"], ["late"]]
    first = s.take()
    assert first is not None and first.members == ["urgent"]

    tight = schedule("edf")
    add(tight, 0.0, "a", 0.35, "tight")
    # b would run first (deadline 0.65) and push "tight" to 0.2 + 0.1 .. > 0.35
    offer = tight.offer(0.0, "b", 1, 0.65)
    assert not offer.admitted


def test_slack_runs_the_batch_with_least_slack_first() -> None:
    # "long" (b: 0.2 + 0.4 = 0.6 s) is due at 1.0: slack 0.4; "short" (a:
    # 0.1 + 0.2 = 0.3 s) is due at 0.9: slack 0.6. EDF would run "short"
    # first; least slack first runs "long" (ends 0.6), then "short" (stage 0
    # 0.2-0.3, stage 1 0.6-0.8 <= 0.9).
    for policy, order in (("edf", ["short", "long"]), ("slack", ["long", "short"])):
        s = schedule(policy)
        add(s, 0.0, "a", 0.9, "short")
        add(s, 0.0, "b", 1.0, "long")
        assert [b.members[0] for b in s.waiting] == order, policy
    assert s.finishes(0.0, s.waiting) == pytest.approx([0.6, 0.8])


def test_an_idle_group_admits_even_a_request_predicted_late() -> None:
    s = schedule()
    offer = s.offer(0.0, "a", 1, 0.25)  # alone it ends at 0.3
    assert offer.admitted and offer.finish_s == pytest.approx(0.3)
    s.commit(offer, "a", 1, 0.25, "r0")
    assert not s.offer(0.0, "a", 1, 0.25).admitted  # no longer idle


def test_unknown_policy_is_rejected() -> None:
    with pytest.raises(ValueError, match=r"^policy: unknown 'lifo'"):
        Schedule(1, latency, lambda _m: 1, "lifo")


@given(
    st.lists(
        st.tuples(st.floats(0, 0.05), st.sampled_from("ab"), st.floats(0.2, 2.0)),
        min_size=1,
        max_size=25,
    ),
    st.sampled_from(["fcfs", "edf", "slack"]),
)
def test_admission_never_makes_an_on_time_batch_late(
    arrivals: list[tuple[float, str, float]], policy: str
) -> None:
    # Time passes but nothing starts: waiting batches may drift late on their
    # own, and an idle schedule admits anything.
    s = schedule(policy, cap=3)
    now = 0.0
    for gap, model, slo in arrivals:
        now += gap
        before = dict(zip(map(id, s.waiting), s.finishes(now, s.waiting), strict=True))
        idle = not s.waiting  # nothing ever starts here
        offer = s.offer(now, model, 1, now + slo)
        if not offer.admitted:
            continue
        batch = s.commit(offer, model, 1, now + slo, model)
        after = s.finishes(now, s.waiting)
        assert after[s.waiting.index(batch)] == pytest.approx(offer.finish_s)
        for end, waiting in zip(after, s.waiting, strict=True):
            was_on_time = before.get(id(waiting), 0.0) <= waiting.deadline_s
            if (was_on_time and waiting is not batch) or (waiting is batch and not idle):
                assert end <= waiting.deadline_s + 1e-12
        assert all(b.rows == len(b.members) <= 3 for b in s.waiting)
