"""sign-artifact and the embedded signed downloads; the seeds' paging loop."""

from __future__ import annotations

import time
import uuid
from urllib.parse import urlsplit

import jwt

from http_support import Api, assert_error


def _job_with_artifact(api: Api, token: str, executor: str = "ex") -> tuple[str, str]:
    """A succeeded job of ``executor`` with one stored artifact; (job id, object path)."""
    job_id = api.post("/api/collab/task.assign", {"type": "t", "executorId": executor}, token).json()["jobId"]
    api.post("/api/collab/task.claim", {"executorId": executor, "workerId": "w1"}, token)
    api.run(api.runtime.client.upload_artifact, job_id, "report.txt", b"hello artifact", worker_id="w1")
    api.post("/api/collab/task.result", {"jobId": job_id, "ok": True}, token)
    return job_id, f"{executor}/{job_id}/report.txt"


def _download(api: Api, url: str) -> object:
    parts = urlsplit(url)
    return api.http.get(f"{parts.path}?{parts.query}")


def test_sign_and_download(api: Api) -> None:
    token = api.user({"ex": "worker"})
    _, path = _job_with_artifact(api, token)
    for base in ("/functions/v1/sign-artifact", "/api/collab/artifacts/sign"):
        signed = api.get(f"{base}?bucket=artifacts&path={path}&expires=3600", token)
        assert signed.status_code == 200, signed.json()
        assert signed.json()["expiresIn"] == 3600 and signed.json()["path"] == path
        download = _download(api, signed.json()["signedUrl"])
        assert download.status_code == 200 and download.content == b"hello artifact"  # type: ignore[attr-defined]


def test_sign_refuses_bad_paths_buckets_and_others_jobs(api: Api) -> None:
    alice = api.user({"ex": "worker"})
    bob = api.user({"other": "worker"})
    job_id, path = _job_with_artifact(api, alice)
    sign = "/functions/v1/sign-artifact"
    for bad in ("../etc/passwd", f"ex/{job_id}/../../x", "/abs/path", "ex\\x", f"ex/{job_id}//x",
                f"ex/{job_id}/./report.txt"):
        # The document's pattern refuses them before the handler's own checks do.
        assert_error(api.get(sign, alice, params={"path": bad}), 400, "invalid_query")
    assert_error(api.get(sign, alice, params={"path": path, "bucket": "secrets"}), 403, "bucket_not_allowed")
    assert_error(api.get(sign, alice, params={"path": path, "expires": "5"}), 400, "invalid_query")
    assert_error(api.get(sign, alice, params={"path": path, "expires": "999999"}), 400, "invalid_query")
    assert_error(api.get(sign, bob, params={"path": path}), 404, "not_found")
    assert_error(api.get(sign, alice, params={"path": f"ex/{job_id}/missing.txt"}), 404, "not_found")
    assert_error(api.get(sign, alice, params={"path": f"ex/{uuid.uuid4()}/report.txt"}), 404, "not_found")
    assert_error(api.get(sign, alice, params={"path": "ex/not-a-job/report.txt"}), 404, "not_found")


def test_signed_urls_expire_and_cannot_be_tampered_with(api: Api) -> None:
    token = api.user({"ex": "worker"})
    job_id, path = _job_with_artifact(api, token)
    base = f"/storage/v1/object/sign/artifacts/{path}"
    expired = jwt.encode({"url": f"artifacts/{path}", "exp": int(time.time()) - 1}, api.storage.secret)
    assert_error(api.http.get(f"{base}?token={expired}"), 403, "invalid_signature")
    forged = jwt.encode({"url": f"artifacts/{path}", "exp": int(time.time()) + 60}, "x" * 40)
    assert_error(api.http.get(f"{base}?token={forged}"), 403, "invalid_signature")
    signed = api.get("/functions/v1/sign-artifact", token, params={"path": path}).json()["signedUrl"]
    token_part = urlsplit(signed).query.split("=", 1)[1]
    other = f"/storage/v1/object/sign/artifacts/ex/{job_id}/other.txt?token={token_part}"
    assert_error(api.http.get(other), 403, "invalid_signature")
    assert_error(api.http.get(f"{base}?token={token_part[:-2]}xx"), 403, "invalid_signature")
    # httpx removes literal dot segments; encoded ones reach the server as a client may send them
    assert_error(api.http.get(f"/storage/v1/object/sign/artifacts/ex/%2e%2e/%2e%2e/etc/passwd?token={token_part}"),
           400, "invalid_path")
    assert_error(api.http.get(f"{base}"), 403, "invalid_signature")


def test_the_seeds_paging_loop_sees_each_job_once(api: Api) -> None:
    token = api.user({"verify-demo": "client"})
    made = {api.post("/api/collab/task.assign", {"type": "t", "executorId": "verify-demo",
                                                 "payload": {"i": i}}, token).json()["jobId"] for i in range(23)}
    base = "/api/collab/jobs/recent?limit=5&executorId=verify-demo"
    page = api.get(base, token).json()
    seen = [job["id"] for job in page["items"]]
    cursor = page["nextCursor"]
    while cursor is not None:
        page = api.get(f"{base}&cursor={cursor}", token).json()  # as the seed's bash loop does
        seen += [job["id"] for job in page["items"]]
        cursor = page["nextCursor"]
    assert len(seen) == 23 and set(seen) == made
