"""Alembic environment and revisions of meshplan's schema. Run them with
``meshplan db upgrade`` (configured in code by :mod:`store.migrate`, so it
works from any working directory)."""
