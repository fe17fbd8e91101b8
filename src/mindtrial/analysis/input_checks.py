"""Input checks shared by every estimator: fail loudly, never fit a meaningless model."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from mindtrial.analysis.errors import AnalysisError

_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def formula_variables(formula: str, columns: Sequence[str]) -> tuple[str, list[str]]:
    """Split a ``y ~ x + ...`` formula into the outcome column and the data columns it uses.

    Only names that are columns of the data count (so ``C(week)`` yields ``week``); names that
    are neither columns nor known formula functions are reported as missing columns.
    """
    if formula.count("~") != 1:
        raise AnalysisError(f"formula {formula!r}: expected exactly one '~' (outcome ~ terms)")
    lhs, rhs = (part.strip() for part in formula.split("~"))
    if not _IDENTIFIER.fullmatch(lhs):
        raise AnalysisError(f"formula {formula!r}: the outcome must be a single column name")
    if lhs not in columns:
        raise AnalysisError(
            f"formula {formula!r}: outcome column {lhs!r} is not in the data "
            f"(columns: {', '.join(map(str, columns))})"
        )
    known_functions = {"C", "I", "np", "log", "exp", "Treatment", "Sum", "center", "standardize"}
    # Drop string literals and keyword-argument names: C(week, Treatment(reference="w00")).
    scanned = re.sub(
        r"\b[A-Za-z_][A-Za-z0-9_]*\s*=(?!=)", " ", re.sub(r"'[^']*'|\"[^\"]*\"", " ", rhs)
    )
    names: list[str] = []
    for name in _IDENTIFIER.findall(scanned):
        if name in columns:
            if name not in names:
                names.append(name)
        elif name not in known_functions and not name.isdigit():
            raise AnalysisError(
                f"formula {formula!r}: {name!r} is not a column of the data "
                f"(columns: {', '.join(map(str, columns))})"
            )
    return lhs, names


def prepare(
    data: pd.DataFrame,
    *,
    outcome: str | None,
    predictors: Sequence[str],
    extra: Sequence[str] = (),
    levels: Mapping[str, Sequence[object]] | None = None,
) -> tuple[pd.DataFrame, int]:
    """Return the analysed rows (listwise deletion) and how many rows were dropped.

    Raises :class:`AnalysisError` for: a missing column, an outcome missing in every row, no
    complete rows, an expected level (e.g. an arm) with no analysed rows or an unexpected level,
    and a predictor with a single value among the analysed rows.
    """
    if not isinstance(data, pd.DataFrame):
        raise AnalysisError(f"data: expected a pandas DataFrame, got {type(data).__name__}")
    needed = [c for c in [outcome, *predictors, *extra] if c is not None]
    missing = [c for c in needed if c not in data.columns]
    if missing:
        raise AnalysisError(
            f"column(s) {', '.join(map(repr, missing))} not in the data "
            f"(columns: {', '.join(map(str, data.columns))})"
        )
    if len(data) == 0:
        raise AnalysisError("data: no rows to analyse")
    if outcome is not None and bool(data[outcome].isna().all()):
        raise AnalysisError(f"outcome {outcome!r} is missing in all {len(data)} rows")
    for col in extra:
        if bool(data[col].isna().all()):
            raise AnalysisError(f"column {col!r} is missing in all {len(data)} rows")
    used = list(dict.fromkeys(needed))
    for col in used:
        series = data[col]
        if pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series):
            infinite = np.isinf(series.to_numpy(dtype=float, na_value=np.nan))
            if infinite.any():
                raise AnalysisError(
                    f"column {col!r} has {int(infinite.sum())} infinite value(s) "
                    f"(first at row {data.index[infinite.argmax()]!r}); expected finite numbers"
                )
    frame = data.loc[:, used].dropna()
    dropped = len(data) - len(frame)
    if frame.empty:
        raise AnalysisError(
            f"no row has all of {', '.join(map(repr, used))} observed; nothing to analyse"
        )
    for col, expected in (levels or {}).items():
        if col not in frame.columns:
            raise AnalysisError(f"levels given for {col!r}, which the model does not use")
        present = set(frame[col].tolist())
        empty = [lvl for lvl in expected if lvl not in present]
        if empty:
            raise AnalysisError(
                f"{col!r}: level(s) {', '.join(map(repr, empty))} have no analysed rows "
                f"(an empty arm cannot be compared); rows per level: "
                f"{frame[col].value_counts().to_dict()}"
            )
        unexpected = sorted(map(str, present - set(expected)))
        if unexpected:
            raise AnalysisError(
                f"{col!r}: unexpected level(s) {', '.join(unexpected)}; expected "
                f"{', '.join(map(str, expected))}"
            )
    for col in predictors:
        series = frame[col]
        if isinstance(series.dtype, pd.CategoricalDtype):
            unused = [c for c in series.cat.categories if not bool((series == c).any())]
            if unused:
                raise AnalysisError(
                    f"{col!r}: category level(s) {', '.join(map(repr, unused))} have no "
                    "analysed rows (empty arm or level); drop unused categories or fix the data"
                )
        values = series.unique()
        if len(values) <= 1:
            value = values[0].item() if hasattr(values[0], "item") else values[0]
            raise AnalysisError(
                f"covariate {col!r} has a single value ({value!r}) in the {len(frame)} "
                "analysed rows; its effect cannot be estimated — remove it from the model"
            )
    return frame, dropped


def check_full_rank(matrix: np.ndarray, names: Sequence[str]) -> None:
    """Raise :class:`AnalysisError` naming the design columns that are linear combinations of
    earlier ones (aliased terms), instead of letting a solver return arbitrary numbers.

    Full rank means ``numpy.linalg.matrix_rank`` finds every column. A design that is
    certainly full rank is recognised from its cross-product alone (:func:`surely_full_rank`,
    one ``O(N p^2)`` product); only the others pay for the singular value decompositions."""
    if surely_full_rank(matrix) or np.linalg.matrix_rank(matrix) == matrix.shape[1]:
        return
    aliased: list[str] = []
    kept: list[int] = []
    for j in range(matrix.shape[1]):
        candidate = [*kept, j]
        if np.linalg.matrix_rank(matrix[:, candidate]) == len(candidate):
            kept = candidate
        else:
            aliased.append(names[j])
    if aliased:
        raise AnalysisError(
            f"design matrix is rank deficient: {', '.join(aliased)} "
            "is a linear combination of the other terms (aliased); remove or recode it"
        )


def surely_full_rank(matrix: np.ndarray) -> bool:
    """Whether ``matrix_rank`` would certainly find every column, judged from ``X'X``.

    ``matrix_rank`` counts singular values above ``s_max * max(N, p) * eps``, so every column
    counts when the condition number is below ``1 / (max(N, p) eps)``. With ``D`` the column
    norms and ``G = D^-1 X'X D^-1`` (unit diagonal), ``cond(X) <= sqrt(cond(G)) * max(D) /
    min(D)``. ``G``'s eigenvalues are computed to about ``N eps``, so the bound is trusted
    only when its smallest eigenvalue is far above that (1e-8) and the bound itself is a
    hundred times below the threshold; anything else is left to the SVD.
    """
    n, p = matrix.shape
    if n < p or p == 0:
        return False
    cross = matrix.T @ matrix
    norms = np.sqrt(np.diag(cross))
    if not np.all(np.isfinite(norms)) or norms.min() <= 0:
        return False
    eigen = np.linalg.eigvalsh(cross / np.outer(norms, norms))
    if eigen[0] <= 1e-8:
        return False
    bound = np.sqrt(eigen[-1] / eigen[0]) * norms.max() / norms.min()
    return bool(bound * max(n, p) * np.finfo(float).eps < 1e-2)
