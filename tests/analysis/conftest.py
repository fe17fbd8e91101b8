"""Fixtures for the analysis tests.

``r_reference`` gives the R reference fits (tests/reference/public_fits.R). When ``Rscript`` is
on the PATH the script is rerun live into a temporary directory and the tests compare against
that fresh output, so the references cannot go stale; without R the committed
``public_fits.json`` and ``data/*.csv`` are used. In CI (``CI=true``) a missing Rscript fails
the tests instead of falling back.
"""

from __future__ import annotations

import pytest
from analysis_r_reference import RReference, load_r_reference


@pytest.fixture(scope="session")
def r_reference(tmp_path_factory: pytest.TempPathFactory) -> RReference:
    return load_r_reference(tmp_path_factory)
