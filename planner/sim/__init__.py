"""The serving simulator's parts: options and outcomes, plan/workload
compilation into flat arrays, the readable reference engine, the numba fast
engine and the result metrics. :mod:`planner.simulator` is the public face."""
