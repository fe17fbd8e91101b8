"""Atomic writes: a folder, a file and a set of files, all or nothing, keeping the previous version on failure."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from mindtrial.atomic_files import publish_files, replace_file, replace_folder
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


# --------------------------------------------------------------------------- one file


def test_replace_file_writes_content_with_the_usual_mode(tmp_path: Path) -> None:
    target = tmp_path / "a.csv"
    target.write_text("old")
    replace_file(target, "x\r\n1\n")
    assert target.read_bytes() == b"x\r\n1\n"
    mask = os.umask(0)
    os.umask(mask)
    assert stat.S_IMODE(target.stat().st_mode) == 0o666 & ~mask
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.csv"]


def test_replace_file_private_is_owner_only(tmp_path: Path) -> None:
    target = replace_file(tmp_path / "list.csv", b"secret", private=True)
    assert stat.S_IMODE(target.stat().st_mode) == 0o600


def test_replace_file_with_a_writer_that_fails_keeps_the_old_file(tmp_path: Path) -> None:
    target = tmp_path / "data.dta"
    target.write_text("previous")

    def write(path: Path) -> None:
        path.write_text("half")
        raise ValueError("writer failed")

    with pytest.raises(ValueError, match="writer failed"):
        replace_file(target, write=write)
    assert target.read_text() == "previous"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data.dta"]


def test_replace_file_takes_exactly_one_source(tmp_path: Path) -> None:
    with pytest.raises(TypeError):
        replace_file(tmp_path / "x")


def test_publish_files_restores_every_earlier_file_when_a_move_fails(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "a.dta").write_text("old a")
    (out / "unrelated.txt").write_text("kept")
    staging = tmp_path / "staging"
    staging.mkdir()
    for name in ("a.dta", "b.dta", "c.dta"):
        (staging / name).write_text(f"new {name}")
    real = os.replace

    def replace(src: str | os.PathLike[str], dst: str | os.PathLike[str]) -> None:
        if Path(src).name == "c.dta" and Path(src).parent == staging:
            raise OSError("disk full")
        real(src, dst)

    monkeypatch.setattr(os, "replace", replace)
    with pytest.raises(OSError, match="disk full"):
        publish_files(staging, out, ["a.dta", "b.dta", "c.dta"])
    assert sorted(p.name for p in out.iterdir()) == ["a.dta", "unrelated.txt"]
    assert (out / "a.dta").read_text() == "old a"


def test_publish_files_moves_everything(tmp_path: Path) -> None:
    staging = tmp_path / "staging"
    staging.mkdir()
    (staging / "a.sav").write_text("a")
    publish_files(staging, tmp_path / "out", ["a.sav"])
    assert (tmp_path / "out" / "a.sav").read_text() == "a"
