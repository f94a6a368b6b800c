"""The planning API on a migrated SQLite file, served over real HTTP on
loopback, for tests that run agents and routers against it."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from flask import Flask
from werkzeug.serving import BaseWSGIServer, make_server

from api.app import create_app
from api.database import database
from executor.api_client import ApiClient
from store import migrate
from store.db import make_engine, session_factory, transaction
from store.models import Role
from store.repositories.keys import create_key


@dataclass
class Stack:
    """A running API: its URL, an admin and an executor client."""

    url: str
    admin: ApiClient
    executor_key: str
    database_url: str
    server: BaseWSGIServer
    thread: threading.Thread

    def post(self, path: str, body: Any) -> Any:
        return self.admin.call("POST", path, body)[2]

    def stop(self) -> None:
        """Take the API down (the port stays reserved for :meth:`restart`)."""
        self.server.shutdown()
        self.server.server_close()

    def restart(self) -> None:
        """Serve again on the same port."""
        app = create_app({"DATABASE_URL": self.database_url})
        self.server, self.thread = serve_in_thread(app, "127.0.0.1", self.server.server_port)


def serve_in_thread(app: Flask, host: str, port: int) -> tuple[BaseWSGIServer, threading.Thread]:
    """Serve ``app`` from a daemon thread (``port`` 0: any free one) on a
    server that may bind its port again at once after a stop."""
    server = make_server(host, port, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True, name="api")
    thread.start()
    return server, thread


def make_database(path: Path) -> tuple[str, dict[str, str]]:
    """A migrated SQLite database with one key per role."""
    url = f"sqlite:///{path}"
    engine = make_engine(url)
    migrate.upgrade(engine)
    with transaction(session_factory(engine), write=True) as session:
        keys = {role.value: create_key(session, role.value, role)[1] for role in Role}
    engine.dispose()
    return url, keys


@contextmanager
def running_api(tmp_path: Path) -> Iterator[Stack]:
    url, keys = make_database(tmp_path / "meshplan.db")
    app = create_app({"DATABASE_URL": url})
    server, thread = serve_in_thread(app, "127.0.0.1", 0)
    base = f"http://127.0.0.1:{server.server_port}"
    stack = Stack(base, ApiClient(base, keys["admin"]), keys["executor"], url, server, thread)
    try:
        yield stack
    finally:
        stack.server.shutdown()
        database(app).engine.dispose()


def single_config_profile(latency_s: float, stages: int = 1) -> dict[str, Any]:
    """A profile JSON with op1xpp<stages>, batch sizes 1 and 2."""
    row = [latency_s / stages] * stages
    return {
        "configs": [
            {
                "config": {"op": 1, "pp": stages},
                "latency_s": [row, [1.5 * x for x in row]],
                "stage_weight_bytes": [1000] * stages,
                "act_bytes": 0,
            }
        ]
    }
