"""Writing files all or nothing: the one place MindTrial replaces files on disk.

- :func:`replace_file` writes one file (a dataset export, an allocation list, an ODM
  document) to a temporary file beside it, then renames it over the target.
- :func:`replace_folder` writes a set of files that only make sense together (a study
  dataset, a report, a REDCap project design) into a temporary folder that then replaces
  the target folder in one rename.
- :func:`publish_files` moves files already written into a staging folder into an existing
  folder, restoring every earlier version if one move fails.

A failure at any point leaves the target as it was: absent, or the previous version
restored. New files get the mode ``open()`` would give them (:func:`usual_file_mode`), not
the 0o600 of a temporary file.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path


def usual_file_mode() -> int:
    """The mode ``open()`` gives a new file (0o666 less the umask), which a temporary file
    made with ``mkstemp`` (always 0o600) lacks."""
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


def replace_file(
    target: str | Path,
    content: bytes | str | None = None,
    *,
    write: Callable[[Path], None] | None = None,
    private: bool = False,
) -> Path:
    """Make ``target`` hold ``content``, or what ``write(path)`` writes to the path it is
    given (for libraries that write files by name), replacing it in one rename.

    Exactly one of ``content`` and ``write`` is given. Text is written as UTF-8 without
    newline translation. The target's folder must exist: creating folders is the caller's
    decision. Whatever ``write`` raises propagates after the temporary file is removed.
    ``private`` keeps the file readable by its owner only (0o600), for secrets such as a
    concealed allocation list.
    """
    if (content is None) == (write is None):
        raise TypeError("replace_file takes exactly one of content and write")
    target = Path(target)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    tmp = Path(tmp_name)
    try:
        if content is not None:
            data = content.encode("utf-8") if isinstance(content, str) else content
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
        else:
            os.close(fd)
            assert write is not None
            write(tmp)
        tmp.chmod(0o600 if private else usual_file_mode())
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return target


def publish_files(staging: Path, folder: Path, names: Iterable[str]) -> None:
    """Move ``names`` from ``staging`` into ``folder`` (created if absent), all or nothing.

    Files of ``folder`` that share a name are replaced; if any move fails, the files moved
    so far are taken back and the earlier versions restored. ``staging`` must be on the
    same file system as ``folder`` (a temporary folder beside it).
    """
    folder.mkdir(exist_ok=True)
    backup = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", suffix=".old", dir=folder.parent))
    moved: list[str] = []
    kept: list[str] = []
    try:
        for name in names:
            if (folder / name).exists():
                os.replace(folder / name, backup / name)
                kept.append(name)
            os.replace(staging / name, folder / name)
            moved.append(name)
    except BaseException:
        for name in moved:
            (folder / name).unlink(missing_ok=True)
        for name in kept:
            os.replace(backup / name, folder / name)
        raise
    finally:
        shutil.rmtree(backup, ignore_errors=True)


def replace_folder(target: str | Path, files: Mapping[str, bytes | str]) -> Path:
    """Make ``target`` a folder holding exactly ``files`` (relative path -> content).

    Text is written as UTF-8 without newline translation; every file is flushed to disk
    before the rename. Whether an existing ``target`` may be replaced is the caller's
    decision: this function replaces it as a whole.
    """
    target = Path(target)
    parent = target.resolve().parent
    parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".tmp", dir=parent))
    backup: Path | None = None
    try:
        for relative, content in files.items():
            path = tmp / relative
            path.parent.mkdir(parents=True, exist_ok=True)
            data = content.encode("utf-8") if isinstance(content, str) else content
            with path.open("wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
        if target.exists():
            backup = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".old", dir=parent))
            os.replace(target, backup / "previous")
        os.replace(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        if backup is not None and (backup / "previous").exists() and not target.exists():
            os.replace(backup / "previous", target)
        raise
    finally:
        if backup is not None:
            shutil.rmtree(backup, ignore_errors=True)
    return target
