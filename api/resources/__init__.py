"""The /v1 blueprints, one per resource."""

from __future__ import annotations

from flask import Blueprint

from api.resources import (
    capacity,
    clusters,
    executors,
    jobs,
    keys,
    models,
    plans,
    replanner,
    reports,
    traffic,
    workloads,
)

BLUEPRINTS: tuple[Blueprint, ...] = (
    clusters.bp,
    models.bp,
    workloads.bp,
    plans.bp,
    jobs.bp,
    capacity.bp,
    executors.bp,
    traffic.bp,
    replanner.bp,
    keys.bp,
    reports.bp,
)
