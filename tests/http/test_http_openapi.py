"""The OpenAPI document: 3.1, served at /docs.json(), equal to docs/openapi/collab.yaml, and
covering every route with its request and response schemas."""

from __future__ import annotations

import yaml

from collab_sdk.http.openapi import OPENAPI_FILE, openapi_document
from collab_sdk.http.routes import ROUTES
from http_support import Api
from support import REPO


def test_the_committed_file_matches_the_served_document(api: Api) -> None:
    served = api.http.get("/docs.json").json()
    committed = yaml.safe_load((REPO / OPENAPI_FILE).read_text())
    assert served == committed, "regenerate: python -m collab_sdk.http.openapi --write"
    assert served == openapi_document()


def test_every_route_is_documented() -> None:
    doc = openapi_document()
    assert doc["openapi"] == "3.1.0"
    operations = {op["operationId"] for item in doc["paths"].values() for op in item.values()}
    for route in ROUTES:
        if route.path:
            assert route.name in operations
        if route.function:
            assert f"functions.{route.name}" in operations
    assign = doc["paths"]["/api/collab/task.assign"]["post"]
    schema = assign["requestBody"]["content"]["application/json"]["schema"]
    body = doc["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
    assert {"type", "executorId", "payload", "idempotencyKey"} <= set(body["properties"])
    assert set(body["required"]) == {"type", "executorId"}
    assert {"401", "409", "413", "422", "429"} <= set(assign["responses"])
    recent = doc["paths"]["/api/collab/jobs/recent"]["get"]
    assert {p["name"] for p in recent["parameters"]} >= {"limit", "executorId", "cursor"}
    assert doc["paths"]["/api/collab/health"]["get"]["security"] == []
