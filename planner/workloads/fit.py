"""Per-window Gamma fits of a workload, by the method of moments: in a
window holding ``n`` arrivals of a model, with mean gap ``g`` and gap CV
``c`` (gaps inside the window only),

- ``n >= 3`` and ``g > 0``: rate ``1 / g`` requests/s and CV ``c``; but when
  ``1 / g`` exceeds :data:`BIAS_LIMIT` times the empirical rate
  ``n / window length`` (arrivals bunched in a small part of the window),
  the rate falls back to the empirical rate and the CV stays ``c``, as in
  the reference evaluation;
- ``n`` of 1 or 2 (fewer than two gaps, too few for a CV), or all ``n``
  arrivals at one instant: the empirical rate and CV 1 (Poisson);
- ``n = 0``: rate 0 (the window stays empty).
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from planner.domain import Workload
from planner.workloads.windows import MIN_ARRIVALS_FOR_CV, GapTable, gap_table

FloatArray = npt.NDArray[np.float64]

BIAS_LIMIT = 5.0


def fit_windows(workload: Workload, window_s: float) -> tuple[GapTable, FloatArray, FloatArray]:
    """``(table, rates_rps, cvs)``: the gap table of ``workload`` and the
    fitted Gamma rate and CV per model and window (arrays of shape
    ``(num_models, num_windows)``), by the rules in the module docstring."""
    table = gap_table(workload, window_s)
    empirical = table.counts / (table.ends_s - table.starts_s)
    fitted = (table.counts >= MIN_ARRIVALS_FOR_CV) & (table.mean_gap_s > 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        moment_rate = np.where(fitted, 1.0 / table.mean_gap_s, np.inf)
    rates = np.where(moment_rate <= BIAS_LIMIT * empirical, moment_rate, empirical)
    cvs = np.where(fitted, table.cv, 1.0)
    return table, rates, cvs
