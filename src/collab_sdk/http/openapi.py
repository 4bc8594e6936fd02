"""The OpenAPI 3.1 document, generated from the route table and the pydantic models.

Served at ``GET /docs.json`` and kept in ``docs/openapi/collab.yaml`` (a test keeps them
equal); regenerate the file with ``python -m collab_sdk.http.openapi --write``.
"""

from __future__ import annotations

import argparse
import re
import sys
from typing import Any

import yaml
from pydantic import TypeAdapter
from pydantic.json_schema import models_json_schema

from pathlib import Path

from collab_sdk.http import wire
from collab_sdk.http.bodies import MAX_DEPTH
from collab_sdk.http.pipeline import Route
from collab_sdk.http.routes import FUNCTIONS_PREFIX, TABLES

__all__ = ["openapi_document", "openapi_yaml", "OPENAPI_FILE", "main"]

#: Where ``--write`` puts the document, relative to a checkout of collab.
OPENAPI_FILE = Path("docs") / "openapi" / "collab.yaml"
_REF = "#/components/schemas/{model}"
_STATUS_TEXT = {400: "Bad request", 401: "Unauthenticated", 403: "Forbidden", 404: "Not found",
                409: "Conflict", 413: "Too large", 415: "Unsupported media type",
                422: "Invalid body", 429: "Rate limited", 500: "Internal error",
                503: "Unavailable"}


def _openapi_path(path: str) -> str:
    return re.sub(r"<(?:\w+:)?(\w+)>", lambda m: "{" + _camel(m.group(1)) + "}", path)


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(p.title() for p in rest)


def _schemas() -> tuple[dict[tuple[Any, str], Any], dict[str, Any]]:
    inputs: list[tuple[Any, str]] = []
    for route in (r for table in TABLES for r in table.routes):
        if route.body is not None:
            inputs.append((route.body, "validation"))
        inputs.append((route.response, "serialization"))
    inputs.extend((model, "serialization") for model in wire.SSE_EVENTS.values())
    unique = list(dict.fromkeys(inputs))
    refs, defs = models_json_schema(unique, ref_template=_REF, by_alias=True)  # type: ignore[arg-type]
    return {key: value for key, value in refs.items()}, defs.get("$defs", {})


#: Every string the server reads — body, query, path — is refused with a NUL character
#: (PostgreSQL's text and jsonb cannot hold one): the document says so on each.
NO_NUL_PATTERN = "^[^\\u0000]*$"
_JSON_VALUE = "JsonValue"
#: Formats whose every value is NUL-free already.
_SAFE_FORMATS = {"uuid", "date-time", "date", "time", "duration", "uri", "email"}


def _json_value_schema() -> dict[str, Any]:
    # Typeless on purpose: each keyword applies to its own JSON type, so this is "any JSON
    # value" less NUL characters in its strings and keys.
    ref = {"$ref": _REF.format(model=_JSON_VALUE)}
    return {"description": "Any JSON value without NUL characters (`\\u0000`) in its strings or "
                           f"keys, nested at most {MAX_DEPTH} deep",
            "pattern": NO_NUL_PATTERN, "items": ref, "additionalProperties": ref,
            "propertyNames": {"pattern": NO_NUL_PATTERN}}


def _free_form(schema: dict[str, Any]) -> bool:
    """``Any`` in pydantic's output: a schema that constrains nothing."""
    return not (set(schema) - {"title", "description", "default", "examples"})


def _without_nul(schema: Any) -> Any:
    """``schema`` as the server reads it: NUL refused in every string and object key, and
    a free-form value (``Any``) a ``JsonValue``."""
    if isinstance(schema, list):
        return [_without_nul(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    if _free_form(schema):
        return {**schema, "$ref": _REF.format(model=_JSON_VALUE)}
    out = {key: _without_nul(value) if key in _SUBSCHEMAS else value for key, value in schema.items()}
    for key in ("properties", "$defs", "patternProperties", "dependentSchemas"):
        if isinstance(schema.get(key), dict):
            out[key] = {name: _without_nul(sub) for name, sub in schema[key].items()}
    types = schema.get("type")
    types = types if isinstance(types, list) else [types]
    if ("string" in types and "pattern" not in schema and "enum" not in schema
            and "const" not in schema and schema.get("format") not in _SAFE_FORMATS):
        out["pattern"] = NO_NUL_PATTERN
    if "object" in types and schema.get("additionalProperties", True) is not False:
        extra = schema.get("additionalProperties", True)
        out["additionalProperties"] = (_without_nul(extra) if isinstance(extra, dict)
                                       else {"$ref": _REF.format(model=_JSON_VALUE)})
        out.setdefault("propertyNames", {"pattern": NO_NUL_PATTERN})
    return out


_SUBSCHEMAS = {"items", "additionalProperties", "anyOf", "oneOf", "allOf", "not", "prefixItems",
               "contains", "if", "then", "else", "propertyNames", "unevaluatedProperties",
               "unevaluatedItems"}


def _parameters(route: Route) -> list[dict[str, Any]]:
    params: list[dict[str, Any]] = []
    for name in re.findall(r"<(?:\w+:)?(\w+)>", route.path or ""):
        params.append({"name": _camel(name), "in": "path", "required": True,
                       "schema": {"type": "string", "format": "uuid"}})
    if route.query is not None:
        schema = TypeAdapter(route.query).json_schema(by_alias=True, ref_template=_REF)
        required = set(schema.get("required", []))
        for name, prop in schema.get("properties", {}).items():
            prop = {k: v for k, v in prop.items() if k != "title"}
            params.append({"name": name, "in": "query", "required": name in required,
                           "schema": _without_nul(prop)})
    return params


def _event_stream(refs: dict[tuple[Any, str], Any]) -> dict[str, Any]:
    """A ``text/event-stream`` body. Before OpenAPI 3.2's ``itemSchema``, a stream's
    ``schema`` describes each event, parsed as ``{event, data, id?, retry?}`` (``data`` the
    JSON text of its model): one branch per ``event:`` name."""
    events = []
    for name, model in wire.SSE_EVENTS.items():
        event: dict[str, Any] = {
            "type": "object", "required": ["event", "data"],
            "properties": {"event": {"const": name},
                           "data": {"type": "string", "contentMediaType": "application/json",
                                    "contentSchema": refs[(model, "serialization")]},
                           "id": {"type": "string", "pattern": "^[0-9]+$",
                                  "description": "the seq of the event (`Last-Event-ID`)"}}}
        if name == "message":
            event["required"].append("id")
        events.append(event)
    return {"schema": {"description": "Server-Sent Events: `retry`, comment keep-alives, and "
                                      "these events", "oneOf": events}}


def _operation(route: Route, refs: dict[tuple[Any, str], Any], *, tag: str) -> dict[str, Any]:
    op: dict[str, Any] = {"operationId": f"{tag}.{route.name}" if tag == "functions" else route.name,
                          "summary": route.summary, "tags": [tag]}
    if not route.auth:
        op["security"] = []
    params = _parameters(route)
    if params:
        op["parameters"] = params
    if route.body is not None:
        op["requestBody"] = {"required": route.body_required, "content": {
            "application/json": {"schema": refs[(route.body, "validation")]}}}
    ok = (_event_stream(refs) if route.media_type == "text/event-stream"
          else {"schema": refs[(route.response, "serialization")]})
    responses: dict[str, Any] = {"200": {"description": "OK", "content": {route.media_type: ok}}}
    if route.creates:
        responses["201"] = {"description": "Created", "content": {
            route.media_type: {"schema": refs[(route.response, "serialization")]}}}
    errors = set(route.errors) | {500}
    if route.auth:
        # A caller's route talks to the database: read-only or unreachable is a 503.
        errors |= {401, 429, 503}
    if route.body is not None:
        errors |= {400, 413, 415, 422}
    if route.query is not None or "<" in (route.path or ""):
        errors |= {400}
    error_schema = refs[(wire.ErrorEnvelope, "serialization")]
    for status in sorted(errors):
        responses[str(status)] = {"description": _STATUS_TEXT.get(status, "Error"), "content": {
            "application/json": {"schema": error_schema}}}
        if status in (429, 503):
            responses[str(status)]["headers"] = {"Retry-After": {
                "description": "seconds to wait before trying again",
                "schema": {"type": "string", "pattern": "^[0-9]+$"}}}
    op["responses"] = responses
    return op


#: Operations whose answer names a resource, and where: path parameter -> JSON pointer
#: into the 2xx body. Each becomes an OpenAPI link to every operation of the same API
#: that takes that parameter in its path (stateful clients and fuzzers follow them).
PRODUCERS: dict[str, dict[str, str]] = {
    "task.assign": {"jobId": "/jobId"},
    "task.claim": {"jobId": "/job/id"},
    "queue.enqueue": {"id": "/job/id"},
    "workflows.create": {"workflowId": "/id"},
    "workflows.duplicate": {"workflowId": "/id"},
    "runs.start": {"runId": "/id"},
    "triggers.webhook": {"runId": "/id"},
    "triggers.schedule": {"scheduleId": "/id"},
}


def _add_links(paths: dict[str, dict[str, Any]]) -> None:
    operations = [(path, op) for path, item in paths.items() for op in item.values()]
    for path, op in operations:
        produced = PRODUCERS.get(op["operationId"])
        if not produced:
            continue
        prefix = "/".join(path.split("/")[:3])
        links: dict[str, Any] = {}
        for target_path, target in operations:
            if not target_path.startswith(prefix + "/") or target is op:
                continue
            for param, pointer in produced.items():
                if "{" + param + "}" in target_path:
                    links[target["operationId"]] = {
                        "operationId": target["operationId"],
                        "parameters": {f"path.{param}": f"$response.body#{pointer}"}}
        for status in ("200", "201"):
            if status in op["responses"] and links:
                op["responses"][status]["links"] = links


def openapi_document() -> dict[str, Any]:
    """The OpenAPI 3.1 document of every route (Collab API and functions)."""
    refs, defs = _schemas()
    paths: dict[str, dict[str, Any]] = {}
    for table, route in ((table, r) for table in TABLES for r in table.routes):
        if route.path is not None:
            entry = paths.setdefault(table.prefix + _openapi_path(route.path), {})
            entry[route.method.lower()] = _operation(route, refs, tag=table.tag)
        if route.function is not None:
            entry = paths.setdefault(f"{FUNCTIONS_PREFIX}/{route.function}", {})
            entry[route.method.lower()] = _operation(route, refs, tag="functions")
    _add_links(paths)
    return {
        "openapi": "3.1.0",
        "info": {"title": "collab API", "version": "1.0.0",
                 "description": "The Collab API and functions of collab, a Postgres job queue. "
                                "Errors are `{ error: { code, message } }`."},
        # Relative: Swagger UI's "Try it out" calls the server the document was loaded from.
        "servers": [{"url": "/", "description": "the server this document was loaded from"}],
        "security": [{"bearer": []}, {"apiKey": []}],
        "tags": [{"name": "collab", "description": "The Collab API (`/api/collab`)"},
                 {"name": "functions", "description": "Serverless functions (`/functions/v1`)"}],
        "paths": paths,
        "components": {
            "schemas": {**{name: _without_nul(schema) for name, schema in defs.items()},
                        _JSON_VALUE: _json_value_schema()},
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"},
                "apiKey": {"type": "apiKey", "in": "header", "name": "x-api-key"}},
        },
    }


def openapi_yaml() -> str:
    """The OpenAPI document as the YAML kept in ``docs/openapi/collab.yaml``."""
    return str(yaml.safe_dump(openapi_document(), sort_keys=False, allow_unicode=True, width=100))


def main(argv: list[str] | None = None) -> int:
    """``python -m collab_sdk.http.openapi [--write]``: print or write the document."""
    parser = argparse.ArgumentParser(description="print or write the OpenAPI document")
    parser.add_argument("--write", action="store_true", help=f"write {OPENAPI_FILE}")
    args = parser.parse_args(argv)
    text = openapi_yaml()
    if args.write:
        OPENAPI_FILE.parent.mkdir(parents=True, exist_ok=True)
        OPENAPI_FILE.write_text(text)
        print(f"wrote {OPENAPI_FILE}")
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())

