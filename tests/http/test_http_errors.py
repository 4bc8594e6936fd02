"""Every failure is the error envelope with the right status and a stable code, and a bad
body changes nothing."""

from __future__ import annotations

import json
import uuid
from datetime import datetime, timedelta, timezone

import pytest

from http_support import Api, assert_error

ASSIGN = "/api/collab/task.assign"


def _total(api: Api) -> int:
    return int(api.get("/api/collab/jobs/stats").json()["stats"]["total"])


GOOD = {"type": "t", "executorId": "ex"}

RAW_BODIES = [
    ("nul", json.dumps({**GOOD, "payload": {"x": "a\u0000b"}}).encode(), 400, "invalid_json"),
    ("nul key", json.dumps({**GOOD, "payload": {"a\u0000": 1}}).encode(), 400, "invalid_json"),
    ("deep", b'{"type": "t", "executorId": "ex", "payload": {"x": ' + b"[" * 10000 + b"]" * 10000 + b"}}",
     400, "too_deep"),
    ("deep but parseable", b'{"type": "t", "executorId": "ex", "payload": {"x": ' + b"[" * 100
     + b"]" * 100 + b"}}", 400, "too_deep"),
    ("nan", b'{"type": "t", "executorId": "ex", "payload": {"x": NaN}}', 400, "invalid_json"),
    ("infinity", b'{"type": "t", "executorId": "ex", "payload": {"x": 1e999}}', 400, "invalid_json"),
    ("duplicate keys", b'{"type": "t", "type": "u", "executorId": "ex"}', 400, "duplicate_key"),
    ("invalid utf-8", b'{"type": "t\xff", "executorId": "ex"}', 400, "invalid_json"),
    ("not json", b"type=t&executorId=ex", 400, "invalid_json"),
    ("empty", b"", 400, "invalid_json"),
    ("array", b"[1, 2]", 422, "invalid_body"),
    ("huge int", b'{"type": "t", "executorId": "ex", "payload": {"x": ' + b"9" * 5000 + b"}}",
     400, "invalid_json"),
]


@pytest.mark.parametrize("name, raw, status, code", RAW_BODIES, ids=[b[0] for b in RAW_BODIES])
def test_bad_raw_bodies_are_refused_and_change_nothing(api: Api, name: str, raw: bytes, status: int,
                                                       code: str) -> None:
    response = api.http.post(ASSIGN, content=raw, headers={**api.as_service(), "Content-Type": "application/json"})
    assert_error(response, status, code)
    assert _total(api) == 0


BAD_FIELDS = [
    ("maxAttempts -1", {"maxAttempts": -1}, 422, "invalid_body"),
    ("maxAttempts 2^63", {"maxAttempts": 2**63}, 422, "invalid_body"),
    ("priority", {"priority": 40000}, 422, "invalid_body"),
    ("runAt without zone", {"runAt": "2027-01-01T00:00:00"}, 422, "invalid_body"),
    ("runAt 9999", {"runAt": "9999-01-01T00:00:00Z"}, 400, "invalid_input"),
    ("sql type", {"type": "'\";--"}, 422, "invalid_body"),
    ("payload not object", {"payload": [1]}, 422, "invalid_body"),
    ("missing executor", {"executorId": None}, 422, "invalid_body"),
    ("long key", {"idempotencyKey": "k" * 256}, 422, "invalid_body"),
    ("runAt as epoch seconds", {"runAt": 1700000000}, 422, "invalid_body"),
    ("runAt as a float", {"runAt": 1.7e9}, 422, "invalid_body"),
    ("misspelt field", {"maxAttempt": 3}, 422, "invalid_body"),
]


@pytest.mark.parametrize("name, change, status, code", BAD_FIELDS, ids=[b[0] for b in BAD_FIELDS])
def test_bad_fields_are_refused_and_change_nothing(api: Api, name: str, change: dict[str, object],
                                                   status: int, code: str) -> None:
    assert_error(api.post(ASSIGN, {**GOOD, **change}), status, code)
    assert _total(api) == 0


def test_wrong_content_type_is_415(api: Api) -> None:
    response = api.http.post(ASSIGN, content=json.dumps(GOOD), headers={**api.as_service(),
                                                                      "Content-Type": "text/plain"})
    assert_error(response, 415, "unsupported_media_type")


def test_a_body_without_content_type_is_415(api: Api) -> None:
    response = api.http.post(ASSIGN, content=json.dumps(GOOD).encode(), headers=api.as_service())
    assert "content-type" not in {k.lower() for k in response.request.headers}
    assert_error(response, 415, "unsupported_media_type")
    assert _total(api) == 0


def test_unknown_fields_are_named_and_epoch_times_explained(api: Api) -> None:
    misspelt = api.post(ASSIGN, {**GOOD, "maxAttempt": 3})
    assert misspelt.status_code == 422 and "maxAttempt" in misspelt.json()["error"]["message"]
    epoch = api.post(ASSIGN, {**GOOD, "runAt": 1700000000})
    assert epoch.status_code == 422 and "RFC 3339" in epoch.json()["error"]["message"]
    good = api.post(ASSIGN, {**GOOD, "runAt": "2027-01-01T00:00:00+02:00"})
    assert good.status_code == 200, good.text


def test_oversized_body_is_413(api: Api) -> None:
    big = {**GOOD, "payload": {"x": "a" * (3 * 1024 * 1024)}}
    assert_error(api.post(ASSIGN, big), 413, "body_too_large")
    assert _total(api) == 0


def test_payload_over_the_engine_limit_is_413(api: Api) -> None:
    assert_error(api.post(ASSIGN, {**GOOD, "payload": {"x": "a" * (1024 * 1024 + 10)}}), 413, "payload_too_large")


def test_bad_query_path_and_method(api: Api) -> None:
    assert_error(api.get("/api/collab/jobs/recent?limit=0"), 400, "invalid_query")
    assert_error(api.get("/api/collab/jobs/recent?limit=1&limit=2"), 400, "invalid_query")
    # A cursor has the documented form (a timestamp, then the row id) or is refused at once.
    assert_error(api.get("/api/collab/jobs/recent?cursor=null"), 400, "invalid_query")
    assert_error(api.get("/api/collab/job/not-a-uuid"), 400, "invalid_id")
    assert_error(api.get(f"/api/collab/job/{uuid.uuid4()}"), 404, "not_found")
    assert_error(api.get("/api/collab/nope"), 404, "not_found")
    assert_error(api.get(ASSIGN), 405, "method_not_allowed")
    assert_error(api.get("/functions/v1/dlq-retry"), 405, "method_not_allowed")


def test_lease_lost_and_type_mismatch_are_409(api: Api) -> None:
    job_id = api.post(ASSIGN, GOOD).json()["jobId"]
    assert_error(api.post("/api/collab/task.result", {"jobId": job_id, "ok": True}), 409, "lease_lost")
    api.post("/api/collab/task.claim", {"executorId": "ex", "workerId": "w1"})
    assert_error(api.post("/api/collab/task.result", {"jobId": job_id, "ok": True, "workerId": "w2"}),
           409, "lease_lost")
    assert_error(api.post("/api/collab/task.result", {"jobId": job_id, "type": "other", "ok": True}),
           409, "type_mismatch")
    assert_error(api.post("/api/collab/task.result", {"jobId": job_id, "ok": True, "attempt": 2}),
           409, "lease_lost")
    assert api.post("/api/collab/task.result", {"jobId": job_id, "ok": True, "workerId": "w1",
                                                "attempt": 1}).json() == {"ok": True}


def test_idempotency_over_http(api: Api) -> None:
    headers = {"X-Idempotency-Key": "order-7"}
    first = api.post(ASSIGN, {**GOOD, "payload": {"n": 1}}, headers=headers)
    replay = api.post(ASSIGN, {**GOOD, "payload": {"n": 1}}, headers=headers)
    assert first.json()["queued"] is True
    assert replay.json() == {"jobId": first.json()["jobId"], "queued": False}
    body_key = api.post(ASSIGN, {**GOOD, "payload": {"n": 1}, "idempotencyKey": "order-7"})
    assert body_key.json()["jobId"] == first.json()["jobId"]
    assert_error(api.post(ASSIGN, {**GOOD, "payload": {"n": 2}}, headers=headers), 409, "conflict")
    assert_error(api.post(ASSIGN, {**GOOD, "idempotencyKey": "a"}, headers={"X-Idempotency-Key": "b"}),
           422, "invalid_body")
    assert _total(api) == 1


def test_request_id_is_echoed_or_made(api: Api) -> None:
    given = api.http.get("/api/collab/health", headers={"X-Request-Id": "req-123"})
    assert given.headers["X-Request-Id"] == "req-123"
    made = api.http.get("/api/collab/health", headers={"X-Request-Id": "bad id with spaces"})
    assert len(made.headers["X-Request-Id"]) == 32
    assert api.http.get("/api/collab/nope").headers["X-Request-Id"]


def test_head_is_served_like_get(api: Api) -> None:
    response = api.http.head("/api/collab/health")
    assert response.status_code == 200 and response.content == b""


@pytest.mark.parametrize("change", [{"maxAttempts": True}, {"maxAttempts": "3"}, {"priority": 1.5}])
def test_json_numbers_are_not_coerced(api: Api, change: dict[str, object]) -> None:
    assert_error(api.post(ASSIGN, {**GOOD, **change}), 422, "invalid_body")
    assert_error(api.post("/api/collab/task.result", {"jobId": str(uuid.uuid4()), "ok": "true"}), 422, "invalid_body")


def test_run_at_with_any_utc_offset_python_accepts(api: Api) -> None:
    """Python allows offsets up to ±23:59, PostgreSQL up to ±15:59: times reach the engine
    in UTC (schemathesis found the 500 this was)."""
    local = timezone(-timedelta(hours=16, minutes=52))
    due = (datetime.now(timezone.utc) + timedelta(hours=1)).astimezone(local).replace(microsecond=0)
    assigned = api.post("/api/collab/task.assign", {"type": "t.tz", "executorId": "ex", "runAt": due.isoformat()})
    assert assigned.status_code == 200, assigned.content
    job = api.get(f"/api/collab/job/{assigned.json()['jobId']}").json()["job"]
    assert datetime.fromisoformat(job["nextRunAt"]) == due
    too_old = api.post("/api/collab/task.assign", {"type": "t.tz", "executorId": "ex",
                                                    "runAt": "0214-06-09T04:05:55.0-16:52"})
    assert_error(too_old, 400, "invalid_input")
