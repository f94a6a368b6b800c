"""Pure helpers of the service: error field names, problem parsing of
domain errors, JSON sanitising of solver results, worker settings and
backoff, and the API key format."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from api.backoff import Backoff
from api.errors import from_value_error, location
from api.worker import WorkerSettings, finite_json
from store.repositories.keys import prefix_of


@pytest.mark.parametrize(
    ("loc", "field"),
    [
        ((), "body"),
        (("name",), "name"),
        (("models", 0, "name"), "models[0].name"),
        (("query", "limit"), "query.limit"),
        (("arrivals_s", "m0", 3), "arrivals_s.m0[3]"),
    ],
)
def test_location_names_fields_as_paths(loc: tuple[int | str, ...], field: str) -> None:
    assert location(loc) == field


def test_domain_errors_become_problems_naming_their_field() -> None:
    problem = from_value_error(
        ValueError("profile.configs[0].latency_s[1][0]: must be > 0, got -1")
    )
    assert (problem.status, problem.detail) == (
        422,
        "profile.configs[0].latency_s[1][0]: must be > 0, got -1",
    )
    assert problem.errors == [
        {"field": "profile.configs[0].latency_s[1][0]", "message": "must be > 0, got -1"}
    ]


def test_errors_without_a_field_name_blame_the_body() -> None:
    problem = from_value_error(ValueError("upload, line 3, column 'x': bad"))
    assert problem.errors == [{"field": "body", "message": "upload, line 3, column 'x': bad"}]
    assert from_value_error(ValueError("no field here")).detail == "body: no field here"


def test_finite_json_replaces_non_finite_numbers_anywhere() -> None:
    data = {"a": math.inf, "b": [1.0, -math.inf, {"c": math.nan, "d": "x"}], "e": (2, None)}
    assert finite_json(data) == {"a": None, "b": [1.0, None, {"c": None, "d": "x"}], "e": [2, None]}


@given(st.recursive(st.floats(allow_nan=True), lambda inner: st.lists(inner, max_size=4)))
def test_finite_json_keeps_every_finite_value(value: object) -> None:
    def same(a: object, b: object) -> bool:
        if isinstance(a, float):
            return b == a if math.isfinite(a) else b is None
        assert isinstance(a, list) and isinstance(b, list)
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))

    assert same(value, finite_json(value))


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"lease_s": 0.0}, "lease_s: must be > 0, got 0.0"),
        (
            {"lease_s": 4.0, "heartbeat_s": 3.0},
            "heartbeat_s: must be at most half of lease_s=4.0, got 3.0",
        ),
        ({"max_attempts": 0}, "max_attempts: must be >= 1, got 0"),
        ({"poll_s": math.nan}, "poll_s: must be > 0, got nan"),
        (
            {"poll_s": 2.0, "backoff_max_s": 1.0},
            "backoff_max_s: must be at least poll_s=2.0, got 1.0",
        ),
    ],
)
def test_worker_settings_are_checked(fields: dict[str, float], message: str) -> None:
    with pytest.raises(ValueError) as raised:
        WorkerSettings(**fields)  # type: ignore[arg-type]
    assert str(raised.value) == message


def test_backoff_doubles_up_to_its_cap_and_restarts_after_a_success() -> None:
    backoff = WorkerSettings(poll_s=0.5, backoff_max_s=3.0).backoff()
    assert [backoff.next_wait() for _ in range(5)] == [0.5, 1.0, 2.0, 3.0, 3.0]
    backoff.reset()
    assert [backoff.next_wait() for _ in range(2)] == [0.5, 1.0]


@pytest.mark.parametrize(("first_s", "max_s"), [(0.0, 1.0), (2.0, 1.0), (1.0, math.inf)])
def test_backoff_needs_a_positive_first_wait_below_a_finite_cap(
    first_s: float, max_s: float
) -> None:
    with pytest.raises(ValueError, match="need 0 < first_s <= max_s"):
        Backoff(first_s, max_s)


def test_only_well_formed_keys_have_a_lookup_prefix() -> None:
    assert prefix_of("mp_0123456789ab_secret_with_underscores") == "0123456789ab"
    for bad in ("0123456789ab_secret", "mp_short_secret", "xx_0123456789ab_s", ""):
        assert prefix_of(bad) is None
