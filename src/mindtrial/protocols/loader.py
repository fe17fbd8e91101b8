"""Finding, reading and validating protocol files.

Errors name the file, the field path and what was expected, so ``mindtrial protocol
validate`` can print them without a traceback.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path

import yaml
from pydantic import ValidationError

from mindtrial.protocols.schema import Protocol

_DATA_PACKAGE = "mindtrial.protocols.data"
_UNION_TAGS = frozenset({"criterion", "group"})


@dataclass(frozen=True)
class FieldProblem:
    path: str
    message: str
    value: str | None = None


class ProtocolError(ValueError):
    """A protocol file that cannot be read or does not satisfy the schema."""

    def __init__(self, source: str, problems: list[FieldProblem]) -> None:
        self.source = source
        self.problems = problems
        lines = [f"{source}: {len(problems)} problem(s)"]
        for problem in problems:
            where = problem.path or "(file)"
            got = f" (got {problem.value})" if problem.value is not None else ""
            lines.append(f"  - {where}: {problem.message}{got}")
        super().__init__("\n".join(lines))


def _format_loc(loc: tuple[int | str, ...]) -> str:
    parts: list[str] = []
    previous: int | str | None = None
    for item in loc:
        if isinstance(item, int):
            parts.append(f"[{item}]")
        elif isinstance(previous, int) and item in _UNION_TAGS:
            # pydantic names the union member it tried (eligibility criterion or group)
            # in the location; it is not a field of the file.
            pass
        else:
            parts.append(("." if parts else "") + str(item))
        previous = item
    return "".join(parts)


def _short(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def protocol_from_text(text: str, *, source: str) -> Protocol:
    """Parse and validate protocol YAML; ``source`` names the file in error messages."""
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        reason = getattr(exc, "problem", None) or str(exc)
        raise ProtocolError(source, [FieldProblem(where, f"not valid YAML: {reason}")]) from None
    if not isinstance(raw, dict):
        raise ProtocolError(
            source, [FieldProblem("", "expected a mapping of protocol fields at the top level")]
        )
    try:
        return Protocol.model_validate(raw)
    except ValidationError as exc:
        problems = []
        seen: set[tuple[str, str]] = set()
        for error in exc.errors(include_url=False):
            path = _format_loc(tuple(error["loc"]))
            message = error["msg"].removeprefix("Value error, ")
            if (path, message) in seen:
                continue
            seen.add((path, message))
            value = None if error["type"] == "missing" else _short(error.get("input"))
            if error["type"] == "extra_forbidden":
                message = "unknown field (not part of the protocol schema)"
                value = None
            problems.append(FieldProblem(path, message, value))
        raise ProtocolError(source, problems) from None


def load_protocol_file(path: str | Path) -> Protocol:
    file = Path(path)
    try:
        text = file.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ProtocolError(str(file), [FieldProblem("", "file not found")]) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ProtocolError(str(file), [FieldProblem("", f"cannot read file: {exc}")]) from None
    return protocol_from_text(text, source=str(file))


def shipped_protocol_ids() -> list[str]:
    folder = resources.files(_DATA_PACKAGE)
    return sorted(
        entry.name.removesuffix(".yaml")
        for entry in folder.iterdir()
        if entry.name.endswith(".yaml")
    )


@lru_cache(maxsize=32)
def _load_shipped(protocol_id: str) -> Protocol:
    resource = resources.files(_DATA_PACKAGE) / f"{protocol_id}.yaml"
    protocol = protocol_from_text(
        resource.read_text(encoding="utf-8"), source=f"{protocol_id}.yaml"
    )
    if protocol.id != protocol_id:
        raise ProtocolError(
            f"{protocol_id}.yaml",
            [FieldProblem("id", f"file is named for '{protocol_id}'", protocol.id)],
        )
    return protocol


def load_protocol(id_or_path: str | Path) -> Protocol:
    """A shipped protocol by id (its `id` field) or any protocol file by path."""
    candidate = str(id_or_path)
    if candidate in shipped_protocol_ids():
        return _load_shipped(candidate)
    if candidate.endswith((".yaml", ".yml")) or Path(candidate).exists():
        return load_protocol_file(candidate)
    known = ", ".join(shipped_protocol_ids())
    raise ProtocolError(candidate, [FieldProblem("", f"unknown protocol; shipped: {known}")])


def list_protocols() -> list[Protocol]:
    return [_load_shipped(pid) for pid in shipped_protocol_ids()]


def demo_protocol() -> Protocol:
    """The shipped protocol marked ``demo: true`` (the one ``mindtrial demo`` runs)."""
    marked = [p for p in list_protocols() if p.demo]
    if len(marked) != 1:
        ids = ", ".join(p.id for p in marked) or "none"
        raise ProtocolError(
            "shipped protocols",
            [FieldProblem("demo", f"exactly one protocol sets demo: true, found {ids}")],
        )
    return marked[0]
