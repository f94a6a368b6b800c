"""JSON forms of the report dataclasses, derived from their type hints.

:func:`encode` turns a report value into plain JSON data; :func:`decode`
turns such data back into the typed value and raises ``ValueError`` whose
message starts with the path of the offending field
(``report.rows[2].attainment: must be a number, got 'x'``).

Supported field types: ``str``, ``int``, ``float``, ``bool``, ``Any`` (kept
as is), ``X | None``, ``tuple[X, ...]``, fixed ``tuple[X, Y]``,
``Mapping[str, X]``, nested report dataclasses, and domain values with
``to_json``/``from_json`` (``Placement``, ``TimedPlan``).
"""

from __future__ import annotations

import dataclasses
import math
import types
import typing
from collections.abc import Mapping
from functools import cache
from typing import Any, TypeVar

T = TypeVar("T")


def encode(value: Any) -> Any:
    """Plain JSON data of a report value (non-finite floats become None)."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return value.to_json() if hasattr(value, "to_json") else encode_fields(value)
    if isinstance(value, Mapping):
        return {str(key): encode(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [encode(item) for item in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def encode_fields(value: Any) -> dict[str, Any]:
    """JSON object of a dataclass, field by field (for a ``to_json`` that
    has nothing to add)."""
    return {f.name: encode(getattr(value, f.name)) for f in dataclasses.fields(value)}


@cache
def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def decode(cls: type[T], data: Any, where: str) -> T:
    """The ``cls`` dataclass read from JSON ``data``; errors name the field
    under ``where``."""
    return typing.cast(T, _dataclass(cls, data, where))


def _decode(hint: Any, data: Any, where: str) -> Any:
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if hint is Any:
        return data
    if origin in (typing.Union, types.UnionType):
        if data is None and type(None) in args:
            return None
        (inner,) = (a for a in args if a is not type(None))
        return _decode(inner, data, where)
    if origin is tuple:
        items = _sequence(data, where)
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_decode(args[0], item, f"{where}[{i}]") for i, item in enumerate(items))
        if len(items) != len(args):
            raise ValueError(f"{where}: must have {len(args)} items, got {len(items)}")
        return tuple(
            _decode(arg, item, f"{where}[{i}]")
            for i, (arg, item) in enumerate(zip(args, items, strict=True))
        )
    if origin is not None and issubclass(origin, Mapping):
        mapping = _object(data, where)
        return {str(key): _decode(args[1], item, f"{where}.{key}") for key, item in mapping.items()}
    if isinstance(hint, type) and hasattr(hint, "from_json"):
        return hint.from_json(data, where)
    if dataclasses.is_dataclass(hint):
        return _dataclass(hint, data, where)
    return _scalar(hint, data, where)


def _dataclass(cls: Any, data: Any, where: str) -> Any:
    mapping = _object(data, where)
    hints = _hints(cls)
    values = {}
    for f in dataclasses.fields(cls):
        here = f"{where}.{f.name}"
        if f.name in mapping:
            values[f.name] = _decode(hints[f.name], mapping[f.name], here)
        elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            raise ValueError(f"{here}: is required")
    unknown = sorted(set(mapping) - set(hints))
    if unknown:
        raise ValueError(f"{where}.{unknown[0]}: is not a field of {cls.__name__}")
    try:
        return cls(**values)
    except ValueError as error:
        raise ValueError(f"{where}.{error}") from None


def _scalar(hint: Any, data: Any, where: str) -> Any:
    if hint is bool:
        if not isinstance(data, bool):
            raise ValueError(f"{where}: must be true or false, got {data!r}")
        return data
    if hint is int:
        if isinstance(data, bool) or not isinstance(data, int):
            raise ValueError(f"{where}: must be an integer, got {data!r}")
        return data
    if hint is float:
        if isinstance(data, bool) or not isinstance(data, int | float):
            raise ValueError(f"{where}: must be a number, got {data!r}")
        return float(data)
    if hint is str:
        if not isinstance(data, str):
            raise ValueError(f"{where}: must be a string, got {data!r}")
        return data
    raise TypeError(f"{where}: no JSON form for {hint!r}")


def _object(data: Any, where: str) -> Mapping[str, Any]:
    if not isinstance(data, Mapping):
        raise ValueError(f"{where}: must be an object, got {type(data).__name__}")
    return data


def _sequence(data: Any, where: str) -> list[Any]:
    if not isinstance(data, list | tuple):
        raise ValueError(f"{where}: must be a list, got {type(data).__name__}")
    return list(data)
