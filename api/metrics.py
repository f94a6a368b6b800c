"""Prometheus metrics at ``/metrics``: request counts and latencies of this
process, plus gauges read from the database at scrape time (jobs by status,
executors by state and health, each cluster's plan version), which are the
same whichever process answers. While the database is unavailable the
scrape still answers: ``meshplan_database_up`` is 0 and the gauges read
from it are left out, so the request counts (503s included) keep flowing."""

from __future__ import annotations

import time
from collections.abc import Iterator

from flask import Flask, Response, g, request
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import func, select

from api.database import database
from store.db import UNAVAILABLE
from store.enums import JobStatus
from store.models import ActivePlan, Executor, PlanJob

_EXTENSION = "meshplan.metrics"
LATENCY_BUCKETS_S = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0)


class StoreCollector(Collector):
    """Gauges computed from the database on every scrape."""

    def __init__(self, app: Flask) -> None:
        self.app = app

    def collect(self) -> Iterator[Metric]:
        up = GaugeMetricFamily(
            "meshplan_database_up", "1 when the database answered this scrape, else 0"
        )
        try:
            gauges = list(self._read())
        except UNAVAILABLE:
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        yield from gauges

    def _read(self) -> Iterator[Metric]:
        jobs = GaugeMetricFamily("meshplan_jobs", "Plan jobs by status", labels=["status"])
        executors = GaugeMetricFamily(
            "meshplan_executors", "Registered executors by reported state", labels=["state"]
        )
        versions = GaugeMetricFamily(
            "meshplan_plan_version", "Active plan version per cluster", labels=["cluster_id"]
        )
        with database(self.app).readers() as session:
            counts = dict(
                session.execute(select(PlanJob.status, func.count()).group_by(PlanJob.status)).all()
            )
            for status in JobStatus:
                jobs.add_metric([status.value], counts.get(status, 0))
            states = session.execute(select(Executor.state, func.count()).group_by(Executor.state))
            for state, count in states:
                executors.add_metric([state.value], count)
            for cluster_id, version in session.execute(
                select(ActivePlan.cluster_id, ActivePlan.version)
            ):
                versions.add_metric([str(cluster_id)], version)
        yield from (jobs, executors, versions)


class Metrics:
    def __init__(self, app: Flask) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "meshplan_http_requests",
            "HTTP requests answered",
            ["method", "endpoint", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "meshplan_http_request_duration_seconds",
            "Time to answer an HTTP request",
            ["method", "endpoint"],
            buckets=LATENCY_BUCKETS_S,
            registry=self.registry,
        )
        self.registry.register(StoreCollector(app))


def init_app(app: Flask) -> None:
    """Count and time every request; serve ``GET /metrics``."""
    metrics = Metrics(app)
    app.extensions[_EXTENSION] = metrics

    @app.before_request
    def _start() -> None:
        g.request_started = time.perf_counter()

    @app.after_request
    def _observe(response: Response) -> Response:
        endpoint = request.url_rule.rule if request.url_rule is not None else "<unmatched>"
        metrics.requests.labels(request.method, endpoint, str(response.status_code)).inc()
        started = g.get("request_started")
        if started is not None:
            elapsed = time.perf_counter() - started
            metrics.latency.labels(request.method, endpoint).observe(elapsed)
        return response


def exposition(app: Flask) -> Response:
    """The Prometheus text exposition of ``app``'s metrics."""
    metrics: Metrics = app.extensions[_EXTENSION]
    return Response(generate_latest(metrics.registry), content_type=CONTENT_TYPE_LATEST)
