"""Loading instrument definitions: the shipped YAML files and any file a site adds."""

from __future__ import annotations

import functools
from importlib import resources
from pathlib import Path

import yaml
from pydantic import ValidationError

from mindtrial.instruments.schema import Instrument

_RULES = ("promis_lookup", "scales", "any_true", "none")


class InstrumentDefinitionError(ValueError):
    """An instrument file that cannot be read or does not match the schema."""


def _format_location(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else part
    return out or "(top level)"


def parse_instrument(text: str, *, source: str) -> Instrument:
    """Parse and validate one instrument definition; errors name ``source`` and the field."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise InstrumentDefinitionError(f"{source}: not valid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise InstrumentDefinitionError(f"{source}: expected a mapping of instrument fields")
    try:
        return Instrument.model_validate(data)
    except ValidationError as exc:
        lines = []
        for err in exc.errors(include_url=False):
            loc = tuple(err["loc"])
            # The discriminated union puts the rule name after "scoring"; it is noise here.
            if len(loc) > 1 and loc[0] == "scoring" and loc[1] in _RULES:
                loc = (loc[0], *loc[2:])
            lines.append(f"  {_format_location(loc)}: {err['msg']}")
        raise InstrumentDefinitionError(
            f"{source}: invalid instrument definition:\n" + "\n".join(lines)
        ) from None


def load_instrument_file(path: str | Path) -> Instrument:
    """Read and validate an instrument definition file."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise InstrumentDefinitionError(f"{path}: cannot read: {exc.strerror}") from None
    return parse_instrument(text, source=str(path))


@functools.cache
def _registry() -> dict[str, Instrument]:
    found: dict[str, Instrument] = {}
    data_dir = resources.files("mindtrial.instruments").joinpath("data")
    for entry in sorted(data_dir.iterdir(), key=lambda e: e.name):
        if not entry.name.endswith(".yaml"):
            continue
        source = f"instruments/data/{entry.name}"
        instrument = parse_instrument(entry.read_text(encoding="utf-8"), source=source)
        if entry.name != f"{instrument.id}.yaml":
            raise InstrumentDefinitionError(
                f"{source}: file name must be the instrument id ({instrument.id}.yaml)"
            )
        found[instrument.id] = instrument
    return found


def list_instruments() -> list[str]:
    """The ids of the shipped instruments, sorted."""
    return sorted(_registry())


@functools.cache
def _shipped(instrument_id: str) -> Instrument | None:
    """The shipped instrument read from its own file (``<id>.yaml``) alone, when the whole
    registry has not been read yet: one instrument costs one file, not fourteen."""
    if _registry.cache_info().currsize != 0:
        return _registry().get(instrument_id)
    if not instrument_id.replace("_", "").isalnum():
        return None
    entry = resources.files("mindtrial.instruments").joinpath("data", f"{instrument_id}.yaml")
    if not entry.is_file():
        return None
    source = f"instruments/data/{instrument_id}.yaml"
    instrument = parse_instrument(entry.read_text(encoding="utf-8"), source=source)
    return instrument if instrument.id == instrument_id else None


def get_instrument(instrument_id: str) -> Instrument:
    """The shipped instrument with this id; an unknown id raises ``KeyError`` naming the known ones."""
    try:
        found = _shipped(instrument_id)
        if found is None:
            raise KeyError(instrument_id)
        return found
    except KeyError:
        known = ", ".join(list_instruments())
        raise KeyError(
            f"unknown instrument {instrument_id!r}; known instruments: {known}"
        ) from None
