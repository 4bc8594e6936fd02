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
    inputs.append((wire.ErrorEnvelope, "serialization"))
    unique = list(dict.fromkeys(inputs))
    refs, defs = models_json_schema(unique, ref_template=_REF, by_alias=True)  # type: ignore[arg-type]
    return {key: value for key, value in refs.items()}, defs.get("$defs", {})


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
            params.append({"name": name, "in": "query", "required": name in required, "schema": prop})
    return params


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
    responses: dict[str, Any] = {"200": {"description": "OK", "content": {
        route.media_type: {"schema": refs[(route.response, "serialization")]}}}}
    if route.creates:
        responses["201"] = {"description": "Created", "content": {
            route.media_type: {"schema": refs[(route.response, "serialization")]}}}
    errors = set(route.errors) | {500}
    if route.auth:
        errors |= {401, 429}
    if route.body is not None:
        errors |= {400, 413, 415, 422}
    if route.query is not None or "<" in (route.path or ""):
        errors |= {400}
    error_schema = refs[(wire.ErrorEnvelope, "serialization")]
    for status in sorted(errors):
        responses[str(status)] = {"description": _STATUS_TEXT.get(status, "Error"), "content": {
            "application/json": {"schema": error_schema}}}
    op["responses"] = responses
    return op


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
            "schemas": defs,
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

