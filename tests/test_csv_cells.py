"""CSV formula escaping: the OWASP list of trigger characters, exact round trip."""

from __future__ import annotations

import csv
import io

from hypothesis import given
from hypothesis import strategies as st

from mindtrial.csv_cells import escape_formula, escape_row, unescape_formula


def test_cells_that_a_spreadsheet_would_run_get_an_apostrophe() -> None:
    # The OWASP "CSV injection" trigger characters, each as a typed reason might begin.
    assert escape_formula('=HYPERLINK("http://x")') == '\'=HYPERLINK("http://x")'
    assert escape_formula("+1 call me") == "'+1 call me"
    assert escape_formula("-2+3") == "'-2+3"
    assert escape_formula("@SUM(A1)") == "'@SUM(A1)"
    assert escape_formula("\tx") == "'\tx"
    assert escape_formula("\rx") == "'\rx"
    assert escape_formula("'=already") == "''=already"
    for plain in ["moved away", "", "'tis", "a=b", " =x", "<10k"]:
        assert escape_formula(plain) == plain


def test_only_text_cells_of_a_row_are_escaped() -> None:
    assert escape_row([-3, -2.5, None, "-3", "ok"]) == [-3, -2.5, None, "'-3", "ok"]


@given(st.text(alphabet="'=+-@\t\rab ", max_size=8))
def test_unescape_undoes_escape_exactly(text: str) -> None:
    escaped = escape_formula(text)
    assert unescape_formula(escaped) == text
    # and through the csv module as a file would hold it
    buffer = io.StringIO()
    csv.writer(buffer).writerow([escaped])
    (cell,) = next(csv.reader(io.StringIO(buffer.getvalue(), newline="")))
    assert unescape_formula(cell) == text
    assert not cell or cell[0] not in "=+-@\t\r"
