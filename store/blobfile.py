"""A stored binary value read as a file, a piece at a time: each read asks
the database for just the bytes it wants (``substr``, which SQLite and
PostgreSQL both apply to blobs byte-wise), so a large value never sits in
the process whole. PostgreSQL fetches only the chunks of the value that a
piece spans; SQLite loads the whole value for each query (about 50 ms for
50 MB, in its own memory, freed after), so read in pieces of MiBs: wrap
the file in ``io.BufferedReader`` for many small reads (a parser's)."""

from __future__ import annotations

import io
from typing import Any

from sqlalchemy import ColumnElement, LargeBinary, func, select
from sqlalchemy.orm import InstrumentedAttribute, Session


class BlobFile(io.RawIOBase):
    """The value of ``column`` in the one row ``where`` selects, as a
    read-only, seekable binary file."""

    def __init__(
        self, session: Session, column: InstrumentedAttribute[Any], where: ColumnElement[bool]
    ) -> None:
        self._session = session
        self._column = column
        self._where = where
        self._size: int = session.scalars(select(func.length(column)).where(where)).one()
        self._position = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._position

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        start = {io.SEEK_SET: 0, io.SEEK_CUR: self._position, io.SEEK_END: self._size}[whence]
        if start + offset < 0:
            raise ValueError(f"seek to {start + offset}, before the start")
        self._position = start + offset
        return self._position

    def read(self, size: int | None = -1) -> bytes:
        """Up to ``size`` bytes (all that is left when negative), fetched in
        one query."""
        left = self._size - self._position
        wanted = left if size is None or size < 0 else min(size, left)
        if wanted <= 0:
            return b""
        piece = func.substr(self._column, self._position + 1, wanted, type_=LargeBinary)
        data: bytes = self._session.scalars(select(piece).where(self._where)).one()
        self._position += len(data)
        return data

    def readinto(self, buffer: Any) -> int:
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)
