"""The same records read alike however the CSV text is laid out.

The reader splits plain text (no quotes, ``\\n`` or ``\\r\\n`` line ends, no blank lines)
by column and hands anything else to Python's :mod:`csv` module; the reference here is the
:mod:`csv` module itself, which rewrites each file in the other layouts.
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Literal

import pytest
from dataset_factory import full_dataset

from mindtrial.dataset import DatasetError, read_dataset, write_dataset


def _rewrite(
    folder: Path, *, quoting: Literal[0, 1, 2, 3], line_end: str, blank_after: int | None
) -> None:
    for path in folder.glob("*.csv"):
        with path.open(newline="", encoding="utf-8") as handle:
            rows = list(csv.reader(handle))
        with path.open("w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle, quoting=quoting, lineterminator=line_end)
            for i, row in enumerate(rows):
                writer.writerow(row)
                if i == blank_after:
                    handle.write(line_end)


@pytest.mark.parametrize(
    ("quoting", "line_end", "blank_after"),
    [
        (csv.QUOTE_MINIMAL, "\r\n", None),
        (csv.QUOTE_ALL, "\n", None),
        (csv.QUOTE_MINIMAL, "\n", 1),
        (csv.QUOTE_ALL, "\r\n", 1),
    ],
)
def test_quoted_crlf_and_blank_line_layouts_read_as_the_plain_file(
    tmp_path: Path, quoting: Literal[0, 1, 2, 3], line_end: str, blank_after: int | None
) -> None:
    ds = full_dataset()
    folder = write_dataset(ds, tmp_path / "export")
    _rewrite(folder, quoting=quoting, line_end=line_end, blank_after=blank_after)
    assert read_dataset(folder).equals(ds)


@pytest.mark.parametrize(("blank_after", "line"), [(None, 3), (0, 4)])
def test_a_bad_cell_is_reported_on_its_line_in_either_reader(
    tmp_path: Path, blank_after: int | None, line: int
) -> None:
    folder = write_dataset(full_dataset(), tmp_path / "export")
    path = folder / "attendance.csv"
    with path.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.reader(handle))
    rows[2][rows[0].index("week")] = "two"  # the second record: line 3 of the file
    with path.open("w", newline="", encoding="utf-8") as handle:
        for i, row in enumerate(rows):
            handle.write(",".join(row) + "\n")
            if i == blank_after:
                handle.write("\n")  # a blank line before it moves it to line 4
    with pytest.raises(DatasetError) as caught:
        read_dataset(folder)
    found = [(p.file, p.row, p.column, p.message) for p in caught.value.problems]
    assert found == [("attendance.csv", line, "week", "'two' is not a whole number")]


@pytest.mark.parametrize("line_end", [b"\n", b"\r\n"])
def test_files_with_a_byte_order_mark_read_as_the_plain_file(
    tmp_path: Path, line_end: bytes
) -> None:
    """A spreadsheet's "CSV UTF-8" starts with a byte-order mark (and may end lines CRLF)."""
    ds = full_dataset()
    folder = write_dataset(ds, tmp_path / "export")
    for path in folder.glob("*.csv"):
        path.write_bytes(b"\xef\xbb\xbf" + path.read_bytes().replace(b"\n", line_end))
    assert read_dataset(folder).equals(ds)
