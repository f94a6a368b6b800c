"""The router: one inference endpoint for a cluster that spreads requests
over the agents hosting each model, by the active plan.

A plan group is served by the registered executor whose devices contain all
of the group's devices; a pp = 2 group with one stage on each of two
executors by the one holding stage 0 (the leader of a group spanning two
agents, :mod:`executor.spanning`). For a request of model ``m`` the router tries the
agents hosting ``m`` in order of outstanding requests (sent by this router
and not yet answered) per replica of ``m`` they host, agents recently found
down last, ties by a rotating counter. An agent that cannot be reached is
marked down for :attr:`Router.down_for_s` and the next one is tried; so is
the next one after a 503 (replica loading or moving), a 404 (the agent no
longer hosts the model: the table is older than its plan), a 429 (that
agent cannot meet the SLO) or a 401 (that agent wants another key). The
last answer is returned when every agent declines, except a 401, which
becomes a 502: the client's key was good, the router's was not. The router presents to agents
the key it asks of its clients (one inference key per deployment).

With a :class:`TrafficCounter` the router counts every request for a model
of the served plan, when it arrives (whatever the answer), for the traffic
reports (:mod:`executor.traffic`): also one the plan names but no agent
hosts (answered 404), since that demand is what makes the re-planner place
the model again. Names outside the plan are not counted (the API would
refuse a report naming a model it does not know).
"""

from __future__ import annotations

import http.client
import itertools
import logging
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from executor.api_client import ApiClient, ApiError, ApiUnavailable, ServedPlan
from executor.request import ServeError, unavailable
from executor.traffic import TrafficCounter
from planner.domain import Group

log = logging.getLogger(__name__)

Answer = tuple[int, dict[str, str], bytes]
"""HTTP status, headers and body."""
Forward = Callable[[str, str, bytes], Answer]
"""``forward(agent_url, model, body)``; raises OSError when unreachable."""
RETRY_ON = (401, 404, 429, 503)
FORWARD_TIMEOUT_S = 60.0


@dataclass(frozen=True)
class Agent:
    """A registered executor: where it serves and the devices it drives."""

    url: str
    devices: frozenset[int]


def routes(plan: ServedPlan, agents: Sequence[Agent]) -> dict[str, dict[str, int]]:
    """``{model: {agent url: replicas of the model it hosts}}``. A group
    belongs to the first agent whose devices contain all of its devices,
    else to its leader (:func:`leader_of`); a group neither covers is not
    routed to."""
    table: dict[str, dict[str, int]] = {}
    for group in plan.placement.groups:
        owner = next((a for a in agents if set(group.devices) <= a.devices), None)
        owner = owner or leader_of(group, agents)
        if owner is None:
            continue
        for model in group.models:
            hosts = table.setdefault(model, {})
            hosts[owner.url] = hosts.get(owner.url, 0) + 1
    return table


def leader_of(group: Group, agents: Sequence[Agent]) -> Agent | None:
    """The agent holding stage 0 of a pp = 2 group whose stage 1 another
    agent holds (it answers for the group), else None."""
    if group.config.pp != 2:
        return None
    first, second = (set(group.stage_devices(k)) for k in (0, 1))
    leader = next((a for a in agents if first <= a.devices), None)
    if leader is not None and any(second <= a.devices for a in agents if a is not leader):
        return leader
    return None


def http_forward(url: str, model: str, body: bytes, key: str | None = None) -> Answer:
    """POST ``body`` to an agent's inference endpoint, presenting ``key`` if
    given; ConnectionError when the agent cannot be reached or its answer
    breaks off."""
    headers = {"Content-Type": "application/json"}
    if key is not None:
        headers["Authorization"] = f"Bearer {key}"
    request = urllib.request.Request(
        f"{url.rstrip('/')}/v1/infer/{urllib.parse.quote(model, safe='')}",
        data=body,
        method="POST",
        headers=headers,
    )
    try:
        return _exchange(request)
    except urllib.error.URLError as error:
        raise ConnectionError(str(error.reason)) from None
    except http.client.HTTPException as error:
        raise ConnectionError(f"broken answer: {error!r}") from None


def _exchange(request: urllib.request.Request) -> Answer:
    try:
        with urllib.request.urlopen(request, timeout=FORWARD_TIMEOUT_S) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


class Router:
    """Routing state: the table from the last plan and the live counters."""

    def __init__(
        self,
        forward: Forward = http_forward,
        down_for_s: float = 5.0,
        counter: TrafficCounter | None = None,
    ) -> None:
        self.forward = forward
        self.down_for_s = down_for_s
        self.counter = counter
        self.table: dict[str, dict[str, int]] = {}
        self.plan: ServedPlan | None = None
        self.outstanding: dict[str, int] = {}
        self.down_until: dict[str, float] = {}
        self._turn = itertools.count()
        self._lock = threading.Lock()

    def update(self, plan: ServedPlan, agents: Sequence[Agent]) -> None:
        table = routes(plan, agents)
        with self._lock:
            self.plan, self.table = plan, table

    def order(self, model: str, now_s: float) -> list[str]:
        """Agents to try for ``model``, best first (module docstring)."""
        with self._lock:
            hosts = dict(self.table.get(model, {}))
            turn = next(self._turn)
            urls = sorted(hosts)
            rotated = {url: (i - turn) % len(urls) for i, url in enumerate(urls)}
            return sorted(
                urls,
                key=lambda url: (
                    self.down_until.get(url, 0.0) > now_s,
                    self.outstanding.get(url, 0) / hosts[url],
                    rotated[url],
                ),
            )

    def names(self, model: str) -> bool:
        """Whether the served plan names ``model`` (hosted or not)."""
        with self._lock:
            return self.plan is not None and model in self.plan.models

    def describe(self) -> dict[str, Any]:
        """The routing table and counters, for ``GET /v1/routes``."""
        with self._lock:
            return {
                "plan_version": self.plan.version if self.plan else None,
                "routes": self.table,
                "outstanding": dict(self.outstanding),
            }

    def handle(self, model: str, body: bytes) -> Answer:
        """Send one request; retries on another agent as the module says.
        Raises :class:`ServeError`: 404 when no agent hosts ``model``, 503
        when none hosting it can be reached."""
        candidates = self.order(model, time.monotonic())
        if self.counter is not None and (candidates or self.names(model)):
            self.counter.count(model)
        if not candidates:
            raise ServeError(404, "unknown-model", f"no agent hosts model {model!r}")
        answer: Answer | None = None
        for url in candidates:
            with self._lock:
                self.outstanding[url] = self.outstanding.get(url, 0) + 1
            try:
                answer = self.forward(url, model, body)
            except OSError as error:
                log.warning("agent %s is down: %s", url, error)
                with self._lock:
                    self.down_until[url] = time.monotonic() + self.down_for_s
                continue
            finally:
                with self._lock:
                    self.outstanding[url] -= 1
            if answer[0] == 401:
                log.error("agent %s refused the router's inference key", url)
            if answer[0] not in RETRY_ON:
                return answer
        if answer is None:
            raise unavailable(f"no agent hosting {model!r} could be reached")
        if answer[0] == 401:
            raise ServeError(
                502, "key-refused", f"the agents hosting {model!r} refused the router's key"
            )
        return answer


def refresh(router: Router, client: ApiClient, cluster_id: int) -> bool:
    """Pull the active plan and the executor list into ``router``; False
    (routing unchanged) when the API cannot be reached."""
    etag = router.plan.etag if router.plan else None
    try:
        plan = client.fetch_plan(cluster_id, etag) or router.plan
        executors = client.executors(cluster_id)
    except (ApiUnavailable, ApiError, ValueError) as error:
        log.warning("routing unchanged: %s", error)
        return False
    if plan is not None:
        router.update(plan, [Agent(e["url"], frozenset(e["devices"])) for e in executors])
    return True
