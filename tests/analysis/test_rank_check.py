"""The cheap full-rank certificate agrees with numpy's SVD rank (the reference)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

from mindtrial.analysis.errors import AnalysisError
from mindtrial.analysis.input_checks import check_full_rank, surely_full_rank


def _design(rng: np.random.Generator, n: int, scales: list[float]) -> np.ndarray:
    dummies = (rng.random((n, 3)) < 0.3).astype(float)
    numeric = rng.normal(size=(n, len(scales))) * np.asarray(scales) + 50.0
    return np.column_stack([np.ones(n), dummies, numeric])


@pytest.mark.parametrize("seed", range(5))
def test_a_well_conditioned_design_is_certified_and_numpy_agrees(seed: int) -> None:
    x = _design(np.random.default_rng(seed), 2000, [1.0, 10.0, 0.5])
    assert surely_full_rank(x)
    assert np.linalg.matrix_rank(x) == x.shape[1]
    check_full_rank(x, [f"x{j}" for j in range(x.shape[1])])


@pytest.mark.parametrize(
    "last",
    [
        lambda x: x[:, 4] + 2 * x[:, 5],  # exactly aliased
        lambda x: x[:, 4] + 1e-13 * x[:, 1],  # aliased up to rounding
        lambda x: 1.0 - x[:, 1] - x[:, 2] - x[:, 3] + x[:, 0] * 0,  # dummies summing to 1
    ],
)
def test_an_aliased_design_is_never_certified(last: Callable[[np.ndarray], np.ndarray]) -> None:
    base = _design(np.random.default_rng(7), 500, [1.0, 3.0])
    x = np.column_stack([base, last(base)])
    assert not surely_full_rank(x)
    assert np.linalg.matrix_rank(x) < x.shape[1]
    with pytest.raises(AnalysisError, match="x6 is a linear combination"):
        check_full_rank(x, [f"x{j}" for j in range(x.shape[1])])
