"""Evaluation: the harness around the planner, never called by it: the
re-placement experiment, capacity search, traffic builders, Clockwork++ as
the evaluations run it, and report data."""
