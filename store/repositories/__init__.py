"""Repositories: the queries and state changes of each aggregate, as
functions over a :class:`sqlalchemy.orm.Session`. They convert rows to and
from :mod:`planner.domain` values; callers own the transaction (commit)."""
