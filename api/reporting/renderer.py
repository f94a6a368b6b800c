"""The HTML renderer, imported only where a page is asked for: it needs
matplotlib, which comes with the ``report`` extra, and the service (``meshplan
serve``, the API app) must start without it. Importing this module imports
neither matplotlib nor the rendering modules."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from functools import cache
from importlib import metadata
from pathlib import Path

import planner.codec
import planner.evaluation.reports
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


@cache
def renderer_version() -> str:
    """What a rendered page depends on besides its report's data, as 32 hex
    digits: the sources of this package, of the report types and of the
    codec that reads them, and the matplotlib version ("none" when it is
    not installed). Pages rendered by another version are rendered again."""
    sources = [
        *sorted(Path(__file__).parent.glob("*.py")),
        *sorted(Path(planner.evaluation.reports.__file__).parent.glob("*.py")),
        Path(planner.codec.__file__),
    ]
    digest = hashlib.sha256()
    for path in sources:
        digest.update(path.name.encode() + b"\0" + path.read_bytes())
    try:
        digest.update(metadata.version("matplotlib").encode())
    except metadata.PackageNotFoundError:
        digest.update(b"none")
    return digest.hexdigest()[:32]
