"""The HTTP server agents and the router run on: cheroot, a pure-Python
WSGI server with a pool of threads, run from a daemon thread of the process
that owns the devices and the routing state (a forking server such as
gunicorn would copy them, not share them).

It answers at most ``threads`` requests at once: a request an agent is
serving holds its thread until answered, more wait for one in arrival
order. It streams request bodies to the app, which caps their size
(:mod:`executor.endpoint`), closes the connection after a 413, and drops a
client silent for :data:`SOCKET_TIMEOUT_S`.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

from cheroot.wsgi import Server

if TYPE_CHECKING:
    from _typeshed.wsgi import WSGIApplication

THREADS = 64
BACKLOG = 128
"""Connections the kernel queues before the server accepts them."""
SOCKET_TIMEOUT_S = 10


class HttpServer:
    """``app`` served on ``host:port`` (``port`` 0: a free one, read back
    from :attr:`port`) until :meth:`stop`."""

    def __init__(
        self, app: WSGIApplication, host: str, port: int = 0, threads: int = THREADS
    ) -> None:
        self._server = Server(
            (host, port),
            app,
            numthreads=threads,
            request_queue_size=BACKLOG,
            timeout=SOCKET_TIMEOUT_S,
        )
        self._server.prepare()
        self.port: int = self._server.bind_addr[1]
        self._thread = threading.Thread(target=self._server.serve, daemon=True, name="http")
        self._thread.start()

    def stop(self) -> None:
        """Stop accepting, let the requests in progress finish (cheroot waits
        up to its shutdown timeout for them) and return once stopped."""
        self._server.stop()
        self._thread.join()
