"""Pure helpers of the service: error field names, problem parsing of
domain errors, JSON sanitising of solver results, worker settings and backoff, the
API key format and the bounded input types."""

from __future__ import annotations

import math
import re
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import BaseModel, ValidationError

from api.backoff import Backoff
from api.errors import from_validation_error, from_value_error, location
from api.fields import JsonObject, Text, decimals_up_to
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
    for not_hex in ("mp_0123456789a\x00_s", "mp_0123456789aé_s", "mp_0123456789aZ_s"):
        assert prefix_of(not_hex) is None


@pytest.mark.parametrize("limit", [1, 9, 10, 19, 20, 57, 100, 305, 1000, 2999])
def test_decimals_up_to_matches_exactly_one_to_the_limit(limit: int) -> None:
    pattern = re.compile(decimals_up_to(limit))
    assert [n for n in range(3200) if pattern.fullmatch(str(n))] == list(range(1, limit + 1))
    assert pattern.fullmatch("01") is None


@given(st.integers(min_value=-(2**40), max_value=2**40))
def test_decimals_up_to_bounds_row_ids(n: int) -> None:
    pattern = re.compile(decimals_up_to(2**31 - 1))
    assert (pattern.fullmatch(str(n)) is not None) == (1 <= n < 2**31)


class _Doc(BaseModel):
    name: Text = "x"
    tags: dict[Text, Text] = {}
    doc: JsonObject = {}


@pytest.mark.parametrize(
    ("data", "field", "message"),
    [
        ({"name": "a\x00b"}, "name", "must not contain NUL characters"),
        ({"tags": {"k\x00": "v"}}, "tags", "key 'k\\x00' must not contain NUL characters"),
        ({"tags": {"k": "\x00"}}, "tags.k", "must not contain NUL characters"),
        ({"doc": {"a": [1, {"b": "\x00"}]}}, "doc.a[1].b", "must not contain NUL characters"),
        ({"doc": {"a": {"\x00": 1}}}, "doc.a", "key '\\x00' must not contain NUL characters"),
        ({"doc": {"a": [0.5, math.inf]}}, "doc.a[1]", "must be a finite number"),
        ({"doc": {"a": "\ud800"}}, "doc.a", "must be valid Unicode (it holds a lone surrogate)"),
        ({"doc": [1]}, "doc", "must be a JSON object"),
    ],
)
def test_bounded_types_name_the_field_as_sent(data: Any, field: str, message: str) -> None:
    with pytest.raises(ValidationError) as caught:
        _Doc.model_validate(data)
    problem = from_validation_error(caught.value)
    assert problem.errors[0] == {"field": field, "message": message}


def test_free_form_json_nests_deeper_than_the_recursion_limit() -> None:
    deep: Any = "\x00"
    for _ in range(5000):
        deep = [deep]
    with pytest.raises(ValidationError) as caught:
        _Doc.model_validate({"doc": {"d": deep}})
    assert from_validation_error(caught.value).errors[0]["field"] == "doc.d" + "[0]" * 5000
