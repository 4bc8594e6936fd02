"""`collab serve` as a real process on a free port: the seeds' curl sequence end to end
with a token from `collab token`, Swagger UI, a signed download, and a clean SIGTERM."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import uuid
from pathlib import Path

import httpx

from http_support import Server
from support import Caller, add_members, make_due


def test_the_curl_sequence_against_collab_serve(server: Server,
                                                owner: Caller, tmp_path: Path) -> None:
    base, proc, env = server
    user = uuid.uuid4()
    add_members(owner, user, {"verify-demo": "worker"})
    token = subprocess.run([sys.executable, "-m", "collab_sdk.cli.main", "token", "--sub", str(user),
                            "--executor", "verify-demo=worker"], env=env, capture_output=True,
                           text=True, check=True).stdout.strip()
    h = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    with httpx.Client(base_url=base, headers=h, timeout=10) as http:
        assert http.get("/api/collab/health").json()["ok"] is True
        job_id = http.post("/api/collab/task.assign", content=json.dumps(
            {"type": "browser.run", "executorId": "verify-demo", "payload": {"url": "https://supabase.com"}})
        ).json()["jobId"]
        for _ in range(3):
            claimed = http.post("/api/collab/task.claim", content=json.dumps(
                {"executorId": "verify-demo", "workerId": "worker-01", "leaseSeconds": 60,
                 "typePrefix": "browser."})).json()
            assert claimed["job"]["id"] == job_id
            failed = http.post("/api/collab/task.result", content=json.dumps(
                {"jobId": job_id, "type": "browser.run", "ok": False, "error": "simulated-fail"}))
            assert failed.json() == {"ok": True}
            make_due(owner, uuid.UUID(job_id))
        dlq = http.get("/functions/v1/dlq-list", params={"limit": 10}).json()
        assert dlq["count"] == 1
        retried = http.post("/functions/v1/dlq-retry", content=json.dumps({"dlqId": dlq["items"][0]["id"]}))
        assert retried.json()["queued"] is True
        summary = http.get(f"/api/collab/job/{job_id}/summary").json()
        assert summary["job"]["status"] == "failed"
        events = http.get(f"/api/collab/events/by-job/{job_id}").json()
        assert [e["eventType"] for e in events["items"]][-2:] == ["failed", "retried"]

        # a signed download served by this process (embedded storage)
        new_job = retried.json()["jobId"]
        http.post("/api/collab/task.claim", content=json.dumps({"executorId": "verify-demo", "workerId": "w2"}))
        path = f"verify-demo/{new_job}/out.txt"
        object_file = tmp_path / "storage" / "artifacts" / path
        object_file.parent.mkdir(parents=True)
        object_file.write_bytes(b"bytes")
        http.post("/api/collab/task.result", content=json.dumps(
            {"jobId": new_job, "ok": True, "artifact": {"name": "out.txt", "path": path}}))
        signed = http.get("/functions/v1/sign-artifact", params={"path": path}).json()["signedUrl"]
        assert signed.startswith(base)
        assert httpx.get(signed).content == b"bytes"

        assert "swagger-ui-bundle.js" in http.get("/docs").text
        assert http.get("/docs.json").json()["openapi"] == "3.1.0"
        refused = httpx.get(f"{base}/api/collab/jobs/recent", headers={"x-api-key": "k"})
        assert refused.status_code == 401 and refused.json()["error"]["code"] == "jwt_required"

    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=15) == 0
    lines = [json.loads(line) for line in server.log.read_text().splitlines()
             if line.startswith("{")]
    requests = [line for line in lines if line.get("event") == "http_request"]
    assert requests and all(r["requestId"] for r in requests)
    assert token not in server.log.read_text()
