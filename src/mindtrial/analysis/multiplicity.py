"""Multiple-comparison adjustment."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from mindtrial.analysis.errors import AnalysisError

__all__ = ["benjamini_hochberg"]


def benjamini_hochberg(p_values: Sequence[float] | np.ndarray) -> np.ndarray:
    """Benjamini–Hochberg (1995) FDR-adjusted p-values, as R's ``p.adjust(p, "BH")``.

    ``adjusted[i] = min(1, min over j with p_j >= p_i of p_j * n / rank_j)``. NaN entries stay
    NaN and do not count in ``n`` (R's behaviour with ``NA``). Output is in input order.
    """
    p = np.asarray(p_values, dtype=float)
    if p.ndim != 1:
        raise AnalysisError("benjamini_hochberg: expected a flat sequence of p-values")
    observed = ~np.isnan(p)
    values = p[observed]
    if ((values < 0) | (values > 1)).any():
        raise AnalysisError("benjamini_hochberg: p-values must lie in [0, 1]")
    out = np.full(p.shape, np.nan)
    n = values.size
    if n == 0:
        return out
    order = np.argsort(values)[::-1]  # largest first
    ranks = np.arange(n, 0, -1)
    adjusted = np.minimum.accumulate(values[order] * n / ranks)
    result = np.empty(n)
    result[order] = np.minimum(adjusted, 1.0)
    out[observed] = result
    return out
