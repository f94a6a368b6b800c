"""How well a proxy ranks plans the way the simulator does: Spearman's rho
and Kendall's tau-b between proxy values and simulated attainments of the
plans a solver visited (both in [-1, 1]; None with fewer than two distinct
values on either side, where no ranking exists)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt


def _ranks(values: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """Average ranks (ties share the mean of their positions)."""
    order = np.argsort(values, kind="stable")
    ranks = np.empty(values.size)
    ranks[order] = np.arange(values.size, dtype=np.float64)
    for value in np.unique(values):
        tied = values == value
        ranks[tied] = ranks[tied].mean()
    return ranks


def spearman(x: Sequence[float], y: Sequence[float]) -> float | None:
    """Pearson correlation of the average ranks."""
    a, b = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    if a.size < 2 or np.unique(a).size < 2 or np.unique(b).size < 2:
        return None
    return float(np.corrcoef(_ranks(a), _ranks(b))[0, 1])


def kendall(x: Sequence[float], y: Sequence[float]) -> float | None:
    """Kendall's tau-b (ties corrected)."""
    a, b = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    if a.size < 2 or np.unique(a).size < 2 or np.unique(b).size < 2:
        return None
    da = np.sign(a[:, None] - a[None, :])
    db = np.sign(b[:, None] - b[None, :])
    upper = np.triu_indices(a.size, 1)
    concordance = float((da * db)[upper].sum())
    pairs_a = float(np.count_nonzero(da[upper]))
    pairs_b = float(np.count_nonzero(db[upper]))
    return concordance / float(np.sqrt(pairs_a * pairs_b))


def rank_agreement(proxy: Sequence[float], simulated: Sequence[float]) -> dict[str, object]:
    """The stats a solve reports: both correlations and the number of plans."""
    return {
        "proxy_rank_correlation": spearman(proxy, simulated),
        "proxy_kendall_tau": kendall(proxy, simulated),
        "proxy_plans_compared": len(proxy),
    }
