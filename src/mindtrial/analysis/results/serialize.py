"""The one JSON encoder of the result dataclasses (``results.json`` is written with it).

:func:`to_json` walks a frozen dataclass field by field, in declaration order, so a class's
field order is its JSON key order. A field's JSON key is its name unless the field says
otherwise with ``metadata=json_name("key")``; a field whose JSON value is a function of its
value says so with ``metadata=json_value(function)``. Values are encoded by the field's
declared type, not by the runtime value:

* ``float`` fields become a Python float, or ``None`` when missing or not finite (JSON has
  no NaN), so an integer held in a float field still prints as ``1.0``;
* ``tuple[X, ...]`` becomes a list, ``Mapping[str, X]`` a dict, each item encoded as ``X``;
* nested dataclasses are walked the same way; ``str``, ``int``, ``bool`` and ``Literal``
  values pass through unchanged.

Derived keys (e.g. ``complete`` of a multiplicity family) are ``init=False`` fields set in
``__post_init__``, so they too sit in the field list where the document wants them.
"""

from __future__ import annotations

import dataclasses
import math
import types
from collections.abc import Callable, Mapping
from functools import cache
from typing import Any, Union, get_args, get_origin, get_type_hints

JsonValue = None | bool | int | float | str | list["JsonValue"] | dict[str, "JsonValue"]

_JSON_NAME = "json_name"
_JSON_VALUE = "json_value"


def json_name(key: str) -> dict[str, str]:
    """Field metadata giving the JSON key of a field whose Python name differs."""
    return {_JSON_NAME: key}


def json_value(function: Callable[[Any], Any]) -> dict[str, Callable[[Any], Any]]:
    """Field metadata: the field's JSON value is ``function(value)`` (then encoded)."""
    return {_JSON_VALUE: function}


def number(x: float | None) -> float | None:
    """A float for JSON: ``None`` for missing or non-finite values."""
    if x is None:
        return None
    value = float(x)
    return value if math.isfinite(value) else None


def to_json(result: object) -> dict[str, JsonValue]:
    """The JSON object of a result dataclass (see the module docstring for the rules)."""
    if not dataclasses.is_dataclass(result) or isinstance(result, type):
        raise TypeError(f"to_json takes a dataclass instance, not {type(result).__name__}")
    hints = _hints(type(result))
    return {
        f.metadata.get(_JSON_NAME, f.name): _encode(_value(result, f), hints[f.name])
        for f in dataclasses.fields(result)
    }


def _value(result: object, f: dataclasses.Field[Any]) -> object:
    value = getattr(result, f.name)
    convert = f.metadata.get(_JSON_VALUE)
    return value if convert is None or value is None else convert(value)


@cache
def _hints(cls: type) -> dict[str, Any]:
    return get_type_hints(cls)


def _encode(value: object, hint: Any) -> JsonValue:
    if value is None:
        return None
    origin = get_origin(hint)
    if origin is Union or origin is types.UnionType:
        (inner,) = (a for a in get_args(hint) if a is not type(None))
        return _encode(value, inner)
    if hint is float:
        return number(value)  # type: ignore[arg-type]
    if origin is tuple and isinstance(value, tuple):
        item = get_args(hint)[0]
        return [_encode(v, item) for v in value]
    if origin is Mapping and isinstance(value, Mapping):
        item = get_args(hint)[1]
        return {str(k): _encode(v, item) for k, v in value.items()}
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return to_json(value)
    if isinstance(value, str | bool | int):
        return value
    raise TypeError(f"cannot encode {type(value).__name__} as {hint!r} in JSON")
