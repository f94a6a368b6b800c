"""The closed sets of values stored in the database (as strings guarded by
named CHECK constraints). Kept apart from the models so that code which only
needs the values (the CLI) does not import SQLAlchemy."""

from __future__ import annotations

import enum


class JobStatus(enum.StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"


class Role(enum.StrEnum):
    """API key roles. ``admin`` may do everything; ``executor`` may read and
    act as an executor (register, heartbeat, upload measured profiles);
    ``reader`` may only read."""

    ADMIN = "admin"
    EXECUTOR = "executor"
    READER = "reader"


class ProfileSource(enum.StrEnum):
    DECLARED = "declared"
    MEASURED = "measured"


class ExecutorState(enum.StrEnum):
    REGISTERED = "registered"
    STARTING = "starting"
    LOADING = "loading"
    SERVING = "serving"
    DEGRADED = "degraded"


class JobKind(enum.StrEnum):
    """What a job computes: a placement (``plan``), the fewest devices for
    a target attainment (``capacity``), or one window's live re-placement
    decision for a cluster (``replan``)."""

    PLAN = "plan"
    CAPACITY = "capacity"
    REPLAN = "replan"


class DecisionAction(enum.StrEnum):
    """What the live re-planner decided for a window: keep the placement,
    switch to a new one, revert the last switch, or hold (the switch cap
    was reached)."""

    KEEP = "keep"
    SWITCH = "switch"
    REVERT = "revert"
    HOLD = "hold"
