"""The types of what clients send, bounded to what storage holds.

Integers fit the column they land in on every backend (ids, counts and
versions :data:`store.types.INT_MAX`, byte sizes and seeds
:data:`store.types.BIGINT_MAX`) and are taken as JSON Schema counts them
(``2.0`` is the integer 2); strings hold no NUL character, which
PostgreSQL's text and JSONB refuse; free-form JSON documents
(:data:`JsonObject`, :data:`JsonList`) hold only such strings, with no lone
surrogate (which neither database can encode), and finite numbers. Request
models refuse non-finite floats by their configuration
(:class:`api.routing.Body`). Each type states its bounds in the OpenAPI
document (:class:`SchemaGenerator`), and a path id outside ``1..INT_MAX``
matches no route, so it is simply not found (:class:`IdConverter`)."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Annotated, Any, Union

from pydantic import (
    AfterValidator,
    BeforeValidator,
    Field,
    GetCoreSchemaHandler,
    GetJsonSchemaHandler,
    SkipValidation,
)
from pydantic.json_schema import GenerateJsonSchema, JsonSchemaValue
from pydantic_core import CoreSchema, PydanticCustomError, core_schema
from typing_extensions import TypeAliasType
from werkzeug.routing import IntegerConverter, Map

from store.types import BIGINT_MAX, INT_MAX

NO_NUL = r"^[^\x00]*$"
"""The pattern of every string the API takes."""

JSON_PATH = "at"
"""The context key of a free-form JSON error: the path below the field."""


def _no_nul(value: str) -> str:
    if "\x00" in value:
        raise PydanticCustomError("nul_character", "must not contain NUL characters")
    return value


class _NoNul:
    """Marks a ``str`` as free of NUL characters (and says so as a pattern)."""

    def __get_pydantic_core_schema__(
        self, source: Any, handler: GetCoreSchemaHandler
    ) -> CoreSchema:
        return core_schema.no_info_after_validator_function(_no_nul, handler(source))

    def __get_pydantic_json_schema__(
        self, schema: CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        return {**handler(schema), "pattern": NO_NUL}


Text = Annotated[str, _NoNul()]
"""A string without NUL characters (lengths are the field's own)."""


def _integral(value: Any) -> Any:
    """A float without a fractional part as its integer (JSON Schema counts
    ``2.0`` as an integer); anything else as it is, for the type to judge."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


INTEGRAL = BeforeValidator(_integral)
"""Annotate an ``int`` with it to take integral floats (``4.0``) as integers."""

Id = Annotated[int, Field(ge=1, le=INT_MAX), INTEGRAL]
"""A row id."""

Count = Annotated[int, Field(ge=0, le=INT_MAX), INTEGRAL]
"""A non-negative integer stored in an ``Integer`` column (or bounded like one)."""

Positive = Annotated[int, Field(ge=1, le=INT_MAX), INTEGRAL]
"""A positive integer stored in an ``Integer`` column (or bounded like one)."""

Bytes = Annotated[int, Field(ge=1, le=BIGINT_MAX), INTEGRAL]
"""A positive byte size (a ``BigInteger`` column)."""

Seed = Annotated[int, Field(ge=0, le=BIGINT_MAX), INTEGRAL]
"""A random seed."""

if TYPE_CHECKING:
    JsonValue = Any
else:
    JsonValue = TypeAliasType(
        "JsonValue",
        Union[dict[Text, "JsonValue"], list["JsonValue"], Text, float, int, bool, None],  # noqa: UP007
    )
    """Any JSON value whose strings (keys too) hold no NUL and whose numbers
    are finite: what the document says of free-form members."""


def _text_flaw(text: str) -> str:
    """What is wrong with a free-form string, or ``""``."""
    if "\x00" in text:
        return "must not contain NUL characters"
    try:
        text.encode()
    except UnicodeEncodeError:
        return "must be valid Unicode (it holds a lone surrogate)"
    return ""


def _encodable(value: str) -> str:
    flaw = _text_flaw(value)
    if flaw:
        raise PydanticCustomError("text", flaw)
    return value


StoredText = Annotated[str, _NoNul(), AfterValidator(_encodable)]
"""A string that is looked up in or stored to a text column as it is: no
NUL character and valid Unicode (no lone surrogate, which neither database
can encode)."""


def _first_flaw(value: Any) -> tuple[tuple[int | str, ...], str] | None:
    """Where in ``value`` (a path) a string or key is flawed
    (:func:`_text_flaw`) or a number is not finite, and what is wrong; None
    when clean. Iterative: JSON nests deep."""
    stack: list[tuple[tuple[int | str, ...], Any]] = [((), value)]
    while stack:
        at, item = stack.pop()
        flaw = _text_flaw(item) if isinstance(item, str) else ""
        if flaw:
            return at, flaw
        if isinstance(item, float) and not math.isfinite(item):
            return at, "must be a finite number"
        if isinstance(item, dict):
            for key in item:
                if flaw := _text_flaw(key):
                    return at, f"key {key!r} {flaw}"
            stack.extend(((*at, key), child) for key, child in reversed(item.items()))
        elif isinstance(item, list):
            stack.extend(((*at, i), child) for i, child in reversed(list(enumerate(item))))
    return None


_NAMES: dict[type, str] = {dict: "object", list: "array"}


def _json_of(kind: type) -> Any:
    def check(value: Any) -> Any:
        if not isinstance(value, kind):
            raise PydanticCustomError("json_type", f"must be a JSON {_NAMES[kind]}")
        flaw = _first_flaw(value)
        if flaw is not None:
            at, message = flaw
            raise PydanticCustomError("json_value", message, {JSON_PATH: at})
        return value

    return AfterValidator(check)


JsonObject = Annotated[SkipValidation[dict[Text, JsonValue]], _json_of(dict)]
"""A free-form JSON object; an error names the member below the field."""

JsonList = Annotated[SkipValidation[list[JsonValue]], _json_of(list)]
"""A free-form JSON array; an error names the item below the field."""


def decimals_up_to(limit: int) -> str:
    """A regular expression matching the decimal numerals of ``1..limit``
    (no leading zeros)."""
    digits = str(limit)
    shorter = [rf"[1-9]\d{{0,{len(digits) - 2}}}"] if len(digits) > 1 else []
    same = [
        rf"{digits[:i]}[{int(i == 0)}-{int(d) - 1}]\d{{{len(digits) - i - 1}}}"
        for i, d in enumerate(digits)
        if int(d) > int(i == 0)
    ]
    return "(?:" + "|".join([*shorter, *same, digits]) + ")"


class IdConverter(IntegerConverter):
    """Integers in API paths are row ids: ``1..INT_MAX``; any other number
    matches no route, whatever the method (so it is 404, never 405: the
    range is in the pattern, which is matched before the method)."""

    regex = decimals_up_to(INT_MAX)

    def __init__(self, url_map: Map) -> None:
        super().__init__(url_map, min=1, max=INT_MAX)


class SchemaGenerator(GenerateJsonSchema):
    """pydantic's JSON Schema, with a mapping's key type said as
    ``propertyNames`` (pydantic writes ``patternProperties``, which lets
    other keys through)."""

    def dict_schema(self, schema: core_schema.DictSchema) -> JsonSchemaValue:
        json_schema = super().dict_schema(schema)
        patterns = json_schema.pop("patternProperties", None)
        if patterns:
            ((pattern, values),) = patterns.items()
            json_schema["propertyNames"] = {"pattern": pattern}
            json_schema["additionalProperties"] = values
        return json_schema


MAX_REQUEST_LINE = 8190
"""The longest request line (method, path, query; bytes) the HTTP server
accepts; longer ones get 414 from the server itself."""

ID_SCHEMA: dict[str, Any] = {"type": "integer", "minimum": 1, "maximum": INT_MAX}
"""What the document says of a path id."""


MAXIMUM_SETTING = "x-maximum-setting"
"""Marks a number whose maximum is an app setting; the document says the
setting's value (:func:`api.openapi.document`)."""


def _given(name: str) -> dict[str, Any]:
    return {"required": [name], "properties": {name: {"not": {"type": "null"}}}}


def exactly_one(*names: str) -> dict[str, Any]:
    """JSON Schema of a body giving exactly one of ``names`` (not null)."""
    return {"oneOf": [_given(name) for name in names]}


def at_most_one(*names: str) -> dict[str, Any]:
    """JSON Schema of a body giving at most one of ``names`` (not null)."""
    return {"not": {"allOf": [_given(name) for name in names]}}
