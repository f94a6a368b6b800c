"""Keeping a solve that runs in the background answerable.

A caller stops a solve through its ``progress(fraction, message)``
callback, which raises (the worker's ``JobAborted`` on a cancel request, a
lost lease or the job's deadline). The exact solvers' libraries run for
seconds without calling back (CP-SAT between solutions, CBC in its own
process, HiGHS), so they would notice only at their time limit. Instead
they run in the background (a thread, or a child process) while the calling
thread reports every :data:`POLL_S` and, when a report raises or the
calling thread is interrupted, stops the background work before passing
the exception on: a cancel takes effect within a poll plus however long
the caller takes to raise.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")

POLL_S = 0.25
"""Seconds between progress reports while background work runs."""


def watch(
    finished: Callable[[float], bool], report: Callable[[], None], stop: Callable[[], None]
) -> None:
    """Wait until ``finished(timeout_s)`` (which waits at most
    ``timeout_s``) says the background work is done, calling ``report()``
    every :data:`POLL_S` meanwhile. When ``report`` raises (or the wait is
    interrupted), ``stop()`` the work, which must not return before it has
    stopped, and re-raise."""
    try:
        while not finished(POLL_S):
            report()
    except BaseException:
        stop()
        raise


def in_thread(work: Callable[[], T], report: Callable[[], None], stop: Callable[[], None]) -> T:
    """``work()`` run on a background thread under :func:`watch`; ``stop()``
    asks it to return early (it is then waited for). Returns what ``work``
    returns, or raises what it raised."""
    answer: list[T] = []
    failure: list[BaseException] = []

    def run() -> None:
        try:
            answer.append(work())
        except BaseException as error:  # handed to the calling thread
            failure.append(error)

    thread = threading.Thread(target=run, name="solver", daemon=True)
    thread.start()

    def finished(timeout_s: float) -> bool:
        thread.join(timeout_s)
        return not thread.is_alive()

    def halt() -> None:
        stop()
        thread.join()

    watch(finished, report, halt)
    if failure:
        raise failure[0]
    return answer[0]
