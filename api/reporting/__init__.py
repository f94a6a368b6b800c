"""Rendering of report data (:mod:`planner.evaluation.reports`): one self-contained
HTML page with inline SVG figures (matplotlib, Agg backend), plus the data
as JSON and CSV."""
