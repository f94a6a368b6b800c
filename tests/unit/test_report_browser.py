"""A report page rendered by headless Chromium: the table and every figure
are laid out with a real size. A copy of the page gets a probe script that
measures the rendered elements and writes the result into the DOM, which
``--dump-dom`` prints; the report itself runs no script."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from html import unescape
from pathlib import Path
from typing import Any

import pytest

from api.reporting.html import render_html
from tests.unit.test_report_html import sample_report

CHROMIUM = shutil.which("chromium") or (
    "/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None
)

pytestmark = pytest.mark.skipif(
    CHROMIUM is None,
    reason="Chromium is not installed (Debian package 'chromium'; `make test` installs it "
    "with apt-get when run as root)",
)

PROBE = """<script>
const figures = [...document.querySelectorAll('figure.plot')].map(f => {
  const box = f.querySelector('svg').getBoundingClientRect();
  return {id: f.id, width: box.width, height: box.height,
          texts: f.querySelectorAll('svg text').length};
});
const rows = [...document.querySelectorAll('#comparison tbody tr')].map(
  tr => [...tr.cells].map(td => td.textContent));
const table = document.querySelector('#comparison').getBoundingClientRect();
document.body.setAttribute('data-probe', JSON.stringify(
  {figures, rows, tableWidth: table.width, title: document.title}));
</script>
"""

FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--host-resolver-rules=MAP * ~NOTFOUND",
)


def rendered_probe(page: Path, profile: Path) -> dict[str, Any]:
    """Load ``page`` in headless Chromium and return what the probe saw."""
    assert CHROMIUM is not None
    done = subprocess.run(
        [CHROMIUM, *FLAGS, f"--user-data-dir={profile}", "--dump-dom", page.as_uri()],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    match = re.search(r'data-probe="([^"]*)"', done.stdout)
    assert match, f"no probe in the DOM (exit {done.returncode}): {done.stderr[-2000:]}"
    data: dict[str, Any] = json.loads(unescape(match.group(1)))
    return data


def test_chromium_renders_table_and_figures(tmp_path: Path) -> None:
    report = sample_report()
    page = tmp_path / "report.html"
    page.write_text(render_html(report).replace("</body>", PROBE + "</body>"), encoding="utf-8")
    probe = rendered_probe(page, tmp_path / "profile")
    assert probe["title"] == report.title
    assert [row[0] for row in probe["rows"]] == [row.label for row in report.rows]
    assert probe["rows"][0][2] == f"{100 * report.rows[0].attainment:.2f}%"
    assert probe["tableWidth"] > 300
    assert [f["id"] for f in probe["figures"]] == [
        "sweep-rate_scale",
        "sweep-num_devices",
        "placement-greedy",
        "placement-clockwork",
    ]
    for figure in probe["figures"]:
        assert figure["width"] > 200 and figure["height"] > 150, figure
        assert figure["texts"] > 5, figure
