"""Where the database is: ``MESHPLAN_DATABASE_URL``, else ``DATABASE_URL``,
else a SQLite file ``meshplan.db`` in the working directory."""

from __future__ import annotations

import os
from collections.abc import Mapping

DEFAULT_DATABASE_URL = "sqlite:///meshplan.db"


def database_url(environ: Mapping[str, str] | None = None) -> str:
    """The configured SQLAlchemy URL. A bare ``postgres://`` or
    ``postgresql://`` URL is given the psycopg (v3) driver."""
    env = os.environ if environ is None else environ
    url = env.get("MESHPLAN_DATABASE_URL") or env.get("DATABASE_URL") or DEFAULT_DATABASE_URL
    for bare in ("postgres://", "postgresql://"):
        if url.startswith(bare):
            return "postgresql+psycopg://" + url[len(bare) :]
    return url
