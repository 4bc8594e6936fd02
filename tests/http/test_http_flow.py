"""The seeds' curl sequence (collab-api-flow.md §7) through the real app and database:
health → assign → claim → result fail × max_attempts → DLQ → dlq-list → dlq-retry →
summary → events, with a locally minted JWT; and the happy path with artifacts."""

from __future__ import annotations

import uuid

from http_support import Api
from support import make_due

EXECUTOR = "verify-demo"


def test_the_curl_sequence_works_as_written(api: Api) -> None:
    token = api.user({EXECUTOR: "worker"})
    health = api.http.get("/api/collab/health")
    assert health.status_code == 200
    assert set(health.json()) == {"ok", "timestamp"} and health.json()["ok"] is True

    assigned = api.post("/api/collab/task.assign", {"type": "browser.run", "executorId": EXECUTOR,
                                                    "payload": {"url": "https://supabase.com"}}, token)
    assert assigned.status_code == 200, assigned.json()
    assert set(assigned.json()) == {"jobId", "queued"} and assigned.json()["queued"] is True
    job_id = assigned.json()["jobId"]

    for attempt in range(1, 4):  # max_attempts defaults to 3
        claimed = api.post("/api/collab/task.claim", {"executorId": EXECUTOR, "workerId": "worker-01",
                                                      "leaseSeconds": 60, "typePrefix": "browser."}, token)
        assert claimed.status_code == 200, claimed.json()
        assert claimed.json()["job"]["id"] == job_id
        assert claimed.json()["job"]["attempts"] == attempt
        assert claimed.json()["job"]["executorId"] == EXECUTOR  # camelCase on the wire
        result = api.post("/api/collab/task.result", {"jobId": job_id, "type": "browser.run", "ok": False,
                                                      "error": "simulated-fail"}, token)
        assert result.status_code == 200, result.json()
        assert result.json() == {"ok": True}
        make_due(api.owner, uuid.UUID(job_id))

    empty = api.post("/api/collab/task.claim", {"executorId": EXECUTOR, "workerId": "worker-01"}, token)
    assert empty.json() == {"job": None}

    dlq = api.get("/functions/v1/dlq-list?limit=10", token)
    assert dlq.status_code == 200, dlq.json()
    assert set(dlq.json()) == {"items", "count", "nextCursor"}
    assert dlq.json()["count"] == 1 and dlq.json()["nextCursor"] is None
    letter = dlq.json()["items"][0]
    assert letter["jobId"] == job_id and letter["reason"] == "max_attempts"

    retried = api.post("/functions/v1/dlq-retry", {"dlqId": letter["id"]}, token)
    assert retried.status_code == 200, retried.json()
    assert retried.json()["queued"] is True and retried.json()["jobId"] != job_id
    again = api.post("/functions/v1/dlq-retry", {"dlqId": letter["id"]}, token)
    assert again.json() == {"jobId": retried.json()["jobId"], "queued": False}

    summary = api.get(f"/api/collab/job/{job_id}/summary", token)
    assert summary.status_code == 200
    assert set(summary.json()) == {"job", "artifacts", "events"}
    assert summary.json()["job"]["status"] == "failed"
    events = api.get(f"/api/collab/events/by-job/{job_id}", token)
    assert events.status_code == 200
    kinds = [e["eventType"] for e in events.json()["items"]]
    assert kinds[0] == "queued" and kinds.count("claimed") == 3
    assert kinds[-2:] == ["failed", "retried"] and events.json()["count"] == len(kinds)


def test_success_with_artifacts_detail_and_listings(api: Api) -> None:
    token = api.user({"ex": "worker"})
    job_id = api.post("/api/collab/task.assign", {"type": "shot", "executorId": "ex"}, token).json()["jobId"]
    api.post("/api/collab/task.claim", {"executorId": "ex", "workerId": "w1"}, token)
    artifact = {"name": "a.png", "path": f"ex/{job_id}/a.png", "mime": "image/png", "size": 3}
    done = api.post("/api/collab/task.result", {
        "jobId": job_id, "type": "shot", "ok": True, "result": {"pages": 1}, "artifact": artifact,
        "artifacts": [{"name": "b.txt", "path": f"ex/{job_id}/b.txt"}]}, token)
    assert done.status_code == 200 and done.json() == {"ok": True}

    job = api.get(f"/api/collab/job/{job_id}", token).json()["job"]
    assert job["status"] == "succeeded" and job["result"] == {"pages": 1}
    arts = api.get(f"/api/collab/artifacts/by-job/{job_id}", token).json()
    assert arts["count"] == 2 and sorted(a["name"] for a in arts["items"]) == ["a.png", "b.txt"]

    recent = api.get("/api/collab/jobs/recent?limit=5&executorId=ex", token).json()
    assert recent["count"] == 1 and recent["items"][0]["id"] == job_id and recent["nextCursor"] is None
    assert api.get("/functions/v1/jobs-recent?limit=5", token).json()["items"][0]["id"] == job_id
    stats = api.get("/api/collab/jobs/stats?executorId=ex", token).json()["stats"]
    assert stats["succeeded"] == 1 and stats["completed"] == 1 and stats["total"] == 1
    metrics = api.get("/api/collab/metrics/overview", token).json()
    assert metrics["byStatus"]["succeeded"] == 1 and "queueWaitMs" in metrics
    assert api.get("/functions/v1/metrics-overview", token).json()["byStatus"]["total"] == 1


def test_heartbeat_and_active_workers(api: Api) -> None:
    token = api.user({"ex": "worker"})
    beat = api.post("/api/collab/workers/heartbeat", {"workerId": "w1", "executorId": "ex",
                                                      "status": "busy", "capacity": 4, "running": 1}, token)
    assert beat.status_code == 200, beat.json()
    assert beat.json()["ok"] is True and beat.json()["worker"]["workerId"] == "w1"
    for path in ("/api/collab/workers/active", "/functions/v1/workers-active"):
        active = api.get(path, token).json()
        assert active["count"] == 1 and active["items"][0]["status"] == "busy"
    other = api.post("/api/collab/workers/heartbeat", {"workerId": "w1", "executorId": "ex2"})
    assert other.status_code == 409 and other.json()["error"]["code"] == "conflict"


def test_management_retry_cancel_delete_purge(api: Api) -> None:
    token = api.user({"ex": "admin"})
    first = api.post("/api/collab/task.assign", {"type": "t", "executorId": "ex"}, token).json()["jobId"]
    cancelled = api.post(f"/api/collab/job/{first}/cancel", {"reason": "no longer needed"}, token)
    assert cancelled.status_code == 200 and cancelled.json()["success"] is True
    assert cancelled.json()["job"]["status"] == "cancelled"
    again = api.post(f"/api/collab/job/{first}/cancel", None, token)
    assert again.status_code == 409 and again.json()["error"]["code"] == "invalid_transition"

    retried = api.post(f"/api/collab/job/{first}/retry", None, token)
    assert retried.status_code == 200 and retried.json()["job"]["status"] == "queued"
    assert retried.json()["job"]["attempts"] == 0

    api.post("/api/collab/task.claim", {"executorId": "ex", "workerId": "w1"}, token)
    busy = api.delete(f"/api/collab/job/{first}", token)
    assert busy.status_code == 409
    api.post("/api/collab/task.result", {"jobId": first, "ok": True}, token)
    purged = api.delete("/api/collab/jobs?executorId=ex&statuses=succeeded", token)
    assert purged.status_code == 200 and purged.json() == {"success": True, "purged": 1}
    assert api.get(f"/api/collab/job/{first}", token).status_code == 404

    second = api.post("/api/collab/task.assign", {"type": "t", "executorId": "ex"}, token).json()["jobId"]
    deleted = api.delete(f"/api/collab/job/{second}", token)
    assert deleted.status_code == 200 and deleted.json() == {"success": True, "deleted": second}
