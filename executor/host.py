"""What an agent serves: its groups, and the entry point that checks a
request, sends it to the hosting group that would finish it first and waits
for the answer."""

from __future__ import annotations

import threading
from collections.abc import Iterable

import numpy as np

from executor.group import GroupKey, GroupServer
from executor.metrics import LatencyLog
from executor.request import Request, ServeError, bad_input, too_many_rows, unavailable
from executor.runtime import ModelRuntime

ANSWER_GRACE_S = 30.0
"""How long past its deadline a caller waits for an admitted request."""


class Host:
    """The groups of one agent, keyed by (global devices, config)."""

    def __init__(self) -> None:
        self.groups: dict[GroupKey, GroupServer] = {}
        self.loading: set[str] = set()
        self.latencies = LatencyLog()
        self._lock = threading.Lock()

    def hosting(self, model: str) -> list[GroupServer]:
        with self._lock:
            return [g for g in self.groups.values() if model in g.models]

    def knows(self, model: str) -> bool:
        """Whether ``model`` is served or being loaded here."""
        with self._lock:
            return model in self.loading or any(model in g.models for g in self.groups.values())

    def runtime(self, model: str) -> ModelRuntime:
        """A loaded runtime of ``model``; 404 or (while loading) 503 otherwise."""
        for group in self.hosting(model):
            runtime = group.models.get(model)
            if runtime is not None:
                return runtime
        with self._lock:
            loading = model in self.loading
        if loading:
            raise unavailable(f"model {model!r} is loading here", retry_after_s=2.0)
        raise ServeError(404, "unknown-model", f"model {model!r} is not served by this agent")

    def add_group(self, group: GroupServer) -> None:
        with self._lock:
            self.groups[group.key] = group

    def remove_groups(self, keys: Iterable[GroupKey]) -> list[GroupServer]:
        """Stop and forget these groups; returns them (join to wait)."""
        with self._lock:
            removed = [self.groups.pop(key) for key in keys if key in self.groups]
        for group in removed:
            group.stop()
        return removed

    def submit(self, model: str, token_ids: np.ndarray) -> Request:
        """Admit a request on the hosting group with the earliest predicted
        finish (ties: first group); raises :class:`ServeError`. Valid token
        ids (:func:`check_input`) travel on as int32."""
        runtime = self.runtime(model)
        check_input(runtime, token_ids)
        request = Request(model, token_ids.astype(np.int32, copy=False), runtime.slo_s)
        groups = self.hosting(model)
        offers = sorted((g.offer(request).finish_s, i) for i, g in enumerate(groups))
        error: ServeError = unavailable(f"model {model!r} is leaving this agent")
        for _, i in offers:
            try:
                groups[i].submit(request)
                return request
            except ServeError as refused:
                error = refused
        raise error

    def serve(self, model: str, token_ids: np.ndarray) -> Request:
        """Submit and wait for the answer; raises :class:`ServeError`."""
        request = self.submit(model, token_ids)
        if not request.done.wait(request.slo_s + ANSWER_GRACE_S):
            raise ServeError(504, "timeout", f"no answer within {request.slo_s + ANSWER_GRACE_S} s")
        if request.error is not None:
            raise request.error
        self.latencies.record(model, request.timings()["total_s"])
        return request


def check_input(runtime: ModelRuntime, token_ids: np.ndarray) -> None:
    """Token ids must be ``[rows, seq_len]`` integers in ``[0, vocab)`` with
    ``1 <= rows <= max_batch``: 400 (413 for too many rows) otherwise."""
    arch = runtime.replica.plan.arch
    if token_ids.ndim != 2 or token_ids.shape[1] != arch.seq_len or token_ids.shape[0] < 1:
        raise bad_input(
            "input_ids", f"must have shape [rows, {arch.seq_len}], got {list(token_ids.shape)}"
        )
    if not np.issubdtype(token_ids.dtype, np.integer):
        raise bad_input("input_ids", f"must be integers, got {token_ids.dtype}")
    if token_ids.min() < 0 or token_ids.max() >= arch.vocab:
        raise bad_input("input_ids", f"must lie in [0, {arch.vocab})")
    if token_ids.shape[0] > runtime.max_batch:
        raise too_many_rows("input_ids", token_ids.shape[0], runtime.max_batch)
