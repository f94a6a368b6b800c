"""Report data: comparisons as plain values (see :mod:`planner.report`)."""
