"""A report page rendered by headless Chromium: the table and every figure
are laid out with a real size. A copy of the page gets a probe script that
measures the rendered elements and writes the result into the DOM, which
``--dump-dom`` prints; the report itself runs no script."""

from __future__ import annotations

import json
import re
from html import unescape
from pathlib import Path
from typing import Any

from api.reporting.html import render_html
from planner.evaluation.reports import Report
from tests.browser import dump_dom, needs_chromium
from tests.unit.test_report_html import sample_replan, sample_report

pytestmark = needs_chromium

PROBE = """<script>
const edges = r => [r.top, r.bottom, r.left, r.right];
const figures = [...document.querySelectorAll('figure.plot')].map(f => {
  const box = f.querySelector('svg').getBoundingClientRect();
  const texts = [...f.querySelectorAll('svg text')].map(t => edges(t.getBoundingClientRect()));
  return {id: f.id, width: box.width, height: box.height, box: edges(box), texts};
});
const rows = [...document.querySelectorAll('#comparison tbody tr')].map(
  tr => [...tr.cells].map(td => td.textContent));
const tables = [...document.querySelectorAll('table')].map(t => {
  const box = t.getBoundingClientRect();
  return {id: t.id, width: box.width, rows: t.tBodies[0].rows.length, box: edges(box)};
});
document.body.setAttribute('data-probe', JSON.stringify(
  {figures, rows, tables, title: document.title}));
</script>
"""


def rendered_probe(page: Path, profile: Path) -> dict[str, Any]:
    """Load ``page`` in headless Chromium and return what the probe saw."""
    dom, log = dump_dom(page.as_uri(), profile)
    match = re.search(r'data-probe="([^"]*)"', dom)
    assert match, f"no probe in the DOM ({log})"
    data: dict[str, Any] = json.loads(unescape(match.group(1)))
    return data


def probe_page(report: Report, folder: Path) -> dict[str, Any]:
    """Render ``report`` with the probe appended and load it in Chromium."""
    page = folder / "report.html"
    page.write_text(render_html(report).replace("</body>", PROBE + "</body>"), encoding="utf-8")
    return rendered_probe(page, folder / "profile")


GAP_PX = 8.0
"""The least room between a table and any text of a figure near it."""


def check_figures(figures: list[dict[str, Any]], ids: list[str]) -> None:
    assert [f["id"] for f in figures] == ids
    for figure in figures:
        assert figure["width"] > 200 and figure["height"] > 150, figure
        assert len(figure["texts"]) > 5, figure


def check_layout(probe: dict[str, Any]) -> None:
    """Every text of a figure (its title too) lies inside its SVG, and at
    least GAP_PX away from every table it shares columns with."""
    for figure in probe["figures"]:
        top, bottom, left, right = figure["box"]
        for text in figure["texts"]:
            assert top - 1 <= text[0] and text[1] <= bottom + 1, (figure["id"], text)
            assert left - 1 <= text[2] and text[3] <= right + 1, (figure["id"], text)
            for table in probe["tables"]:
                t_top, t_bottom, t_left, t_right = table["box"]
                if text[3] <= t_left or t_right <= text[2]:
                    continue
                gap = max(t_top - text[1], text[0] - t_bottom)
                assert gap >= GAP_PX, (figure["id"], table["id"], text, table["box"])


def test_chromium_renders_table_and_figures(tmp_path: Path) -> None:
    report = sample_report()
    probe = probe_page(report, tmp_path)
    assert probe["title"] == report.title
    assert [row[0] for row in probe["rows"]] == [row.label for row in report.rows]
    assert probe["rows"][0][2] == f"{100 * report.rows[0].attainment:.2f}%"
    assert [(t["id"], t["rows"]) for t in probe["tables"]] == [("comparison", 2)]
    assert probe["tables"][0]["width"] > 300
    check_figures(
        probe["figures"],
        ["sweep-rate_scale", "sweep-num_devices", "placement-greedy", "placement-clockwork"],
    )
    check_layout(probe)


def test_chromium_renders_the_replan_page(tmp_path: Path) -> None:
    report = sample_replan()
    probe = probe_page(report, tmp_path)
    assert probe["title"] == report.title
    tables = [(t["id"], t["rows"]) for t in probe["tables"]]
    assert tables == [("capacity", 2), ("strategies-0", 2), ("switches-0", 1)]
    assert all(t["width"] > 300 for t in probe["tables"])
    check_figures(probe["figures"], ["capacity-figure", "knob-cv", "timeline-0", "losses-0"])
    check_layout(probe)
