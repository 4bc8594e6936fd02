"""The run endpoints (D6) and triggers (D7) through the real app over a real database:
start (valid, unknown workflow, unpublished, input schema), list (by workflow, status and
date range), get, steps, events, resume a paused run, cancel a running one, retry a
failed one, and idempotency (a key answers the same run, also to 16 concurrent
requests; another input with it is 409); webhooks (signed, redelivered, unsigned, forged)
and schedules (create idempotently, update, list, delete)."""

from __future__ import annotations

import hashlib
import hmac
import json
import uuid

from http_support import Api, assert_error
from v1_support import (V1, burst, chain, claim, complete, create, fail, node, ok, published,
                        register, start)


def test_start_a_published_workflow_but_not_an_unknown_or_unpublished_one(api: Api) -> None:
    register(api)
    live = published(api, chain(node("a")))
    run = start(api, live, input={"x": 1})
    assert set(run) >= {"id", "workflow_id", "status", "trigger_type", "input", "context", "error",
                        "started_at", "completed_at", "created_at", "executor_id"}
    assert run["workflow_id"] == live["id"] and run["trigger_type"] == "manual"
    assert run["input"] == {"x": 1} and run["status"] in ("pending", "running")
    bare = api.post(f"{V1}/workflows/{live['id']}/run")  # no body: the seed's defaults
    assert bare.status_code == 201 and bare.json()["input"] == {}
    assert_error(api.post(f"{V1}/workflows/{uuid.uuid4()}/run", {}), 404, "not_found")
    draft = create(api, chain(node("a")))
    assert_error(api.post(f"{V1}/workflows/{draft['id']}/run", {}), 409, "invalid_transition")
    typed = published(api, chain(node("a")), input_schema={
        "type": "object", "required": ["n"], "properties": {"n": {"type": "integer"}}})
    assert_error(api.post(f"{V1}/workflows/{typed['id']}/run", {"input": {"n": "x"}}), 400, "invalid_input")


def test_the_idempotency_key_prevents_duplicate_runs_also_for_16_concurrent_requests(api: Api) -> None:
    register(api)
    live = published(api)
    path = f"{V1}/workflows/{live['id']}/run"
    first = api.post(path, {"input": {"a": 1}}, headers={"X-Idempotency-Key": "k1"})
    again = api.post(path, {"input": {"a": 1}, "idempotency_key": "k1"})
    assert (first.status_code, again.status_code) == (201, 200)
    assert first.json()["id"] == again.json()["id"]
    assert_error(api.post(path, {"input": {"a": 2}}, headers={"X-Idempotency-Key": "k1"}), 409, "conflict")
    assert_error(api.post(path, {"idempotency_key": "a"}, headers={"X-Idempotency-Key": "b"}),
                 422, "invalid_body")

    burst(api, path, {"input": {"n": 16}}, "burst")
    assert ok(api.get(f"{V1}/runs?workflow_id={live['id']}"))["count"] == 2


def test_list_runs_by_workflow_status_and_date_range(api: Api) -> None:
    register(api)
    one, two = published(api), published(api)
    a = start(api, one)
    b = start(api, two)
    c = start(api, one)
    ok(api.post(f"{V1}/runs/{c['id']}/cancel", {"reason": "stop"}))
    ids = lambda page: [r["id"] for r in page["items"]]  # noqa: E731
    assert ids(ok(api.get(f"{V1}/runs"))) == [c["id"], b["id"], a["id"]]
    assert ids(ok(api.get(f"{V1}/runs", params={"workflow_id": one["id"]}))) == [c["id"], a["id"]]
    assert ids(ok(api.get(f"{V1}/runs", params={"status": "cancelled"}))) == [c["id"]]
    assert ids(ok(api.get(f"{V1}/runs", params={"workflow_id": one["id"], "status": "running"}))) == [a["id"]]
    assert ids(ok(api.get(f"{V1}/runs", params={"since": b["created_at"]}))) == [c["id"], b["id"]]
    assert ids(ok(api.get(f"{V1}/runs", params={"until": b["created_at"]}))) == [a["id"]]
    window = {"since": b["created_at"], "until": c["created_at"]}
    assert ids(ok(api.get(f"{V1}/runs", params=window))) == [b["id"]]
    # An until before since is an empty range, not an error (every schema-valid query pages).
    assert ok(api.get(f"{V1}/runs", params={"since": c["created_at"], "until": a["created_at"]}))["items"] == []
    assert_error(api.get(f"{V1}/runs", params={"since": "0.5"}), 400, "invalid_query")
    assert_error(api.get(f"{V1}/runs", params={"since": "yesterday"}), 400, "invalid_query")


def test_get_run_steps_and_events(api: Api) -> None:
    register(api)
    live = published(api, chain(node("a"), node("b")))
    run = start(api, live, input={"who": "me"})
    (job,) = claim(api)
    complete(api, job, result={"said": "hi"})
    got = ok(api.get(f"{V1}/runs/{run['id']}"))
    assert got["id"] == run["id"] and got["context"] == {"a": {"said": "hi"}} and got["status"] == "running"
    steps = ok(api.get(f"{V1}/runs/{run['id']}/steps"))
    assert [(s["step_id"], s["status"]) for s in steps] == [("a", "succeeded"), ("b", "queued")]
    assert steps[0]["output"] == {"said": "hi"} and steps[1]["input"]["steps"] == {"a": {"said": "hi"}}
    events = ok(api.get(f"{V1}/runs/{run['id']}/events"))
    assert [e["seq"] for e in events] == sorted(e["seq"] for e in events)
    kinds = [(e["event_type"], e["step_id"]) for e in events]
    assert kinds[0] == ("run_pending", None) and ("step_succeeded", "a") in kinds
    assert all(e["run_id"] == run["id"] for e in events)
    after = ok(api.get(f"{V1}/runs/{run['id']}/events", params={"after_seq": events[1]["seq"]}))
    assert after == events[2:]
    for path in ("", "/steps", "/events"):
        assert_error(api.get(f"{V1}/runs/{uuid.uuid4()}{path}"), 404, "not_found")


def test_resume_a_paused_run(api: Api) -> None:
    register(api)
    live = published(api, chain(node("gate", "approval"), node("after")))
    run = start(api, live)
    assert ok(api.get(f"{V1}/runs/{run['id']}"))["status"] == "paused"
    resumed = ok(api.post(f"{V1}/runs/{run['id']}/resume", {"step_id": "gate", "data": {"ok": True}}))
    assert resumed["status"] == "running" and resumed["context"]["gate"] == {"ok": True}
    assert [j["workflow_step_id"] for j in claim(api)] == ["after"]
    assert_error(api.post(f"{V1}/runs/{run['id']}/resume", {"step_id": "gate"}), 409, "invalid_transition")
    assert_error(api.post(f"{V1}/runs/{run['id']}/resume", {}), 422, "invalid_body")


def test_cancel_a_running_run(api: Api) -> None:
    register(api)
    run = start(api, published(api, chain(node("a"), node("b"))))
    cancelled = ok(api.post(f"{V1}/runs/{run['id']}/cancel", {"reason": "enough"}))
    assert cancelled["status"] == "cancelled" and cancelled["error"] == "enough"
    steps = ok(api.get(f"{V1}/runs/{run['id']}/steps"))
    assert {s["status"] for s in steps} == {"cancelled"}
    assert claim(api) == []  # the queued step job was cancelled too
    assert_error(api.post(f"{V1}/runs/{run['id']}/cancel"), 409, "invalid_transition")


def test_retry_a_failed_run_from_the_failed_step(api: Api) -> None:
    register(api)
    run = start(api, published(api, chain(node("a"), node("b"))))
    assert_error(api.post(f"{V1}/runs/{run['id']}/retry"), 409, "invalid_transition")
    (a,) = claim(api)
    complete(api, a)
    (b,) = claim(api)
    fail(api, b)
    assert ok(api.get(f"{V1}/runs/{run['id']}"))["status"] == "failed"
    retried = ok(api.post(f"{V1}/runs/{run['id']}/retry"))
    assert retried["status"] == "running"
    assert [j["workflow_step_id"] for j in claim(api)] == ["b"]  # a keeps its output
    steps = {s["step_id"]: s for s in ok(api.get(f"{V1}/runs/{run['id']}/steps"))}
    assert steps["a"]["status"] == "succeeded" and steps["a"]["attempts"] == 1


def sign(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def test_a_signed_webhook_starts_a_run_once_per_delivery(api: Api) -> None:
    register(api)
    live = published(api)
    hook = f"{V1}/triggers/webhook/{live['id']}"
    secret = ok(api.post(f"{hook}/secret"))["secret"]
    body = json.dumps({"order": 7}).encode()
    headers = {"X-Collab-Signature": sign(secret, body), "X-Collab-Delivery": "d-1",
               "Content-Type": "application/json"}
    first = api.http.post(hook, content=body, headers=headers)  # no JWT, no API key
    assert first.status_code == 201, first.text
    run = first.json()
    assert run["trigger_type"] == "webhook" and run["input"] == {"order": 7}
    again = api.http.post(hook, content=body, headers=headers)
    assert again.status_code == 200 and again.json()["id"] == run["id"]
    assert_error(api.http.post(hook, content=body), 401, "missing_signature")
    forged = {**headers, "X-Collab-Signature": sign("whsec_" + "0" * 64, body)}
    assert_error(api.http.post(hook, content=body, headers=forged), 403, "forbidden")
    assert_error(api.http.post(hook, content=b"\xff", headers=headers), 400, "invalid_json")
    assert_error(api.http.post(f"{V1}/triggers/webhook/{uuid.uuid4()}", content=body, headers=headers),
                 404, "not_found")
    assert ok(api.get(f"{V1}/runs?workflow_id={live['id']}"))["count"] == 1


def test_schedules_create_idempotently_update_list_and_delete(api: Api) -> None:
    register(api)
    live = published(api)
    body = {"workflow_id": live["id"], "cron": "*/5 * * * *", "input": {"n": 1}}
    key = {"X-Idempotency-Key": "nightly"}
    made = ok(api.post(f"{V1}/triggers/schedule", body, headers=key), 201)
    assert made["cron"] == "*/5 * * * *" and made["timezone"] == "UTC" and made["enabled"] is True
    assert ok(api.post(f"{V1}/triggers/schedule", body, headers=key))["id"] == made["id"]
    assert_error(api.post(f"{V1}/triggers/schedule", {**body, "cron": "0 * * * *"}, headers=key),
                 409, "conflict")
    changed = ok(api.post(f"{V1}/triggers/schedule", {"schedule_id": made["id"], "enabled": False,
                                                      "cron": "0 3 * * *"}))
    assert changed["id"] == made["id"] and changed["enabled"] is False and changed["cron"] == "0 3 * * *"
    other = ok(api.post(f"{V1}/triggers/schedule", {**body, "cron": "0 0 * * 0"}), 201)
    listed = ok(api.get(f"{V1}/triggers/schedules", params={"workflow_id": live["id"]}))
    assert {s["id"] for s in listed} == {made["id"], other["id"]}
    assert ok(api.delete(f"{V1}/triggers/schedules/{made['id']}"))["id"] == made["id"]
    assert [s["id"] for s in ok(api.get(f"{V1}/triggers/schedules"))] == [other["id"]]
    assert_error(api.post(f"{V1}/triggers/schedule", {**body, "cron": "nope"}), 400, "invalid_input")
    assert_error(api.post(f"{V1}/triggers/schedule", {"cron": "* * * * *"}), 422, "invalid_body")
    assert_error(api.delete(f"{V1}/triggers/schedules/{made['id']}"), 404, "not_found")
