"""The seed Worker Queue API (``/api/jobs``, worker-queue-api.md) against a real database:
every endpoint, its shapes, filters, ordering, defaults, 404s and status words."""

from __future__ import annotations

import re
import uuid
from typing import Any

import pytest

from http_support import Api, assert_error
from support import Caller

SEED_JOB_FIELDS = {"id", "type", "status", "payload", "priority", "attempts", "maxAttempts", "lastError",
                   "lockedBy", "lockedAt", "createdAt", "claimedAt", "completedAt", "idempotencyKey"}


@pytest.fixture(autouse=True)
def queue_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLLAB_QUEUE_EXECUTOR", "q")
    monkeypatch.delenv("COLLAB_QUEUE_JOB_TYPE", raising=False)


def enqueue(api: Api, body: dict[str, Any], token: str | None = None) -> dict[str, Any]:
    response = api.post("/api/jobs/enqueue", body, token)
    assert response.status_code == 200, response.text
    answer = response.json()
    assert answer["success"] is True
    return dict(answer["job"])


def run_one(owner: Caller, *, ok: bool, executor: str = "q") -> dict[str, Any]:
    job = owner.one("claim_one_job_v3", executor_id=executor, worker_id="w-1")
    assert job is not None
    if ok:
        owner.rpc("complete_job_v1", job_id=job["id"], worker_id="w-1", result={"done": True})
    else:
        owner.rpc("fail_job_v1", job_id=job["id"], worker_id="w-1", error="boom", retryable=False)
    return job


def test_enqueue_takes_the_seed_body_into_the_default_type(api: Api) -> None:
    job = enqueue(api, {"prompt": "Add a dark mode toggle to the navbar.", "branch": "feat/dark-mode"})
    assert job["status"] == "pending" and job["type"] == "claude_extraction"
    assert uuid.UUID(job["id"]) and job["createdAt"].endswith("Z")
    assert re.fullmatch(r"add-a-dark-mode-toggle-to-\d{13}", job["name"]), job["name"]
    assert job["payload"] == {"type": "claude_extraction", "name": job["name"],
                              "prompt": "Add a dark mode toggle to the navbar.", "branch": "feat/dark-mode"}
    assert re.fullmatch(r"enqueue-[0-9a-f]{8}-\d{13}", job["idempotencyKey"])
    assert SEED_JOB_FIELDS <= set(job) and job["queued"] is True
    assert job["executorId"] == "q"


def test_enqueue_keeps_given_fields_and_is_idempotent(api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLLAB_QUEUE_JOB_TYPE", "extract.v2")
    body = {"prompt": "p", "name": "my-job", "originUrl": "https://github.com/a/b", "idempotencyKey": "k-1"}
    first = enqueue(api, body)
    again = enqueue(api, body)
    assert first["type"] == "extract.v2" and first["name"] == "my-job"
    assert first["payload"]["originUrl"] == "https://github.com/a/b"
    assert again["id"] == first["id"] and again["queued"] is False


def test_enqueue_takes_a_generic_job(api: Api) -> None:
    job = enqueue(api, {"type": "thumbnail", "payload": {"image": "a.png"}, "priority": 5,
                        "executorId": "other"})
    assert job["type"] == "thumbnail" and job["payload"] == {"image": "a.png"}
    assert job["priority"] == 5 and job["executorId"] == "other" and job["name"] is None


@pytest.mark.parametrize("body, code", [({}, "invalid_body"), ({"prompt": ""}, "invalid_body"),
                                        ({"type": "bad type"}, "invalid_body"),
                                        ({"prompt": "p", "priority": "1"}, "invalid_body")])
def test_enqueue_refuses_bad_bodies(api: Api, body: dict[str, Any], code: str) -> None:
    assert_error(api.post("/api/jobs/enqueue", body), 422, code)


def test_list_orders_by_priority_then_creation_and_pages(api: Api) -> None:
    low = enqueue(api, {"type": "t", "payload": {"n": 1}})
    high = enqueue(api, {"type": "t", "payload": {"n": 2}, "priority": 10})
    low2 = enqueue(api, {"type": "t", "payload": {"n": 3}})
    other = enqueue(api, {"type": "u", "payload": {"n": 4}})
    answer = api.get("/api/jobs").json()
    assert [j["id"] for j in answer["jobs"]] == [high["id"], low["id"], low2["id"], other["id"]]
    assert answer["count"] == 4 and set(answer) == {"jobs", "count", "nextCursor"}
    assert answer["nextCursor"] is None  # not a full page
    assert SEED_JOB_FIELDS <= set(answer["jobs"][0])
    page = api.get("/api/jobs", params={"limit": 2, "offset": 1}).json()
    assert [j["id"] for j in page["jobs"]] == [low["id"], low2["id"]] and page["count"] == 2
    assert [j["id"] for j in api.get("/api/jobs", params={"type": "u"}).json()["jobs"]] == [other["id"]]


def test_list_limit_defaults_to_50(api: Api, owner: Caller) -> None:
    owner.rpc("assign_jobs_v1", jobs=[{"type": "t", "executor_id": "q"} for _ in range(55)])
    assert api.get("/api/jobs").json()["count"] == 50
    assert api.get("/api/jobs", params={"limit": 100}).json()["count"] == 55


def test_cursor_pages_follow_the_list_order(api: Api, owner: Caller) -> None:
    owner.rpc("assign_jobs_v1", jobs=[{"type": "t", "executor_id": "q", "priority": i % 3} for i in range(23)])
    everything = [j["id"] for j in api.get("/api/jobs", params={"limit": 100}).json()["jobs"]]
    seen: list[str] = []
    page = api.get("/api/jobs", params={"limit": 5}).json()
    while True:
        seen += [j["id"] for j in page["jobs"]]
        if page["nextCursor"] is None:
            break
        page = api.get("/api/jobs", params={"limit": 5, "cursor": page["nextCursor"]}).json()
    assert seen == everything and len(seen) == 23
    # An offset page's cursor continues after it, as a cursor page's does.
    offset_page = api.get("/api/jobs", params={"limit": 5, "offset": 5}).json()
    after = api.get("/api/jobs", params={"limit": 5, "cursor": offset_page["nextCursor"]}).json()
    assert [j["id"] for j in after["jobs"]] == everything[10:15]
    assert_error(api.get("/api/jobs", params={"cursor": "nonsense"}), 400, "invalid_query")
    # The cursor names the page: an offset beside it is not used.
    both = api.get("/api/jobs", params={"limit": 5, "cursor": offset_page["nextCursor"], "offset": 5}).json()
    assert [j["id"] for j in both["jobs"]] == everything[10:15]


def test_bulk_actions_on_a_selection_and_on_a_filter(api: Api, owner: Caller) -> None:
    jobs = [enqueue(api, {"type": "t" if i < 4 else "u"}) for i in range(6)]
    run_one(owner, ok=False)
    run_one(owner, ok=True)
    claimed = owner.one("claim_one_job_v3", executor_id="q", worker_id="w-1")
    assert claimed is not None
    assert api.get("/api/jobs/stats", params={"type": "u"}).json()["stats"]["total"] == 2
    answer = api.post("/api/jobs/bulk", {"action": "retry"}).json()  # everything: 2 retried
    assert answer == {"success": True, "action": "retry", "matched": 6, "done": 2, "refused": 4,
                      "refusedByStatus": {"pending": 3, "claimed": 1}, "notFound": 0}
    answer = api.post("/api/jobs/bulk", {"action": "cancel", "status": "pending", "type": "u",
                                         "reason": "not needed"}).json()
    assert (answer["done"], answer["refused"]) == (2, 0)
    answer = api.post("/api/jobs/bulk", {"action": "delete", "ids": [jobs[4]["id"], str(claimed["id"]),
                                                                     str(uuid.uuid4())]}).json()
    assert (answer["done"], answer["refusedByStatus"], answer["notFound"]) == (1, {"claimed": 1}, 1)
    stats = api.get("/api/jobs/stats").json()["stats"]
    assert (stats["total"], stats["cancelled"], stats["claimed"]) == (5, 1, 1)
    assert_error(api.post("/api/jobs/bulk", {"action": "explode"}), 422, "invalid_body")
    assert_error(api.post("/api/jobs/bulk", {"action": "retry", "idz": []}), 422, "invalid_body")
    stranger = api.user({"elsewhere": "admin"})
    assert_error(api.post("/api/jobs/bulk", {"action": "delete"}, token=stranger), 403, "forbidden")
    assert api.get("/api/jobs/stats").json()["stats"]["total"] == 5


def test_throughput_per_minute(api: Api, owner: Caller) -> None:
    for _ in range(3):
        enqueue(api, {"type": "t"})
    run_one(owner, ok=True)
    run_one(owner, ok=True)
    run_one(owner, ok=False)
    answer = api.get("/api/collab/metrics/throughput", params={"executorId": "q", "minutes": 10}).json()
    assert answer["count"] == 10 and set(answer["items"][0]) == {"minute", "succeeded", "failed"}
    assert (sum(m["succeeded"] for m in answer["items"]), sum(m["failed"] for m in answer["items"])) == (2, 1)
    assert_error(api.get("/api/collab/metrics/throughput", params={"minutes": 500}), 400, "invalid_query")


def test_status_words_filters_and_stats(api: Api, owner: Caller) -> None:
    for _ in range(5):
        enqueue(api, {"type": "t"})
    done = run_one(owner, ok=True)
    dead = run_one(owner, ok=False)
    claimed = owner.one("claim_one_job_v3", executor_id="q", worker_id="w-2")
    assert claimed is not None
    cancelled = enqueue(api, {"type": "t", "priority": -1})
    owner.rpc("cancel_job_v1", job_id=cancelled["id"], reason="not needed")

    def ids(status: str) -> list[str]:
        answer = api.get("/api/jobs", params={"status": status}).json()
        assert all(j["status"] == ("failed" if status == "cancelled" else status) for j in answer["jobs"])
        return [j["id"] for j in answer["jobs"]]

    assert ids("completed") == [str(done["id"])]
    assert sorted(ids("failed")) == sorted([str(dead["id"]), cancelled["id"]])
    assert ids("cancelled") == [cancelled["id"]]
    assert ids("claimed") == [str(claimed["id"])]
    assert len(ids("pending")) == 2
    stats = api.get("/api/jobs/stats").json()
    assert stats == {"stats": {"pending": 2, "claimed": 1, "completed": 1, "failed": 2, "total": 6,
                               "cancelled": 1}}
    active = api.get(f"/api/jobs/{claimed['id']}").json()["job"]
    assert active["status"] == "claimed" and active["lockedBy"] == "w-2"
    assert active["lockedAt"] and active["claimedAt"] and active["attempts"] == 1
    failed = api.get(f"/api/jobs/{dead['id']}").json()["job"]
    assert failed["lastError"] == "boom" and failed["completedAt"] and failed["lockedBy"] is None
    gone = api.get(f"/api/jobs/{cancelled['id']}").json()["job"]
    assert gone["cancelled"] is True and gone["status"] == "failed"
    assert_error(api.get("/api/jobs", params={"status": "queued"}), 400, "invalid_query")


def test_get_is_404_when_missing(api: Api) -> None:
    assert_error(api.get(f"/api/jobs/{uuid.uuid4()}"), 404, "not_found")
    assert_error(api.get("/api/jobs/not-a-uuid"), 404, "not_found")
    elsewhere = enqueue(api, {"type": "t", "executorId": "other"})
    assert_error(api.get(f"/api/jobs/{elsewhere['id']}"), 404, "not_found")
    assert api.get(f"/api/jobs/{elsewhere['id']}", params={"executorId": "other"}).status_code == 200


def test_retry_resets_failed_and_completed_jobs(api: Api, owner: Caller) -> None:
    enqueue(api, {"type": "t"})
    enqueue(api, {"type": "t"})
    done, dead = run_one(owner, ok=True), run_one(owner, ok=False)
    for job in (done, dead):
        answer = api.post(f"/api/jobs/{job['id']}/retry").json()
        assert answer["success"] is True
        assert answer["job"]["status"] == "pending" and answer["job"]["attempts"] == 0
        assert answer["job"]["id"] == str(job["id"])
    assert api.get("/api/jobs/stats").json()["stats"]["pending"] == 2
    assert_error(api.post(f"/api/jobs/{done['id']}/retry"), 409, "invalid_transition")
    assert_error(api.post(f"/api/jobs/{uuid.uuid4()}/retry"), 404, "not_found")


def test_delete_one_and_purge_completed(api: Api, owner: Caller) -> None:
    for _ in range(4):
        enqueue(api, {"type": "t"})
    run_one(owner, ok=True)
    run_one(owner, ok=True)
    running = owner.one("claim_one_job_v3", executor_id="q", worker_id="w-3")
    assert running is not None
    pending = api.get("/api/jobs", params={"status": "pending"}).json()["jobs"][0]
    assert api.delete(f"/api/jobs/{pending['id']}").json() == {"success": True, "deleted": pending["id"]}
    assert_error(api.get(f"/api/jobs/{pending['id']}"), 404, "not_found")
    assert_error(api.delete(f"/api/jobs/{pending['id']}"), 404, "not_found")
    assert_error(api.delete(f"/api/jobs/{running['id']}"), 409, "invalid_transition")
    assert api.delete("/api/jobs").json() == {"success": True, "purged": 2}
    assert api.delete("/api/jobs").json() == {"success": True, "purged": 0}
    assert api.get("/api/jobs/stats").json()["stats"]["total"] == 1


def test_members_see_only_their_queue(api: Api) -> None:
    member = api.user({"q": "admin"})
    stranger = api.user({"elsewhere": "admin"})
    job = enqueue(api, {"type": "t"}, token=member)
    assert api.get("/api/jobs", token=member).json()["count"] == 1
    assert api.get("/api/jobs", token=stranger).json()["count"] == 0
    assert api.get("/api/jobs/stats", token=stranger).json()["stats"]["total"] == 0
    assert_error(api.get(f"/api/jobs/{job['id']}", token=stranger), 404, "not_found")
    assert_error(api.delete(f"/api/jobs/{job['id']}", token=stranger), 404, "not_found")
    assert_error(api.delete("/api/jobs", token=stranger), 403, "forbidden")
    assert_error(api.post("/api/jobs/enqueue", {"type": "t"}, token=stranger), 403, "forbidden")
    assert_error(api.http.get("/api/jobs"), 401, "missing_credentials")


def test_wrong_methods_answer_405(api: Api) -> None:
    assert_error(api.http.put("/api/jobs", headers=api.as_service()), 405, "method_not_allowed")
    assert_error(api.get("/api/jobs/enqueue"), 405, "method_not_allowed")
