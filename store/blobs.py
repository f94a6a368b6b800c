"""Compact storage of workload arrivals: a compressed ``.npz`` holding
``arrivals_s`` (float64, seconds) and ``model_ids`` (int32), read back
without pickle. A slice of the arrays is read by decompressing only up to
its end (:func:`arrivals_slice`), and the blob grows into a fuller ``.npz``
by appending members (:func:`appended`) without rewriting it. Both read
the blob as a file, so it can come from the database a piece at a time
(:class:`store.blobfile.BlobFile`)."""

from __future__ import annotations

import io
import zipfile
from collections.abc import Mapping
from typing import IO, Any

import numpy as np
import numpy.typing as npt

_SKIP_BYTES = 1 << 20
_HEADER_READERS = {
    (1, 0): np.lib.format.read_array_header_1_0,
    (2, 0): np.lib.format.read_array_header_2_0,
}


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


def _rows(member: IO[bytes], start: int, stop: int) -> npt.NDArray[Any]:
    """Rows ``[start, stop)`` of the 1-d ``.npy`` stream ``member``, reading
    it only up to ``stop``."""
    read_header = _HEADER_READERS[np.lib.format.read_magic(member)]
    shape, _, dtype = read_header(member)
    stop = min(stop, shape[0])
    start = min(start, stop)
    skip = start * dtype.itemsize
    while skip:  # in small reads: a seek would decompress 16 MiB at a time
        skip -= len(member.read(min(skip, _SKIP_BYTES)))
    return np.frombuffer(member.read((stop - start) * dtype.itemsize), dtype=dtype)


def arrivals_slice(
    blob: IO[bytes], start: int, stop: int
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.int32]]:
    """``arrivals_s[start:stop]`` and ``model_ids[start:stop]`` of a blob
    of :func:`pack_arrivals` (a seekable binary file); memory is the
    slice's, not the arrays'."""
    with zipfile.ZipFile(blob) as archive:
        with archive.open("arrivals_s.npy") as member:
            arrivals = _rows(member, start, stop).astype(np.float64, copy=False)
        with archive.open("model_ids.npy") as member:
            ids = _rows(member, start, stop).astype(np.int32, copy=False)
    return arrivals, ids


def appended(
    blob: io.RawIOBase | IO[bytes], arrays: Mapping[str, npt.NDArray[Any]]
) -> tuple[int, bytes]:
    """``(kept, tail)``: the ``.npz`` in the seekable binary file ``blob``
    with ``arrays`` added as compressed members (``<name>.npy``) is its
    first ``kept`` bytes (its members, as they are) followed by ``tail``
    (the new members and the central directory of all)."""
    overlay = _Overlay(blob)
    with zipfile.ZipFile(overlay, "a", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, array in arrays.items():
            with archive.open(f"{name}.npy", "w") as member:
                np.lib.format.write_array(member, array, allow_pickle=False)
    assert overlay.kept is not None
    return overlay.kept, overlay.tail.getvalue()


class _Overlay(io.RawIOBase):
    """``source`` read as it is until the first write; from then on the
    file is ``source[:kept]`` followed by what is written (``tail``), the
    way :class:`zipfile.ZipFile` appends: it reads the central directory,
    then writes over it and on."""

    def __init__(self, source: io.RawIOBase | IO[bytes]) -> None:
        self.source = source
        self.kept: int | None = None
        self.tail = io.BytesIO()

    def readable(self) -> bool:
        return self.kept is None

    def writable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        data = self.source.read(len(buffer)) or b""
        buffer[: len(data)] = data
        return len(data)

    def write(self, data: Any) -> int:
        if self.kept is None:
            self.kept = self.source.tell()
        return self.tail.write(data)

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        if self.kept is None:
            return self.source.seek(offset, whence)
        if whence == io.SEEK_SET:
            return self.kept + self.tail.seek(offset - self.kept)
        return self.kept + self.tail.seek(offset, whence)

    def tell(self) -> int:
        return self.source.tell() if self.kept is None else self.kept + self.tail.tell()

    def truncate(self, size: int | None = None) -> int:
        if self.kept is None:
            raise io.UnsupportedOperation("truncate before writing")
        return self.kept + self.tail.truncate(None if size is None else size - self.kept)
