"""Protocols are data: no Python code under src/ names a protocol id, an arm id or an
outcome id of a shipped protocol.

Every string literal of every module (docstrings included) is checked: a protocol id
(``mrocc-2025``) may not appear anywhere in it; an arm id or an outcome id may not *be* a
literal (``"mrocc"``, ``"cocaine"``, ``"bpi_sf.severity"``) or a dotted/underscored
part of a literal's identifier-like words — arm ids such as ``more`` are English words, so
prose that merely contains them is allowed. A failure names the file, line and id.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import yaml

import mindtrial
from mindtrial.protocols import load_protocol

SRC = Path(mindtrial.__file__).resolve().parent

# Files other engineers are rewriting in parallel for the same issue (remove an entry when
# its file is clean; the last test fails when a listed file no longer names any id).
PENDING: dict[str, str] = {}
PROTOCOL_FILES = sorted((SRC / "protocols" / "data").glob("*.yaml"))
_WORD = re.compile(r"[A-Za-z0-9_.\-]+")


def _ids() -> tuple[set[str], set[str]]:
    """(protocol ids, arm and outcome ids) of every shipped protocol file."""
    protocol_ids: set[str] = set()
    names: set[str] = set()
    for path in PROTOCOL_FILES:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
        protocol = load_protocol(raw["id"])
        protocol_ids.add(protocol.id)
        names.update(protocol.arm_ids)
        names.update(spec.outcome for spec in protocol.analysis.analyses)
    return protocol_ids, names


def _literals(tree: ast.AST) -> list[tuple[int, str, bool]]:
    """(line, text, whole) of every string constant; ``whole`` is False for the text pieces
    of an f-string (" more" in f"… and {n} more" names nothing)."""
    pieces = {
        id(part)
        for node in ast.walk(tree)
        if isinstance(node, ast.JoinedStr)
        for part in node.values
    }
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            found.append((node.lineno, node.value, id(node) not in pieces))
    return found


def offending(source: str, protocol_ids: set[str], names: set[str]) -> list[tuple[int, str]]:
    """(line, id) for each id named by a string literal of ``source``."""
    hits = []
    for line, text, whole in _literals(ast.parse(source)):
        for pid in protocol_ids:
            if pid in text:
                hits.append((line, pid))
        if whole and text.strip() in names:
            hits.append((line, text.strip()))
    return hits


def test_the_scan_finds_ids() -> None:
    protocol_ids, names = _ids()
    assert {"mrocc-2025", "more-ltot-2022", "more-mmt-2024"} <= protocol_ids
    assert {"mrocc", "recovery_support", "more", "supportive", "usual_care"} <= names
    assert {"cocaine", "not_misusing", "return_to_use", "bpi_sf.severity"} <= names
    source = (
        'X = "usual_care"\nY = f"protocol mrocc-2025 {X}"\nZ = "more than one"\n'
        'W = f"and {X} more"\n'
    )
    assert sorted(offending(source, protocol_ids, names)) == [(1, "usual_care"), (2, "mrocc-2025")]


def test_no_code_names_a_protocol_arm_or_outcome_id() -> None:
    protocol_ids, names = _ids()
    problems = []
    for path in sorted(SRC.rglob("*.py")):
        relative = path.relative_to(SRC).as_posix()
        if "migrations" in path.parts or relative in PENDING:
            continue
        source = path.read_text(encoding="utf-8")
        for line, name in offending(source, protocol_ids, names):
            problems.append(f"{relative}:{line} names {name!r}")
    assert not problems, "code names protocol data:\n" + "\n".join(problems)


def test_pending_files_still_need_their_exemption() -> None:
    protocol_ids, names = _ids()
    clean = [
        relative
        for relative in PENDING
        if (SRC / relative).exists()
        and not offending((SRC / relative).read_text(encoding="utf-8"), protocol_ids, names)
    ]
    assert not clean, f"remove from PENDING (now clean): {clean}"
