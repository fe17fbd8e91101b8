"""Stata / SPSS / Parquet writers: round trips read back by independent readers
(pandas' own Stata reader, pyreadstat for SPSS, pandas/pyarrow for Parquet)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mindtrial.interop.labelled_files import (
    FormatWriteError,
    read_parquet,
    read_spss,
    read_stata,
    write_parquet,
    write_spss,
    write_stata,
)
from mindtrial.interop.redcap import read_project

SAMPLES = Path(__file__).resolve().parent / "data"


def _frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "pid": pd.array(["007", "010", None], dtype="string"),
            "age": pd.array([34, None, 51], dtype="Int64"),
            "score": pd.array([1.5, 2.25, None], dtype="Float64"),
            "retained": pd.array([True, False, None], dtype="boolean"),
            "arm": pd.Categorical(["MORE", None, "TAU"], categories=["TAU", "MORE"]),
            "visit": pd.to_datetime(["2024-03-01 10:30", "NaT", "2024-04-02 00:00"]),
            "practice": pd.to_timedelta([600, 0, None], unit="s"),
        }
    )


def test_stata_round_trip_read_by_pandas(tmp_path: Path) -> None:
    path = tmp_path / "trial.dta"
    result = write_stata(_frame(), path, variable_labels={"age": "Age (years)"})
    assert result.rows == 3 and result.columns == 7
    assert "pid: 1 missing text value(s) written as empty text" in result.notes
    back = pd.read_stata(path)
    with pd.io.stata.StataReader(path) as reader:
        labels = reader.variable_labels()
    assert back["pid"].tolist() == ["007", "010", ""]  # zeros kept; missing text is ""
    assert back["age"].tolist()[0] == 34.0 and np.isnan(back["age"][1])
    assert back["arm"].astype(object).tolist()[::2] == ["MORE", "TAU"]
    assert pd.isna(back["arm"][1])
    assert back["retained"].astype(object).tolist()[:2] == ["True", "False"]
    assert back["visit"][0] == pd.Timestamp("2024-03-01 10:30") and pd.isna(back["visit"][1])
    assert back["practice"].tolist()[:2] == [600.0, 0.0]
    assert labels["age"] == "Age (years)"
    assert labels["practice"] == "practice (seconds)"
    ours = read_stata(path)
    assert ours.value_labels["arm"] == {1.0: "TAU", 2.0: "MORE"}


def test_spss_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "trial.sav"
    write_spss(_frame(), path, variable_labels={"score": "Mindfulness score"})
    back = read_spss(path)
    assert back.variable_labels["score"] == "Mindfulness score"
    assert back.value_labels["arm"] == {1.0: "TAU", 2.0: "MORE"}
    assert back.value_labels["retained"] == {0.0: "False", 1.0: "True"}
    assert back.frame["arm"].tolist()[::2] == [2.0, 1.0]
    assert back.frame["score"].tolist()[:2] == [1.5, 2.25]
    assert back.frame["pid"].tolist() == ["007", "010", ""]


def test_parquet_round_trip_keeps_dtypes_and_labels(tmp_path: Path) -> None:
    path = tmp_path / "trial.parquet"
    frame = _frame()
    write_parquet(frame, path, variable_labels={"age": "Age"}, value_labels={"age": {34: "x"}})
    pd.testing.assert_frame_equal(pd.read_parquet(path), frame)
    back = read_parquet(path)
    assert back.variable_labels == {"age": "Age"}
    assert back.value_labels == {"age": {34.0: "x"}}


def test_bad_names_raise_and_leave_the_old_file(tmp_path: Path) -> None:
    path = tmp_path / "trial.dta"
    write_stata(_frame(), path)
    before = path.read_bytes()
    bad = _frame().rename(columns={"age": "2nd visit", "score": "x" * 33})
    with pytest.raises(FormatWriteError, match=r"2 column name\(s\) cannot be STATA"):
        write_stata(bad, path)
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["trial.dta"]  # no temp file left
    # 33 characters is fine for SPSS, a space is not
    with pytest.raises(FormatWriteError, match="'2nd visit'"):
        write_spss(bad, tmp_path / "trial.sav")
    with pytest.raises(FormatWriteError, match="labels given for columns"):
        write_stata(_frame(), path, variable_labels={"nope": "x"})


def test_stata_value_labels_need_whole_numbers(tmp_path: Path) -> None:
    frame = pd.DataFrame({"dose": [1.5, 2.0]})
    with pytest.raises(FormatWriteError, match="non-whole numbers"):
        write_stata(frame, tmp_path / "d.dta", value_labels={"dose": {1: "low", 2: "high"}})


def test_a_redcap_table_goes_to_stata_with_its_labels(tmp_path: Path) -> None:
    d = SAMPLES / "clinical-trial-1"
    project = read_project(dictionary=d / "dictionary.csv", records=d / "data.csv")
    table = project.table("demographics")
    path = tmp_path / "demographics.dta"
    write_stata(table, path, variable_labels=project.variable_labels())
    back = pd.read_stata(path)
    with pd.io.stata.StataReader(path) as reader:
        labels = reader.variable_labels()
    assert labels["height"] == "height (cm)"
    assert labels["race_code"] == "race (code)"
    assert back["race"].astype(object).tolist() == table["race"].astype(object).tolist()
    assert back["demographics_complete"].astype(object).tolist()[:1] == ["Incomplete"]
    assert back["weight"].tolist() == table["weight"].astype(float).tolist()
