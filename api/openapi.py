"""The OpenAPI 3.1 document, built from the operations the blueprints
declare (:func:`api.routing.operation`) and their pydantic models (the
docs page that shows it: :mod:`api.docs`)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from flask import Flask
from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from api.fields import ID_SCHEMA, MAX_REQUEST_LINE, MAXIMUM_SETTING, SchemaGenerator
from api.routing import Operation, PageQuery

_PARAMETER = re.compile(r"<(?:(\w+):)?(\w+)>")
_REF = "#/components/schemas/{model}"

PROBLEM_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "RFC 9457 problem details",
    "properties": {
        "type": {"type": "string"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "instance": {"type": "string"},
        "field": {"type": "string", "description": "the first offending field"},
        "errors": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {"field": {"type": "string"}, "message": {"type": "string"}},
            },
        },
    },
    "required": ["type", "title", "status", "detail"],
}


RETRY_AFTER_HEADER: dict[str, Any] = {
    "description": "seconds to wait before trying again",
    "schema": {"type": "integer", "minimum": 1},
}

REQUEST_LINE_TOO_LONG: dict[str, Any] = {
    "description": (
        f"the request line (method, path and query) is longer than {MAX_REQUEST_LINE} "
        "bytes; the HTTP server answers before the API, without a problem body"
    )
}


def _operations(app: Flask) -> list[tuple[str, list[str], Operation]]:
    found = []
    for rule in app.url_map.iter_rules():
        operation = getattr(app.view_functions[rule.endpoint], "operation", None)
        if isinstance(operation, Operation):
            path = _PARAMETER.sub(r"{\2}", rule.rule)
            ints = [name for kind, name in _PARAMETER.findall(rule.rule) if kind == "int"]
            found.append((path, ints, operation))
    return sorted(found, key=lambda item: (item[0], item[2].method))


def _schemas(ops: list[tuple[str, list[str], Operation]]) -> tuple[dict[Any, Any], dict[str, Any]]:
    wanted: set[tuple[type[BaseModel], str]] = set()
    for _, _, op in ops:
        if op.body is not None:
            wanted.add((op.body, "validation"))
        if op.response is not None:
            wanted.add((op.response, "serialization"))
        wanted |= {(model, "serialization") for model in op.alternatives.values()}
    keys, definitions = models_json_schema(
        sorted(wanted, key=lambda pair: (pair[0].__name__, pair[1])),  # type: ignore[arg-type]
        ref_template=_REF,
        schema_generator=SchemaGenerator,
    )
    schemas = dict(definitions.get("$defs", {}))
    for _, _, op in ops:
        if op.query is not None:
            schemas.update(_query_schema(op.query).get("$defs", {}))
    schemas["Problem"] = PROBLEM_SCHEMA
    return keys, schemas


def _query_schema(model: type[BaseModel]) -> dict[str, Any]:
    return model.model_json_schema(ref_template=_REF, schema_generator=SchemaGenerator)


def _omittable(schema: dict[str, Any]) -> dict[str, Any]:
    """A query parameter's schema without its ``null`` branch: a query
    string has no null, the parameter is left out instead."""
    branches = [b for b in schema.get("anyOf", ()) if b != {"type": "null"}]
    if len(branches) != 1 or "anyOf" not in schema:
        return schema
    rest = {k: v for k, v in schema.items() if k != "anyOf" and not (k == "default" and v is None)}
    return {**branches[0], **rest}


def _json(schema: dict[str, Any], media: str = "application/json") -> dict[str, Any]:
    return {media: {"schema": schema}}


def _operation_object(op: Operation, ints: list[str], refs: dict[Any, Any]) -> dict[str, Any]:
    parameters: list[dict[str, Any]] = [
        {"name": name, "in": "path", "required": True, "schema": ID_SCHEMA} for name in ints
    ]
    if op.query is not None:
        properties = _query_schema(op.query)["properties"]
        for name, field in op.query.model_fields.items():
            parameters.append(
                {
                    "name": name,
                    "in": "query",
                    "required": field.is_required(),
                    "schema": _omittable(properties[name]),
                }
            )
    body: dict[str, Any] = {"summary": op.summary, "parameters": parameters}
    if op.permission is not None:
        body["security"] = [{"bearer": []}, {"apiKeyHeader": []}]
        body["x-permission"] = op.permission.value
    if op.body is not None:
        body["requestBody"] = {"required": True, "content": _json(refs[(op.body, "validation")])}
    elif op.body_media is not None:
        body["requestBody"] = {
            "required": True,
            "content": _json({"type": "string"}, op.body_media),
        }
    success: dict[str, Any] = {"description": "success"}
    if op.response is not None:
        schema = refs[(op.response, "serialization")]
        if op.query is not None and issubclass(op.query, PageQuery):
            schema = {
                "type": "object",
                "properties": {
                    "items": {"type": "array", "items": schema},
                    "next": {"type": ["string", "null"], "description": "the next page"},
                },
            }
        success["content"] = _json(schema)
    for media, what in op.other_media.items():
        binary = {"type": "string", "contentMediaType": media, "description": what}
        success.setdefault("content", {}).update(_json(binary, media))
    responses: dict[str, Any] = {str(op.status): success}
    for status, model in op.alternatives.items():
        responses[str(status)] = {
            "description": "success",
            "content": _json(refs[(model, "serialization")]),
        }
    for status in op.errors:
        if status == 304:
            responses["304"] = {"description": "not modified (If-None-Match matched)"}
        else:
            responses[str(status)] = {
                "description": "problem",
                "content": _json(
                    {"$ref": _REF.format(model="Problem")}, "application/problem+json"
                ),
            }
    if "503" in responses:
        responses["503"]["headers"] = {"Retry-After": RETRY_AFTER_HEADER}
    responses["414"] = REQUEST_LINE_TOO_LONG
    body["responses"] = responses
    return body


def _settled(node: Any, config: Mapping[str, Any]) -> Any:
    """``node`` with each number's maximum setting (:data:`MAXIMUM_SETTING`)
    replaced by its value in ``config``."""
    if isinstance(node, list):
        return [_settled(item, config) for item in node]
    if not isinstance(node, dict):
        return node
    settled = {k: _settled(v, config) for k, v in node.items() if k != MAXIMUM_SETTING}
    if MAXIMUM_SETTING in node:
        settled["maximum"] = config[node[MAXIMUM_SETTING]]
    return settled


def document(app: Flask) -> dict[str, Any]:
    """The OpenAPI document of ``app``'s declared operations: the /v1
    resources and the operational routes."""
    ops = _operations(app)
    refs, schemas = _schemas(ops)
    schemas = _settled(schemas, app.config)
    paths: dict[str, dict[str, Any]] = {}
    for path, ints, op in ops:
        paths.setdefault(path, {})[op.method.lower()] = _operation_object(op, ints, refs)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "meshplan",
            "version": "1",
            "description": "Plan and serve many models on a GPU cluster with model parallelism.",
        },
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer"},
                "apiKeyHeader": {"type": "apiKey", "in": "header", "name": "X-API-Key"},
            },
        },
    }
