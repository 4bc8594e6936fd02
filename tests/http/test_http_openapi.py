"""The OpenAPI document: 3.1, served at /docs.json(), equal to docs/openapi/collab.yaml, and
covering every route with its request and response schemas."""

from __future__ import annotations

from typing import Any

import yaml

from collab_sdk.http.openapi import NO_NUL_PATTERN, OPENAPI_FILE, openapi_document
from collab_sdk.http.routes import ROUTES
from collab_sdk.http.wire import CURSOR_PATTERN, SSE_EVENTS
from http_support import Api, assert_error
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


def test_the_document_states_what_the_server_refuses() -> None:
    """Bounds render as JSON Schema keywords, every read string says it refuses NUL, and
    free JSON is a ``JsonValue`` (the server's own refusals, written down)."""
    doc = openapi_document()
    assert not _keys(doc) & {"ge", "le", "gt", "lt"}, "a bound pydantic could not render"
    schemas = doc["components"]["schemas"]
    assign = schemas["AssignBody"]["properties"]
    assert {"type": "integer", "minimum": 1, "maximum": 1000} in assign["maxAttempts"]["anyOf"]
    assert {"type": "string", "maxLength": 255, "minLength": 1, "pattern": NO_NUL_PATTERN} in \
        assign["idempotencyKey"]["anyOf"]
    payload = next(s for s in assign["payload"]["anyOf"] if s.get("type") == "object")
    assert payload["additionalProperties"] == {"$ref": "#/components/schemas/JsonValue"}
    assert schemas["JsonValue"]["pattern"] == NO_NUL_PATTERN
    recent = doc["paths"]["/api/collab/jobs/recent"]["get"]["parameters"]
    cursor = next(p for p in recent if p["name"] == "cursor")["schema"]["anyOf"][0]
    assert cursor["pattern"] == CURSOR_PATTERN
    stream = doc["paths"]["/api/collab/events/stream"]["get"]["responses"]["200"]["content"]
    events = stream["text/event-stream"]["schema"]["oneOf"]
    assert [e["properties"]["event"]["const"] for e in events] == list(SSE_EVENTS)


def test_integral_numbers_are_integers_and_a_null_body_is_no_object(api: Api) -> None:
    assigned = api.post("/api/collab/task.assign", {"type": "t.int", "executorId": "ex",
                                                     "maxAttempts": 3.0, "priority": -2.0})
    assert assigned.status_code == 200, assigned.content
    job = api.get(f"/api/collab/job/{assigned.json()['jobId']}").json()["job"]
    assert (job["maxAttempts"], job["priority"]) == (3, -2)
    assert_error(api.post("/api/collab/task.assign", {"type": "t", "executorId": "ex",
                                                       "maxAttempts": 2.5}), 422, "invalid_body")
    assert_error(api.post("/api/collab/task.assign", {"type": "t", "executorId": "ex",
                                                       "maxAttempts": True}), 422, "invalid_body")
    cancel = f"/api/collab/job/{assigned.json()['jobId']}/cancel"
    null = api.http.post(cancel, content=b"null", headers={**api.as_service(),
                                                           "content-type": "application/json"})
    assert_error(null, 422, "invalid_body")
    assert api.http.post(cancel, headers=api.as_service()).status_code == 200


def _keys(value: Any) -> set[str]:
    """Every key of every object in ``value`` except property names (the schema keywords)."""
    if isinstance(value, list):
        return set().union(*map(_keys, value))
    if not isinstance(value, dict):
        return set()
    found = set(value)
    for key, child in value.items():
        found |= _keys(child) if key != "properties" else set().union(*map(_keys, child.values()))
    return found
