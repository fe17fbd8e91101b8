"""The models' design matrices: patsy's own answer, reached through its fast path.

``models.common.design`` hands categorical columns to patsy as pandas ``Categorical`` (and
``C(week)`` as ``week``) so patsy takes integer codes instead of coding value by value; the
reference here is patsy itself, given the raw columns, as every estimator used it before.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import patsy  # type: ignore[import-untyped]
import pytest

from mindtrial.analysis.errors import AnalysisError
from mindtrial.analysis.models.common import design


def _frame() -> pd.DataFrame:
    rng = np.random.default_rng(5)
    n = 60
    return pd.DataFrame(
        {
            "y": rng.normal(size=n),
            "arm": rng.choice(["mrocc", "control"], size=n),
            "week": rng.choice([0, 2, 8, 16], size=n),
            "cocaine": rng.choice([True, False], size=n),
            "income": pd.Categorical(rng.choice(["<10k", ">30k"], size=n), ["<10k", ">30k"]),
            "dose": rng.uniform(4, 24, size=n),
        }
    )


@pytest.mark.parametrize(
    "formula",
    [
        "y ~ arm * C(week) + dose + cocaine + income",
        "y ~ arm + C(week) + week:dose",  # week both as a factor and as a number
        "y ~ C(week, Treatment(reference=8)) + arm:dose",
        "y ~ np.log(dose) + cocaine:C(week)",
    ],
)
def test_design_equals_patsy_on_the_raw_columns(formula: str) -> None:
    frame = _frame()
    y, x, build = design(formula, frame)
    want_y, want_x = patsy.dmatrices(formula, frame, return_type="dataframe")
    assert list(x.columns) == list(want_x.columns)
    np.testing.assert_array_equal(x.to_numpy(), want_x.to_numpy())
    np.testing.assert_array_equal(y, want_y.iloc[:, 0].to_numpy())
    # new data with plain values (as predictions build it) gives patsy's rows too
    new = frame.iloc[:7].assign(arm="mrocc", income="<10k")
    (want_new,) = patsy.build_design_matrices([want_x.design_info], new)
    np.testing.assert_array_equal(build(new), np.asarray(want_new))


def test_unknown_level_in_new_data_is_an_error() -> None:
    frame = _frame()
    _, _, build = design("y ~ arm * C(week)", frame)
    with pytest.raises(AnalysisError, match="new data"):
        build(frame.iloc[:3].assign(week=5))
