"""Pure parts of the store: arrival blobs (whole, sliced, grown into a
fuller .npz), the UTC datetime type and the database URL settings."""

from __future__ import annotations

import datetime as dt
import io

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy.dialects import postgresql, sqlite

from store.blobs import appended, arrivals_slice, pack_arrivals, unpack_arrivals
from store.settings import DEFAULT_DATABASE_URL, database_url
from store.types import UTCDateTime


@given(
    st.lists(st.floats(min_value=0, max_value=1e6, allow_nan=False), max_size=200),
    st.data(),
)
def test_arrival_blobs_round_trip_exactly(times: list[float], data: st.DataObject) -> None:
    ids = data.draw(st.lists(st.integers(0, 50), min_size=len(times), max_size=len(times)))
    arrivals, model_ids = unpack_arrivals(pack_arrivals(sorted(times), ids))
    assert arrivals.dtype == np.float64 and model_ids.dtype == np.int32
    assert arrivals.tolist() == sorted(times)
    assert model_ids.tolist() == ids


@given(st.integers(0, 300), st.integers(0, 400), st.integers(0, 400))
def test_a_slice_of_a_blob_is_the_slice_of_its_arrays(size: int, start: int, stop: int) -> None:
    times = np.cumsum(np.random.default_rng(size).exponential(1.0, size))
    ids = np.arange(size, dtype=np.int32) % 3
    arrivals, model_ids = arrivals_slice(io.BytesIO(pack_arrivals(times, ids)), start, stop)
    assert arrivals.dtype == np.float64 and model_ids.dtype == np.int32
    assert arrivals.tolist() == times[start:stop].tolist()
    assert model_ids.tolist() == ids[start:stop].tolist()


def test_members_join_a_blob_which_is_kept_as_it_is() -> None:
    blob = pack_arrivals([0.5, 1.5], [1, 0])
    arrays = {"model_names": np.array(["a", "b"]), "duration_s": np.array(2.0)}
    kept, tail = appended(io.BytesIO(blob), arrays)
    assert 0 < kept < len(blob)  # the blob's members, not its central directory
    with np.load(io.BytesIO(blob[:kept] + tail), allow_pickle=False) as archive:
        assert sorted(archive.files) == ["arrivals_s", "duration_s", "model_ids", "model_names"]
        assert archive["model_names"].tolist() == ["a", "b"]
        assert archive["duration_s"] == 2.0 and archive["model_ids"].tolist() == [1, 0]
        assert archive["arrivals_s"].tolist() == [0.5, 1.5]


def test_arrival_blobs_are_smaller_than_json() -> None:
    times = np.cumsum(np.full(10_000, 0.01))
    blob = pack_arrivals(times, np.zeros(10_000, np.int32))
    assert len(blob) < len(",".join(map(str, times.tolist()))) / 2


def test_utc_datetime_stores_utc_and_reads_aware() -> None:
    column = UTCDateTime()
    plus_two = dt.timezone(dt.timedelta(hours=2))
    value = dt.datetime(2026, 1, 1, 14, 0, tzinfo=plus_two)
    assert column.process_bind_param(value, sqlite.dialect()) == dt.datetime(2026, 1, 1, 12, 0)
    assert column.process_bind_param(value, postgresql.dialect()) == dt.datetime(
        2026, 1, 1, 12, 0, tzinfo=dt.UTC
    )
    read = column.process_result_value(dt.datetime(2026, 1, 1, 12, 0), sqlite.dialect())
    assert read == dt.datetime(2026, 1, 1, 12, 0, tzinfo=dt.UTC)
    with pytest.raises(ValueError, match="naive datetime"):
        column.process_bind_param(dt.datetime(2026, 1, 1), sqlite.dialect())


def test_database_url_precedence_and_driver() -> None:
    assert database_url({}) == DEFAULT_DATABASE_URL == "sqlite:///meshplan.db"
    assert database_url({"DATABASE_URL": "postgres://u@h/db"}) == "postgresql+psycopg://u@h/db"
    assert (
        database_url({"DATABASE_URL": "postgresql://u@h/db", "MESHPLAN_DATABASE_URL": "sqlite://"})
        == "sqlite://"
    )
    assert database_url({"DATABASE_URL": "postgresql+psycopg://h/d"}) == "postgresql+psycopg://h/d"
