"""Write a report as files: the HTML page, its JSON data and CSV tables."""

from __future__ import annotations

import json
from pathlib import Path

from api.reporting.html import render_html
from api.reporting.tables import compare_table_csv, replan_csv_files, sweeps_csv
from planner.codec import encode
from planner.evaluation.reports import ReplanReport, Report


def csv_files(report: Report) -> dict[str, str]:
    """File name → CSV text of every table of ``report``."""
    if isinstance(report, ReplanReport):
        return replan_csv_files(report)
    return {"table.csv": compare_table_csv(report), "sweeps.csv": sweeps_csv(report)}


def write_report(report: Report, out_dir: str | Path) -> dict[str, Path]:
    """Write ``report.html``, ``report.json`` and the CSV tables into
    ``out_dir`` (created if missing); returns file name → path."""
    folder = Path(out_dir)
    folder.mkdir(parents=True, exist_ok=True)
    texts = {
        "report.html": render_html(report),
        "report.json": json.dumps(encode(report), indent=1) + "\n",
        **csv_files(report),
    }
    paths = {}
    for name, text in texts.items():
        path = folder / name
        path.write_text(text, encoding="utf-8")
        paths[name] = path
    return paths
