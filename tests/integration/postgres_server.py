"""A private PostgreSQL server for tests that stop and restart their
database: its own data directory and port on 127.0.0.1, trust
authentication, no Unix socket. The server refuses to run as root, so as
root it runs as the ``postgres`` user in a directory that user owns."""

from __future__ import annotations

import getpass
import glob
import os
import shutil
import socket
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import create_engine, make_url
from sqlalchemy.pool import NullPool

_RUN_AS = "postgres"


def server_binaries() -> Path | None:
    """The newest installed ``/usr/lib/postgresql/<version>/bin`` that has
    ``initdb`` and ``pg_ctl``, or None."""
    found = [
        Path(path).parent
        for path in glob.glob("/usr/lib/postgresql/*/bin/initdb")
        if Path(path).with_name("pg_ctl").exists()
    ]
    return max(
        found, key=lambda path: [int(part) for part in path.parent.name.split(".")], default=None
    )


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


class PostgresServer:
    """A server on ``port`` over the data in ``directory``, run by ``user``
    (None: the current user). :attr:`url` reaches its ``postgres`` database."""

    def __init__(self, binaries: Path, directory: Path, user: str | None) -> None:
        self.binaries = binaries
        self.data = directory / "data"
        self.log = directory / "server.log"
        self.user = user
        self.port = _free_port()
        owner = user or getpass.getuser()
        self.url = f"postgresql+psycopg://{owner}@127.0.0.1:{self.port}/postgres"

    @property
    def running(self) -> bool:
        return (self.data / "postmaster.pid").exists()

    def _run(self, tool: str, *args: str) -> None:
        command = [str(self.binaries / tool), *args]
        if self.user is not None:
            command = ["runuser", "-u", self.user, "--", *command]
        subprocess.run(command, check=True, capture_output=True, timeout=60)

    def init(self) -> None:
        self._run("initdb", "-D", str(self.data), "-A", "trust", "--no-sync", "-E", "UTF8")

    def start(self) -> None:
        options = (
            f"-p {self.port} -c listen_addresses=127.0.0.1"
            " -c unix_socket_directories='' -c fsync=off"
        )
        self._run("pg_ctl", "start", "-w", "-D", str(self.data), "-l", str(self.log), "-o", options)

    def stop(self) -> None:
        """Stop at once: clients lose their connections mid-transaction."""
        self._run("pg_ctl", "stop", "-w", "-m", "immediate", "-D", str(self.data))

    def _execute(self, sql: str) -> None:
        # A connection of its own: pooled ones may predate a restart.
        engine = create_engine(self.url, poolclass=NullPool, isolation_level="AUTOCOMMIT")
        with engine.connect() as connection:
            connection.exec_driver_sql(sql)
        engine.dispose()

    @contextmanager
    def database(self, password: str) -> Iterator[str]:
        """A new empty database, reached with ``password`` (which trust
        authentication ignores); dropped on exit, the server started first
        if it is down."""
        name = f"test_{uuid.uuid4().hex[:12]}"
        self._execute(f'CREATE DATABASE "{name}"')
        try:
            url = make_url(self.url).set(password=password, database=name)
            yield url.render_as_string(hide_password=False)
        finally:
            if not self.running:
                self.start()
            self._execute(f'DROP DATABASE "{name}" WITH (FORCE)')


@contextmanager
def private_postgres(binaries: Path) -> Iterator[PostgresServer]:
    """A started server, stopped and deleted on exit (whatever happened)."""
    user = _RUN_AS if os.geteuid() == 0 else None
    directory = Path(tempfile.mkdtemp(prefix="meshplan-pg-"))
    try:
        if user is not None:
            shutil.chown(directory, user)
        server = PostgresServer(binaries, directory, user)
        server.init()
        try:
            server.start()
            yield server
        finally:
            if server.running:
                server.stop()
    finally:
        shutil.rmtree(directory, ignore_errors=True)
