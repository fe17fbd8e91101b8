"""replace_folder: all or nothing, and a failed replacement keeps the previous folder."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from mindtrial.atomic_files import replace_folder
from mindtrial.interop.redcap_export import write_files


def test_writes_text_and_bytes_into_a_new_folder(tmp_path: Path) -> None:
    target = replace_folder(tmp_path / "out", {"a.csv": "x,y\r\n1,2\n", "fig/b.png": b"\x89PNG"})
    assert (target / "a.csv").read_bytes() == b"x,y\r\n1,2\n"  # no newline translation
    assert (target / "fig" / "b.png").read_bytes() == b"\x89PNG"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]  # no temporary left


def test_replaces_the_whole_previous_folder(tmp_path: Path) -> None:
    target = tmp_path / "out"
    replace_folder(target, {"old.csv": "1", "keep.csv": "old"})
    replace_folder(target, {"keep.csv": "new"})
    assert sorted(p.name for p in target.iterdir()) == ["keep.csv"]
    assert (target / "keep.csv").read_text() == "new"


def _refuse_final_rename(monkeypatch: pytest.MonkeyPatch) -> None:
    real = os.replace

    def replace(src: str | os.PathLike[str], dst: str | os.PathLike[str]) -> None:
        if str(src).endswith(".tmp"):
            raise OSError("disk full")
        real(src, dst)

    monkeypatch.setattr(os, "replace", replace)


def test_failed_replacement_keeps_the_previous_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "out"
    replace_folder(target, {"data.csv": "previous"})
    _refuse_final_rename(monkeypatch)
    with pytest.raises(OSError, match="disk full"):
        replace_folder(target, {"data.csv": "new"})
    assert (target / "data.csv").read_text() == "previous"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def test_redcap_design_overwrite_that_fails_loses_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # write_files used to delete the old folder before the rename; a failed rename lost it.
    folder = tmp_path / "design"
    write_files(folder, {"dictionary.csv": "old"})
    _refuse_final_rename(monkeypatch)
    with pytest.raises(OSError):
        write_files(folder, {"dictionary.csv": "new"}, overwrite=True)
    assert (folder / "dictionary.csv").read_text() == "old"
