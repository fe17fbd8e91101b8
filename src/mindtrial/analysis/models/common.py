"""What every estimator shares: input coding, the design matrix, warnings and one finishing
helper that turns estimates and their covariance into a :class:`ModelResult`.

Design matrices use patsy's formula language and term names (``arm[T.mrocc]``,
``arm[T.mrocc]:C(week)[T.8]``), but categorical columns are handed to patsy as pandas
``Categorical`` (levels sorted as patsy sorts them), so patsy takes the integer codes at
once instead of coding the column value by value (most of its time on long data).
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import cache, wraps
from typing import Any, Literal, ParamSpec, TypeVar

import numpy as np
import pandas as pd
import patsy  # type: ignore[import-untyped]
from scipy import stats
from threadpoolctl import ThreadpoolController  # type: ignore[import-untyped]

from mindtrial.analysis.errors import AnalysisError
from mindtrial.analysis.input_checks import check_full_rank, formula_variables
from mindtrial.analysis.results import COEFFICIENT_COLUMNS, DesignBuilder, ModelResult

FamilyName = Literal["binomial", "gaussian", "poisson"]
CovStructName = Literal["exchangeable", "independence", "ar1"]
Levels = Mapping[str, Sequence[object]]

LINKS: dict[str, str] = {"binomial": "logit", "gaussian": "identity", "poisson": "log"}

_P = ParamSpec("_P")
_R = TypeVar("_R")


def single_threaded(func: Callable[_P, _R]) -> Callable[_P, _R]:
    """Run ``func`` with one BLAS thread. The models' matrices are narrow (tens of columns):
    threads cannot speed them up, and on a busy machine OpenBLAS's spinning threads made
    ``X'X`` and SVDs 30-50 times slower (measured: 0.12 s against 4.5 ms for a 4,900 x 55
    ``X'X`` with the two cores shared)."""

    @wraps(func)
    def wrapper(*args: _P.args, **kwargs: _P.kwargs) -> _R:
        with _controller().limit(limits=1, user_api="blas"):
            return func(*args, **kwargs)

    return wrapper


@cache
def _controller() -> ThreadpoolController:
    """The loaded BLAS libraries, found once (finding them reads the process's memory map:
    ~20 ms a call on a busy machine, more than a small model's fit)."""
    return ThreadpoolController()


# --------------------------------------------------------------------------- warnings


@dataclass
class Capture:
    messages: list[str] = field(default_factory=list)
    convergence_problem: bool = False


def _convergence_warnings() -> tuple[type[Warning], ...]:
    from statsmodels.tools.sm_exceptions import (
        ConvergenceWarning,
        HessianInversionWarning,
        IterationLimitWarning,
        PerfectSeparationWarning,
    )

    return (
        ConvergenceWarning,
        HessianInversionWarning,
        IterationLimitWarning,
        PerfectSeparationWarning,
    )


@contextmanager
def capture_warnings() -> Iterator[Capture]:
    """Record every warning raised inside the block (deduplicated, in order)."""
    captured = Capture()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        yield captured
    convergence = _convergence_warnings()
    for w in caught:
        text = f"{w.category.__name__}: {w.message}"
        if text not in captured.messages:
            captured.messages.append(text)
        if issubclass(w.category, convergence):
            captured.convergence_problem = True


# --------------------------------------------------------------------------- design

FORMULA_ENV = patsy.EvalEnvironment([{"np": np}])
_NO_NA_SCAN = patsy.NAAction(NA_types=[])
_C_CALL = re.compile(r"\bC\(\s*([A-Za-z_][A-Za-z0-9_]*)\s*[,)]")


def _sorted_levels(values: np.ndarray) -> list[Any]:
    unique = pd.unique(values)
    try:
        return sorted(unique.tolist())
    except TypeError:  # mixed types: patsy would refuse them too; leave the column alone
        return []


def categorical_codings(formula: str, frame: pd.DataFrame) -> dict[str, list[Any]]:
    """Columns to hand to patsy as pandas ``Categorical``, with the levels patsy would find.

    Strings/objects and booleans are categorical for patsy wherever they appear; a numeric
    column only when every use of it in the formula is wrapped in ``C(...)``. Levels are
    sorted (booleans: ``[False, True]``), as patsy sorts them.
    """
    rhs = formula.split("~", 1)[-1]
    wrapped = set(_C_CALL.findall(rhs))
    bare = re.sub(r"\bC\(\s*[A-Za-z_][A-Za-z0-9_]*", " ", rhs)
    codings: dict[str, list[Any]] = {}
    for column in frame.columns:
        if not re.search(rf"\b{re.escape(str(column))}\b", rhs):
            continue
        series = frame[column]
        if isinstance(series.dtype, pd.CategoricalDtype):
            # already coded here; new data (predictions) may come as plain values
            codings[str(column)] = list(series.cat.categories)
        elif pd.api.types.is_bool_dtype(series):
            codings[str(column)] = [False, True]
        elif pd.api.types.is_object_dtype(series) or pd.api.types.is_string_dtype(series):
            levels = _sorted_levels(series.to_numpy())
            if levels and all(isinstance(v, str) for v in levels):
                codings[str(column)] = levels
        elif (
            pd.api.types.is_numeric_dtype(series)
            and column in wrapped
            and not re.search(rf"\b{re.escape(str(column))}\b", bare)
        ):
            levels = _sorted_levels(series.to_numpy())
            if levels:
                codings[str(column)] = levels
    return codings


def coded(frame: pd.DataFrame, codings: Mapping[str, Sequence[Any]]) -> pd.DataFrame:
    """``frame`` with the columns of ``codings`` as ``Categorical`` (unknown values → NA)."""
    if not codings:
        return frame
    out = frame.copy(deep=False)
    for column, levels in codings.items():
        if column not in out.columns:
            continue
        series = out[column]
        if isinstance(series.dtype, pd.CategoricalDtype) and list(series.cat.categories) == list(
            levels
        ):
            continue
        out[column] = pd.Categorical(np.asarray(series), categories=list(levels))
    return out


def _unwrap_c(formula: str, codings: Mapping[str, Sequence[Any]]) -> tuple[str, list[str]]:
    """``C(week)`` → ``week`` for coded columns (patsy unboxes ``C()`` after its pandas
    ``Categorical`` fast path, so a boxed ``Categorical`` is coded value by value)."""
    unwrapped: list[str] = []

    def bare(match: re.Match[str]) -> str:
        if match.group(1) in codings:
            unwrapped.append(match.group(1))
            return match.group(1)
        return match.group(0)

    return re.sub(r"\bC\(\s*([A-Za-z_][A-Za-z0-9_]*)\s*\)", bare, formula), unwrapped


def _rewrap_names(names: Sequence[str], unwrapped: Sequence[str]) -> list[str]:
    """Column names as the formula wrote them: ``week[T.8]`` → ``C(week)[T.8]``."""
    out: list[str] = []
    for name in names:
        parts = [
            next((f"C({c})" + p[len(c) :] for c in unwrapped if p.startswith(f"{c}[")), p)
            for p in str(name).split(":")
        ]
        out.append(":".join(parts))
    return out


_BUILDERS: dict[tuple[object, ...], list[Any]] = {}
_CALL = re.compile(r"[A-Za-z_][A-Za-z0-9_.]*\s*\(")


def _dmatrices(
    plain: str, frame: pd.DataFrame, codings: Mapping[str, Sequence[Any]]
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``patsy.dmatrices`` without patsy's missing-value scan, reusing the design builders
    of an earlier call with the same formula, levels and column types (simulation power
    fits one formula to thousands of data sets). Formulas that call a function (whose
    state, such as ``center``'s mean, comes from the data) are built afresh each time."""
    key: tuple[object, ...] | None = None
    if not _CALL.search(plain):
        key = (
            plain,
            tuple((c, tuple(levels)) for c, levels in codings.items()),
            tuple((str(c), str(t)) for c, t in frame.dtypes.items()),
        )
        builders = _BUILDERS.get(key)
        if builders is not None:
            y, x = patsy.build_design_matrices(
                builders, frame, NA_action=_NO_NA_SCAN, return_type="dataframe"
            )
            return y, x
    y, x = patsy.dmatrices(
        plain, frame, return_type="dataframe", NA_action=_NO_NA_SCAN, eval_env=FORMULA_ENV
    )
    if key is not None:
        if len(_BUILDERS) >= 64:
            _BUILDERS.clear()
        _BUILDERS[key] = [y.design_info, x.design_info]
    return y, x


def design(formula: str, frame: pd.DataFrame) -> tuple[np.ndarray, pd.DataFrame, DesignBuilder]:
    """Outcome vector, design matrix (labelled) and a builder for new data."""
    codings = categorical_codings(formula, frame)
    plain, unwrapped = _unwrap_c(formula, codings)
    try:
        # The estimators pass rows with every formula column observed (``prepare``), so
        # patsy's value-by-value scan for missing values is skipped; a value the formula
        # itself makes missing or infinite (``np.log(0)``) is caught on the matrices below.
        y, x = _dmatrices(plain, coded(frame, codings), codings)
    except patsy.PatsyError as exc:
        raise AnalysisError(f"formula {formula!r}: {exc}") from exc
    if y.shape[1] != 1:
        raise AnalysisError(f"formula {formula!r}: the outcome must be one numeric column")
    if not (
        np.isfinite(y.to_numpy(dtype=float)).all() and np.isfinite(x.to_numpy(dtype=float)).all()
    ):
        bad = [
            str(c)
            for c in [*y.columns, *x.columns]
            if not np.isfinite((y if c in y.columns else x)[c].to_numpy(dtype=float)).all()
        ]
        raise AnalysisError(
            f"formula {formula!r}: missing or infinite values in {', '.join(bad)} "
            "(a transformation of the data is undefined for some rows)"
        )
    design_info = x.design_info
    if unwrapped:
        x.columns = _rewrap_names(list(x.columns), unwrapped)

    def build(new: pd.DataFrame) -> np.ndarray:
        try:
            (matrix,) = patsy.build_design_matrices(
                [design_info], coded(new, codings), NA_action="raise"
            )
        except patsy.PatsyError as exc:
            raise AnalysisError(
                f"cannot build the design of {formula!r} for new data: {exc}"
            ) from exc
        return np.asarray(matrix, dtype=float)

    check_full_rank(x.to_numpy(dtype=float), list(x.columns))
    return y.iloc[:, 0].to_numpy(dtype=float), x, build


def rhs_columns(formula: str, columns: Sequence[str]) -> list[str]:
    _, names = formula_variables(f"{columns[0]} ~ {formula.lstrip('~ ')}", columns)
    return names


def check_outcome(y: np.ndarray, family: str, outcome: str) -> None:
    if family == "binomial" and not np.isin(y, (0.0, 1.0)).all():
        bad = sorted(set(np.unique(y)) - {0.0, 1.0})[:5]
        raise AnalysisError(f"outcome {outcome!r}: binomial models need 0/1 values, found {bad}")
    if family in ("poisson", "negative_binomial") and (
        (y < 0).any() or not np.allclose(y, np.round(y))
    ):
        raise AnalysisError(f"outcome {outcome!r}: count models need non-negative integers")
    if np.unique(y).size < 2:
        raise AnalysisError(
            f"outcome {outcome!r} takes a single value ({y[0]:g}) in all {y.size} analysed rows; "
            "no model can be fitted"
        )


# --------------------------------------------------------------------------- results


def wald_table(
    names: Sequence[str],
    estimate: np.ndarray,
    std_error: np.ndarray,
    *,
    df: float | None = None,
    level: float = 0.95,
) -> pd.DataFrame:
    """Tidy coefficient table with Wald intervals (normal, or t on ``df`` degrees of freedom)."""
    estimate = np.asarray(estimate, dtype=float)
    std_error = np.asarray(std_error, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        stat = estimate / std_error
    if df is None:
        crit = float(stats.norm.ppf(0.5 + level / 2))
        p = 2 * stats.norm.sf(np.abs(stat))
    else:
        crit = float(stats.t.ppf(0.5 + level / 2, df))
        p = 2 * stats.t.sf(np.abs(stat), df)
    table = pd.DataFrame(
        {
            "term": [str(n) for n in names],
            "estimate": estimate,
            "std_error": std_error,
            "ci_lower": estimate - crit * std_error,
            "ci_upper": estimate + crit * std_error,
            "p_value": p,
        }
    )
    return table.loc[:, list(COEFFICIENT_COLUMNS)]


def labelled(cov: np.ndarray, names: Sequence[str]) -> pd.DataFrame:
    labels = [str(n) for n in names]
    return pd.DataFrame(np.asarray(cov, dtype=float), index=labels, columns=labels)


_Result = TypeVar("_Result", bound=ModelResult)


def finish(
    result_type: type[_Result],
    *,
    model: str,
    formula: str,
    family: str,
    link: str,
    names: Sequence[str],
    estimate: np.ndarray,
    cov: np.ndarray,
    frame: pd.DataFrame,
    dropped: int,
    converged: bool,
    warnings: Sequence[str],
    n_groups: int | None = None,
    df: float | None = None,
    std_error: np.ndarray | None = None,
    **extra: Any,
) -> _Result:
    """The one way a fit becomes a :class:`ModelResult` (of ``result_type``, the model's own
    subclass where it has one): Wald table from the estimates and their covariance
    (``std_error`` overrides the square roots of its diagonal), labelled covariance, the
    analysed rows and everything model-specific passed through ``extra``."""
    cov = np.asarray(cov, dtype=float)
    warnings = list(warnings)
    if std_error is None:
        variances = np.diag(cov)
        negative = [str(n) for n, v in zip(names, variances, strict=True) if v < 0]
        if negative:
            # A sandwich covariance can lose positive definiteness with very few clusters;
            # such a term has no standard error (missing), and the result says why.
            warnings.append(
                "the estimated covariance gives a negative variance for "
                + ", ".join(negative)
                + " (too few participants for the robust variance): no standard error"
            )
        se = np.sqrt(np.where(variances < 0, np.nan, variances))
    else:
        se = np.asarray(std_error, dtype=float)
    return result_type(
        model=model,
        formula=formula,
        glm_family=family,
        link=link,
        n_obs=len(frame),
        n_groups=n_groups,
        n_dropped=dropped,
        converged=converged,
        warnings=tuple(warnings),
        coefficients=wald_table(names, estimate, se, df=df),
        cov_params=labelled(cov, names),
        df_resid=df,
        data=frame,
        **extra,
    )


def warn_tuple(capture: Capture, extra: Sequence[str] = ()) -> tuple[str, ...]:
    return (*capture.messages, *extra)
