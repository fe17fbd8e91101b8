"""Test-run rules shared by every test.

``make test`` installs everything the tests need (R, Chromium, PostgreSQL is a service of
the machine), so under it a skip can only mean a missing part: with
``MINDTRIAL_FORBID_SKIPS=1`` (the Makefile sets it) every skip is reported as a failure that
names the test and the reason. Run ``pytest`` by hand without it to let tests skip.
"""

from __future__ import annotations

import os
from collections.abc import Generator

import pluggy
import pytest

FORBID_SKIPS = os.environ.get("MINDTRIAL_FORBID_SKIPS", "") == "1"


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pluggy.Result[pytest.TestReport], None]:
    outcome = yield
    report = outcome.get_result()
    if FORBID_SKIPS and report.skipped and not hasattr(report, "wasxfail"):
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else report.longrepr
        report.outcome = "failed"
        report.longrepr = (
            f"{item.nodeid} skipped under MINDTRIAL_FORBID_SKIPS=1 ({reason}): "
            "make test installs every part, so a skip means one is missing"
        )
