"""Writing a folder of files all or nothing.

Used wherever MindTrial writes a set of files that only make sense together (a study
dataset, a report, a REDCap project design): the files go into a temporary folder beside
the target, which then replaces the target in one rename. A failure at any point leaves the
target as it was: absent, or the previous folder restored.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Mapping
from pathlib import Path


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
