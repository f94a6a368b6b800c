"""The Flask application factory."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask import Flask

from api import auth, database, errors, metrics
from api.fields import IdConverter
from api.resources import BLUEPRINTS
from api.resources.ops import bp as ops_blueprint
from store import migrate
from store.settings import database_url

DEFAULTS: dict[str, Any] = {
    "PAGE_LIMIT_MAX": 200,
    "ARRIVALS_PAGE_MAX": 1_000_000,
    "MAX_CONTENT_LENGTH": 16 * 1024 * 1024,
    "MAX_UPLOAD_BYTES": 256 * 1024 * 1024,
    "MAX_WINDOWS": 10_000,
    "MAX_GENERATED_ARRIVALS": 10_000_000,
    "TIME_LIMIT_MAX_S": 3600.0,
    "EXECUTOR_STALE_S": 30.0,
    "AUTH_CACHE_S": 5.0,
    "TRAFFIC_RETENTION_S": 86400.0,
    "TRAFFIC_LEEWAY_S": 5.0,
}
"""Settings, each overridable by a ``MESHPLAN_<NAME>`` environment variable
or the ``config`` mapping: page size cap, arrivals per JSON page cap (about
20 MB of JSON), JSON body cap (bytes), trace upload cap (bytes), windows per
workload, arrivals that a workload's arrival processes may generate
(estimated as rate × duration before drawing; 10^7 arrivals take about 120
MB), solver time limit cap (s), after how long without a heartbeat an
executor is unhealthy (s), how long a process remembers a valid API key
(s; 0: never), how long observed traffic bins are kept (s) and how far
past now a reported bin may end (s, clock skew).

Integers in paths are row ids (:class:`api.fields.IdConverter`)."""


def create_app(config: Mapping[str, Any] | None = None) -> Flask:
    """Build the app. Settings: :data:`DEFAULTS`, then ``MESHPLAN_*``
    environment variables, then ``config``. ``DATABASE_URL`` defaults to
    :func:`store.settings.database_url`."""
    app = Flask("meshplan", static_folder=None)
    app.url_map.converters["int"] = IdConverter
    app.config.from_mapping(DEFAULTS)
    app.config["DATABASE_URL"] = database_url()
    app.config.from_prefixed_env("MESHPLAN")
    app.config.update(config or {})
    app.json.sort_keys = False  # type: ignore[attr-defined]
    database.init_app(app)
    app.config["SCHEMA_HEAD"] = migrate.head_revision(database.database(app).engine)
    errors.init_app(app)
    auth.init_app(app)
    metrics.init_app(app)
    for blueprint in BLUEPRINTS:
        app.register_blueprint(blueprint, url_prefix="/v1")
    app.register_blueprint(ops_blueprint)
    return app
