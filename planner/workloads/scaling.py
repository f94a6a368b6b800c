"""Changing the rate or burstiness of an existing workload.

Two ways, both seeded:

- :func:`scale_rate` thins or replicates requests in place. Each request is
  kept ``floor(f)`` times plus once more with probability ``f - floor(f)``;
  copies share the original arrival time. Thinning (``f < 1``) keeps the
  rate shape over time but pushes a renewal process's CV towards 1;
  replication (``f > 1``) adds simultaneous copies, i.e. bursts.
- :func:`redraw` fits a Gamma process per model and window
  (:mod:`planner.workloads.fit`), multiplies each rate by ``rate_scale`` and
  each CV by ``cv_scale``, and draws fresh arrivals; the time-varying rate is
  kept at the window's resolution and the CV is controlled exactly.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from planner.domain import Workload
from planner.workloads.arrivals import (
    Seed,
    as_generator,
    non_negative,
    seed_meta,
    windowed_workload,
)
from planner.workloads.fit import fit_windows


def scale_rate(workload: Workload, factor: float, seed: Seed) -> Workload:
    """Thin (``factor < 1``) or replicate (``factor > 1``) the requests;
    the expected request count is multiplied by ``factor``."""
    factor = non_negative("factor", factor)
    whole = int(np.floor(factor))
    rng = as_generator(seed)
    copies = whole + (rng.random(workload.num_requests) < factor - whole)
    return replace(
        workload,
        arrivals_s=np.repeat(workload.arrivals_s, copies),
        model_ids=np.repeat(workload.model_ids, copies),
        meta={**workload.meta, "scale_rate": {"factor": factor, "seed": seed_meta(seed)}},
    )


def redraw(
    workload: Workload,
    window_s: float,
    seed: Seed,
    rate_scale: float = 1.0,
    cv_scale: float = 1.0,
    max_arrivals: int | None = None,
) -> Workload:
    """Fresh arrivals from per-window Gamma fits of ``workload`` with every
    rate times ``rate_scale`` and every CV times ``cv_scale``; at most about
    ``max_arrivals`` (:class:`~planner.workloads.arrivals.ArrivalBudgetError`)."""
    rate_scale = non_negative("rate_scale", rate_scale)
    cv_scale = non_negative("cv_scale", cv_scale)
    table, rates, cvs = fit_windows(workload, window_s)
    meta = {
        **workload.meta,
        "redraw": {
            "window_s": window_s,
            "rate_scale": rate_scale,
            "cv_scale": cv_scale,
            "seed": seed_meta(seed),
        },
    }
    return windowed_workload(
        rates * rate_scale,
        cvs * cv_scale,
        table.starts_s,
        table.ends_s,
        workload.model_names,
        seed,
        meta,
        max_arrivals,
    )
