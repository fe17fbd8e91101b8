"""Multiple imputation by chained equations with predictive mean matching (PMM).

Our own implementation (numpy only, so it is seeded and typed), following the algorithm of
``mice(method = "pmm")`` (van Buuren, *Flexible Imputation of Missing Data*, §3.4):

1. start every missing value with a random draw from that column's observed values;
2. for ``iterations`` cycles, for each incomplete column in turn: regress its observed values
   on all other columns (current imputations included) by least squares; draw
   ``sigma* ~ sqrt(RSS / chi2(n - p))`` and ``beta* ~ N(beta_hat, sigma*^2 (X'X)^-1)``;
   predict the observed rows with ``beta_hat`` and the missing rows with ``beta*``
   ("type 1" matching); for each missing row pick one of the ``donors`` observed rows with the
   closest predictions at random and copy its observed value.

PMM only ever imputes values that occur in the data, so 0/1 indicators stay 0/1 and scores stay
on their scale. Each of the ``m`` completed datasets comes from its own chain with an
independent generator spawned from ``seed``. It does not reproduce mice's random streams, so
completed datasets differ from R's; the *pooling* is validated against ``mice::pool`` on the same
completed data (tests/reference) and the imputation itself by a missing-at-random recovery test.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from mindtrial.analysis.errors import AnalysisError

__all__ = ["impute_pmm"]

_RIDGE = 1e-5  # as mice's default ridge, keeps X'X invertible for near-collinear predictors


def _encode_predictors(data: pd.DataFrame, columns: Sequence[str]) -> pd.DataFrame:
    """Numeric predictors as they are; categorical ones one-hot (first level dropped)."""
    parts: list[pd.DataFrame] = []
    for col in columns:
        series = data[col]
        if pd.api.types.is_bool_dtype(series) or pd.api.types.is_numeric_dtype(series):
            parts.append(series.astype(float).to_frame(col))
        else:
            if bool(series.isna().any()):
                raise AnalysisError(
                    f"impute_pmm: categorical column {col!r} has missing values; only numeric "
                    "columns can be imputed — encode it numerically or exclude it"
                )
            parts.append(pd.get_dummies(series, prefix=col, drop_first=True, dtype=float))
    return pd.concat(parts, axis=1) if parts else pd.DataFrame(index=data.index)


def _draw_pmm(
    x_obs: np.ndarray,
    y_obs: np.ndarray,
    x_mis: np.ndarray,
    *,
    donors: int,
    rng: np.random.Generator,
) -> np.ndarray:
    n, p = x_obs.shape
    xtx = x_obs.T @ x_obs
    xtx += np.diag(np.maximum(np.diag(xtx), 1.0) * _RIDGE)
    v = np.linalg.inv(xtx)
    v = (v + v.T) / 2
    beta_hat = v @ (x_obs.T @ y_obs)
    rss = float(np.sum((y_obs - x_obs @ beta_hat) ** 2))
    sigma = np.sqrt(rss / rng.chisquare(max(n - p, 1)))
    beta_star = beta_hat + sigma * (np.linalg.cholesky(v) @ rng.standard_normal(p))
    yhat_obs = x_obs @ beta_hat
    yhat_mis = x_mis @ beta_star
    order = np.argsort(yhat_obs, kind="stable")
    sorted_hat = yhat_obs[order]
    pos = np.searchsorted(sorted_hat, yhat_mis)
    k = min(donors, n)
    window = pos[:, None] + np.arange(-k, k)[None, :]
    valid = (window >= 0) & (window < n)
    clipped = np.clip(window, 0, n - 1)
    dist = np.where(valid, np.abs(sorted_hat[clipped] - yhat_mis[:, None]), np.inf)
    nearest = np.argsort(dist, axis=1, kind="stable")[:, :k]
    pick = nearest[np.arange(len(yhat_mis)), rng.integers(0, k, size=len(yhat_mis))]
    chosen = clipped[np.arange(len(yhat_mis)), pick]
    out: np.ndarray = y_obs[order][chosen]
    return out


def impute_pmm(
    data: pd.DataFrame,
    *,
    m: int,
    seed: int | np.random.Generator,
    columns: Sequence[str] | None = None,
    predictors: Sequence[str] | None = None,
    iterations: int = 10,
    donors: int = 5,
) -> tuple[pd.DataFrame, ...]:
    """Return ``m`` completed copies of ``data`` (same index and columns).

    Args:
        data: one row per unit (wide format: one column per outcome occasion).
        m: number of imputations (the M-ROCC plan asks for at least 20).
        seed: integer seed or a ``numpy.random.Generator``; the same seed gives the same data.
        columns: columns to impute; default every numeric column with a missing value.
        predictors: columns used in every imputation model; default every column that is not
            an identifier-like string (numeric columns plus categorical columns with < 20
            levels, one-hot coded). A column never predicts itself.
        iterations: Gibbs cycles per chain (mice's ``maxit``; 10 is a common choice, mice's
            default is 5).
        donors: candidate donors per missing value (mice's default 5).
    """
    if m < 1:
        raise AnalysisError(f"impute_pmm: m must be at least 1, got {m}")
    if iterations < 1 or donors < 1:
        raise AnalysisError("impute_pmm: iterations and donors must be at least 1")
    if columns is None:
        columns = [
            c
            for c in data.columns
            if pd.api.types.is_numeric_dtype(data[c]) and bool(data[c].isna().any())
        ]
    missing_cols = [c for c in columns if c not in data.columns]
    if missing_cols:
        raise AnalysisError(f"impute_pmm: column(s) {missing_cols} not in the data")
    for col in columns:
        if not pd.api.types.is_numeric_dtype(data[col]):
            raise AnalysisError(
                f"impute_pmm: column {col!r} is not numeric; PMM here imputes numeric columns"
            )
        n_obs = int(data[col].notna().sum())
        if n_obs < 2:
            raise AnalysisError(
                f"impute_pmm: column {col!r} has {n_obs} observed value(s); cannot impute it"
            )
    if predictors is None:
        predictors = [
            c
            for c in data.columns
            if pd.api.types.is_numeric_dtype(data[c])
            or pd.api.types.is_bool_dtype(data[c])
            or data[c].nunique(dropna=True) < 20
        ]
    unknown = [c for c in predictors if c not in data.columns]
    if unknown:
        raise AnalysisError(f"impute_pmm: predictor column(s) {unknown} not in the data")
    for col in predictors:
        if (
            col not in columns
            and pd.api.types.is_numeric_dtype(data[col])
            and bool(data[col].isna().any())
        ):
            raise AnalysisError(
                f"impute_pmm: predictor {col!r} has missing values but is not imputed; add it to "
                "columns or drop it from predictors"
            )
    root = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    chains = root.spawn(m)
    # Numeric working matrix (targets + numeric predictors, updated in place) and a fixed block
    # of one-hot coded categorical predictors (complete by the checks above).
    numeric = list(dict.fromkeys([*columns, *(c for c in predictors if _is_numeric(data[c]))]))
    categorical = [c for c in predictors if c not in numeric]
    fixed = _encode_predictors(data, categorical).to_numpy(dtype=float)
    base = data[numeric].astype(float).to_numpy()
    position = {c: i for i, c in enumerate(numeric)}
    masks = {c: data[c].isna().to_numpy() for c in columns}
    predictor_set = set(predictors)
    completed: list[pd.DataFrame] = []
    for rng in chains:
        work = base.copy()
        for col in columns:
            miss = masks[col]
            j = position[col]
            if miss.any():
                work[miss, j] = rng.choice(work[~miss, j], size=int(miss.sum()))
        if any(masks[c].any() for c in columns):
            for _ in range(iterations):
                for col in columns:
                    miss = masks[col]
                    if not miss.any():
                        continue
                    j = position[col]
                    others = [position[c] for c in numeric if c != col and c in predictor_set]
                    x = np.column_stack([np.ones(len(work)), work[:, others], fixed])
                    y = work[:, j]
                    work[miss, j] = _draw_pmm(x[~miss], y[~miss], x[miss], donors=donors, rng=rng)
        frame = data.copy()
        for col in columns:
            if masks[col].any():
                frame[col] = work[:, position[col]]
        completed.append(frame)
    return tuple(completed)


def _is_numeric(series: pd.Series) -> bool:
    return bool(pd.api.types.is_numeric_dtype(series) or pd.api.types.is_bool_dtype(series))
