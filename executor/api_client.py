"""The planning API as executors see it, over HTTP (standard library only):
register, pull the active plan with ``If-None-Match``, heartbeat, report
observed traffic, read a model, upload a measured profile. Every call sends
``Authorization: Bearer <key>``."""

from __future__ import annotations

import json
import threading
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any

from planner.codec import decode
from planner.domain import Placement

TIMEOUT_S = 5.0
API_KEY_ENV = "MESHPLAN_API_KEY"
"""Where commands that call the API find its key when not given a key file."""


class ApiUnavailable(Exception):
    """The API could not be reached (connection refused, timeout, 5xx)."""


class ApiError(Exception):
    """The API answered with a client error (4xx other than 304)."""

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(f"HTTP {status}: {detail}")
        self.status = status


@dataclass(frozen=True)
class ModelInfo:
    """What a plan says about a model: SLO (s), family, architecture JSON
    (or None) and batch size cap."""

    slo_s: float
    family: str
    architecture: dict[str, Any] | None
    max_batch: int


ACTIONS = ("load", "evict")

StageBounds = tuple[tuple[int, int], ...]
"""Layer ranges ``[start, end)`` of each pipeline stage, in stage order."""


@dataclass(frozen=True)
class Step:
    """One step of a transition: ``action`` (``"load"`` or ``"evict"``)
    ``model`` on group ``group``: for a load an index into the served
    plan's groups, for an evict into the groups of version ``from_version``."""

    group: int
    action: str
    model: str


@dataclass(frozen=True)
class Transition:
    """How to move from plan version ``from_version`` to the served one:
    ``steps`` in an order that never exceeds device memory."""

    from_version: int
    steps: tuple[Step, ...]


@dataclass(frozen=True)
class ServedPlan:
    """A cluster's active plan as served to executors. ``stages[g][m]``: the
    stage ranges of model ``m`` on group ``g`` as the service planned them
    (absent for a model it could not lay out; None: not served)."""

    plan_id: int
    version: int
    placement: Placement
    models: dict[str, ModelInfo]
    etag: str | None = None
    transition: Transition | None = None
    stages: tuple[dict[str, StageBounds], ...] | None = None

    @classmethod
    def from_json(cls, data: Any, etag: str | None = None) -> ServedPlan:
        """Parse ``GET /v1/clusters/{id}/plan``; ValueError names the field."""
        if not isinstance(data, dict):
            raise ValueError("plan: must be an object")
        try:
            models = {
                name: ModelInfo(
                    float(info["slo_s"]),
                    str(info["family"]),
                    info.get("architecture"),
                    int(info["max_batch"]),
                )
                for name, info in data["models"].items()
            }
            placement = decode(Placement, data["placement"], "placement")
            transition = data.get("transition")
            stages = data.get("stages")
            return cls(
                int(data["plan_id"]),
                int(data["version"]),
                placement,
                models,
                etag,
                None if transition is None else parse_transition(transition, placement),
                None if stages is None else parse_stages(stages, placement),
            )
        except (KeyError, TypeError, AttributeError) as error:
            raise ValueError(f"plan: malformed ({error!r})") from None


def parse_transition(data: dict[str, Any], placement: Placement) -> Transition:
    """The ``transition`` member; ValueError names the bad field."""
    steps = []
    for i, step in enumerate(data["steps"]):
        where = f"transition.steps[{i}]"
        group, action, model = int(step["group"]), str(step["action"]), str(step["model"])
        if not 0 <= group < len(placement.groups):
            raise ValueError(f"{where}.group: {group} is not a group of the placement")
        if action not in ACTIONS:
            raise ValueError(f"{where}.action: must be one of {list(ACTIONS)}, got {action!r}")
        steps.append(Step(group, action, model))
    return Transition(int(data["from_version"]), tuple(steps))


def parse_stages(data: list[Any], placement: Placement) -> tuple[dict[str, StageBounds], ...]:
    """The ``stages`` member: one ``{model: [[start, end], ...]}`` per group."""
    if len(data) != len(placement.groups):
        raise ValueError(f"stages: has {len(data)} entries for {len(placement.groups)} groups")
    return tuple(
        {str(model): _bounds(bounds, f"stages[{g}].{model}") for model, bounds in group.items()}
        for g, group in enumerate(data)
    )


def _bounds(data: list[Any], where: str) -> StageBounds:
    if not all(isinstance(pair, list) and len(pair) == 2 for pair in data):
        raise ValueError(f"{where}: must be a list of [start, end] pairs")
    return tuple((int(start), int(end)) for start, end in data)


class ApiClient:
    """Calls to the planning API at ``base_url`` (e.g. ``http://host:8000``)."""

    def __init__(self, base_url: str, key: str, timeout_s: float = TIMEOUT_S) -> None:
        self.base_url = base_url.rstrip("/")
        self.key = key
        self.timeout_s = timeout_s

    def call(
        self,
        method: str,
        path: str,
        body: Any = None,
        headers: dict[str, str] | None = None,
    ) -> tuple[int, dict[str, str], Any]:
        """One request; returns status, headers and parsed JSON (None when
        empty). Raises ApiUnavailable or ApiError."""
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(
            self.base_url + path,
            data=data,
            method=method,
            headers={
                "Authorization": f"Bearer {self.key}",
                "Content-Type": "application/json",
                **(headers or {}),
            },
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout_s) as response:
                raw = response.read()
                return response.status, dict(response.headers), json.loads(raw) if raw else None
        except urllib.error.HTTPError as error:
            if error.code == 304:
                return 304, dict(error.headers), None
            detail = error.read().decode(errors="replace")
            if error.code >= 500:
                raise ApiUnavailable(f"{method} {path}: HTTP {error.code}: {detail}") from None
            raise ApiError(error.code, detail) from None
        except (urllib.error.URLError, OSError) as error:
            raise ApiUnavailable(f"{method} {path}: {error}") from None

    def register(self, name: str, cluster_id: int, devices: list[int], url: str) -> int:
        """Register (or re-register by name) an executor; returns its id."""
        _, _, body = self.call(
            "POST",
            "/v1/executors",
            {"name": name, "cluster_id": cluster_id, "devices": devices, "url": url},
        )
        return int(body["id"])

    def fetch_plan(self, cluster_id: int, etag: str | None) -> ServedPlan | None:
        """The active plan, or None when it still has entity tag ``etag``."""
        headers = {"If-None-Match": f'"{etag}"'} if etag else {}
        status, response_headers, body = self.call(
            "GET", f"/v1/clusters/{cluster_id}/plan", headers=headers
        )
        if status == 304:
            return None
        tag = response_headers.get("ETag", "").strip('"') or None
        return ServedPlan.from_json(body, tag)

    def heartbeat(self, executor_id: int, report: dict[str, Any]) -> None:
        self.call("POST", f"/v1/executors/{executor_id}/heartbeat", report)

    def post_traffic(self, cluster_id: int, report: dict[str, Any]) -> None:
        """Report observed traffic (a :class:`executor.traffic.TrafficReport`
        body); sending the same report again changes nothing."""
        self.call("POST", f"/v1/clusters/{cluster_id}/traffic", report)

    def executors(self, cluster_id: int) -> list[dict[str, Any]]:
        """Every executor registered for a cluster (all pages)."""
        found: list[dict[str, Any]] = []
        path: str | None = f"/v1/executors?cluster_id={cluster_id}&limit=1000"
        while path:
            _, _, body = self.call("GET", path)
            found.extend(body["items"])
            path = body.get("next")
        return found

    def model(self, model_id: int) -> dict[str, Any]:
        _, _, body = self.call("GET", f"/v1/models/{model_id}")
        return dict(body)

    def put_profile(self, model_id: int, profile: dict[str, Any]) -> dict[str, Any]:
        """Replace a model's profile with a measured one."""
        _, _, body = self.call("PUT", f"/v1/models/{model_id}/profile?source=measured", profile)
        return dict(body)


class ApiPlanSource:
    """The :class:`executor.agent.PlanSource` of an executor: registers it
    (once ``url`` is known, on the first call that succeeds), then pulls
    plans and sends heartbeats as that executor."""

    def __init__(self, client: ApiClient, cluster_id: int, name: str, devices: list[int]) -> None:
        self.client = client
        self.cluster_id = cluster_id
        self.name = name
        self.devices = devices
        self.url: str | None = None
        self.executor_id: int | None = None
        self._lock = threading.Lock()

    def _registered(self) -> int:
        """The executor id, registering once (heartbeats and polls come
        from different threads)."""
        with self._lock:
            if self.executor_id is None:
                if self.url is None:
                    raise ApiUnavailable("the executor's own URL is not known yet")
                self.executor_id = self.client.register(
                    self.name, self.cluster_id, self.devices, self.url
                )
            return self.executor_id

    def fetch_plan(self, etag: str | None) -> ServedPlan | None:
        self._registered()
        return self.client.fetch_plan(self.cluster_id, etag)

    def heartbeat(self, report: dict[str, Any]) -> None:
        self.client.heartbeat(self._registered(), report)
