"""Matplotlib figures as inline SVG text (Agg backend, no display needed).

Text stays text (``svg.fonttype = "none"``) so a browser lays it out and a
page search finds axis labels; element ids are salted per figure so several
figures can share one HTML page; no date or generator metadata is written,
so the same data gives the same bytes.
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
from matplotlib.figure import Figure

_METADATA = re.compile(r"<metadata>.*?</metadata>\s*", re.DOTALL)

STYLE: dict[Any, Any] = {
    "svg.fonttype": "none",
    "font.size": 9.0,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "axes.spines.top": False,
    "axes.spines.right": False,
}


@contextmanager
def figure(width_in: float, height_in: float) -> Iterator[Figure]:
    """A new figure in the report style, closed when the block ends."""
    with plt.rc_context(STYLE):
        fig = plt.figure(figsize=(width_in, height_in), layout="constrained")
        try:
            yield fig
        finally:
            plt.close(fig)


def to_svg(fig: Figure, salt: str) -> str:
    """The figure as an ``<svg>`` element for inlining in HTML (no XML
    prolog, DOCTYPE or metadata); ``salt`` makes its element ids unique in
    the page."""
    buffer = io.StringIO()
    with plt.rc_context({**STYLE, "svg.hashsalt": salt}):
        fig.savefig(buffer, format="svg", metadata={"Date": None, "Creator": None})
    text = buffer.getvalue()
    text = text[text.index("<svg") :]
    return _METADATA.sub("", text)
