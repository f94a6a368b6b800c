"""The HTML renderer, imported only where a page is asked for: it needs
matplotlib, which comes with the ``report`` extra, and the service (``meshplan
serve``, the API app) must start without it. Importing this module imports
neither matplotlib nor the rendering modules."""

from __future__ import annotations

from collections.abc import Callable

from planner.evaluation.reports import Report

REPORT_EXTRA = "pip install 'meshplan[report]'"
"""How to get the renderer's dependencies."""


class RendererMissing(RuntimeError):
    """The renderer's dependencies (the ``report`` extra) are not installed."""


def load_renderer() -> Callable[[Report], str]:
    """:func:`api.reporting.html.render_html`, imported now; raises
    :class:`RendererMissing` when matplotlib cannot be imported."""
    try:
        from api.reporting.html import render_html
    except ImportError as error:
        if (error.name or "").partition(".")[0] != "matplotlib":
            raise
        raise RendererMissing(
            f"rendering a report as HTML needs matplotlib, from the 'report' extra ({REPORT_EXTRA})"
        ) from error
    return render_html
