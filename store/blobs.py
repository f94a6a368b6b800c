"""Compact storage of workload arrivals: a compressed ``.npz`` holding
``arrivals_s`` (float64, seconds) and ``model_ids`` (int32), read back
without pickle."""

from __future__ import annotations

import io

import numpy as np
import numpy.typing as npt


def pack_arrivals(arrivals_s: npt.ArrayLike, model_ids: npt.ArrayLike) -> bytes:
    """Serialise arrival times (s) and model indices to a compressed blob."""
    buffer = io.BytesIO()
    np.savez_compressed(
        buffer,
        arrivals_s=np.asarray(arrivals_s, dtype=np.float64),
        model_ids=np.asarray(model_ids, dtype=np.int32),
    )
    return buffer.getvalue()


def unpack_arrivals(blob: bytes) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.int32]]:
    """Inverse of :func:`pack_arrivals`."""
    with np.load(io.BytesIO(blob), allow_pickle=False) as data:
        return data["arrivals_s"].astype(np.float64), data["model_ids"].astype(np.int32)
