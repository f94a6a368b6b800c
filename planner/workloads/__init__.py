"""Workload building blocks behind :mod:`planner.workload` (the public face):
arrival processes, Azure trace readers, the synthetic Azure-like generator,
windows, rate/CV scaling and storage. Import from :mod:`planner.workload`."""
