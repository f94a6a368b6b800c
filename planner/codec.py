"""The JSON codec of meshplan's values, derived from their type hints.

:func:`encode` turns a value into plain JSON data; :func:`decode` reads
such data back into the typed value and raises ``ValueError`` whose message
starts with the path of the offending field (``cluster.num_devices: must
be a positive integer, got 0``; ``report.rows[2].attainment: must be a
number, got 'x'``). A constructor's own ``ValueError`` (``"slo_s: must be
> 0"``) gets the path of its value in front (``models[3].slo_s: ...``).

A dataclass's JSON form is an object with one member per field; members of
fields with a default may be left out, unknown members are rejected.
Supported field types: ``str``, ``int``, ``float``, ``bool``, ``Any`` (kept
as is), ``X | None``, ``tuple[X, ...]``, fixed ``tuple[X, Y]``,
``Mapping[str, X]`` and nested dataclasses. Non-finite floats encode as
null.

Hooks: a class whose JSON form is not its plain field form defines
``to_json(self)`` and ``from_json(cls, data, where)``, which :func:`encode`
and :func:`decode` call instead (e.g. :class:`planner.domain.Profile`, keyed
by parallel config). Hooks read their data with :func:`member` and
:func:`items` and build the value with :func:`construct`.
"""

from __future__ import annotations

import dataclasses
import math
import types
import typing
from collections.abc import Callable, Mapping
from functools import cache
from typing import Any, TypeVar

T = TypeVar("T")


def encode(value: Any) -> Any:
    """Plain JSON data of ``value`` (non-finite floats become None)."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        hook = getattr(value, "to_json", None)
        if hook is not None:
            return hook()
        return {f.name: encode(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, Mapping):
        return {str(key): encode(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [encode(item) for item in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def decode(hint: type[T], data: Any, where: str) -> T:
    """The ``hint`` value read from JSON ``data``; errors name the field
    under ``where``."""
    return typing.cast(T, _decode(hint, data, where))


def member(data: Any, key: str, where: str) -> Any:
    """Member ``key`` of the JSON object ``data`` at ``where`` (for hooks)."""
    mapping = _object(data, where)
    if key not in mapping:
        raise ValueError(f"{where}.{key}: is required")
    return mapping[key]


def items(data: Any, where: str) -> list[Any]:
    """The items of the JSON list ``data`` at ``where`` (for hooks)."""
    if not isinstance(data, list | tuple):
        raise ValueError(f"{where}: must be a list, got {type(data).__name__}")
    return list(data)


def construct(make: Callable[..., T], where: str, *args: Any, **kwargs: Any) -> T:
    """``make(*args, **kwargs)``, its ValueError (which names a field)
    prefixed with ``where``."""
    try:
        return make(*args, **kwargs)
    except ValueError as error:
        raise ValueError(f"{where}.{error}") from None


@cache
def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


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
        values = items(data, where)
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_decode(args[0], item, f"{where}[{i}]") for i, item in enumerate(values))
        if len(values) != len(args):
            raise ValueError(f"{where}: must have {len(args)} items, got {len(values)}")
        return tuple(
            _decode(arg, item, f"{where}[{i}]")
            for i, (arg, item) in enumerate(zip(args, values, strict=True))
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
    fields = dataclasses.fields(cls)
    values = {}
    for f in fields:
        if f.name in mapping:
            values[f.name] = _decode(hints[f.name], mapping[f.name], f"{where}.{f.name}")
        elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            raise ValueError(f"{where}.{f.name}: is required")
    unknown = sorted(set(mapping) - {f.name for f in fields})
    if unknown:
        raise ValueError(f"{where}.{unknown[0]}: is not a field of {cls.__name__}")
    return construct(cls, where, **values)


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
