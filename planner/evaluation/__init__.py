"""Evaluation: the harness around the planner, never called by it: the
re-placement experiment, capacity search, traffic builders and report data."""
