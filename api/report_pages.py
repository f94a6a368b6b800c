"""The HTML page of a stored report, rendered once per report and renderer
version (:func:`api.reporting.renderer.renderer_version`) and kept in the
database (:mod:`store.repositories.report_pages`): the first request for a
page renders it (seconds: matplotlib), every later one reads it back with
its ETag. Raises :class:`api.reporting.renderer.RendererMissing` when a page
must be rendered and matplotlib is not installed."""

from __future__ import annotations

from api.database import database, session
from api.reporting.renderer import load_renderer, renderer_version
from planner.evaluation.reports import parse_report
from store.db import transaction
from store.models import Report, ReportPage
from store.repositories.report_pages import cached_page, keep_page


def report_page(report: Report) -> ReportPage:
    """The report's page: the kept one, or rendered now and kept."""
    renderer = renderer_version()
    page = cached_page(session(), report.id, renderer)
    if page is not None:
        return page
    html = load_renderer()(parse_report(report.data, "data"))
    with transaction(database().writers, write=True) as writer:
        return keep_page(writer, report.id, renderer, html)
