"""Auth on every endpoint but health and docs; a JWT caller acts as that user (RLS and
memberships), an API key as the service role; rate limits, CORS and the access log."""

from __future__ import annotations

import logging
import time
import uuid

import jwt
import pytest

from collab_sdk.http import Settings
from collab_sdk.http.routes import COLLAB_PREFIX, FUNCTIONS_PREFIX, ROUTES
from collab_sdk.local.storage import LocalStorage
from support import add_members
from http_support import API_KEY, SECRET, Api, assert_error, make_runtime, serving


def _example_path(path: str) -> str:
    return path.replace("<job_id>", str(uuid.uuid4()))


PROTECTED = [(r.method, COLLAB_PREFIX + _example_path(r.path)) for r in ROUTES if r.auth and r.path] + [
    (r.method, f"{FUNCTIONS_PREFIX}/{r.function}") for r in ROUTES if r.auth and r.function]


@pytest.mark.parametrize("method, path", PROTECTED)
def test_every_endpoint_but_health_needs_credentials(api: Api, method: str, path: str) -> None:
    response = api.http.request(method, path, json={})
    assert_error(response, 401, "missing_credentials")
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


def test_bad_tokens_are_401(api: Api) -> None:
    user = uuid.uuid4()
    now = int(time.time())
    cases = {
        "invalid_token": "not-a-jwt",
        "invalid_signature": jwt.encode({"sub": str(user), "role": "authenticated", "aud": "authenticated",
                                         "iat": now, "exp": now + 60}, "x" * 40, algorithm="HS256"),
        "token_expired": api.token_for(user, extra={"exp": now - 120}),
        "algorithm_not_allowed": jwt.encode({"sub": str(user), "role": "authenticated", "iat": now,
                                             "exp": now + 60}, None, algorithm="none"),
        "invalid_audience": api.token_for(user, audience="other"),
        "role_not_allowed": api.token_for(user, role="postgres"),
    }
    for code, token in cases.items():
        assert_error(api.get("/api/collab/jobs/recent", token), 401, code)
    assert_error(api.http.get("/api/collab/jobs/recent", headers={"x-api-key": "wrong"}), 401, "invalid_api_key")
    assert_error(api.http.get("/api/collab/jobs/recent", headers={"Authorization": "Basic abc"}), 401, "invalid_token")


def test_api_key_refused_when_jwt_is_required(db_url: str, storage: LocalStorage) -> None:
    with serving(make_runtime(db_url, storage, require_jwt=True)) as http:
        response = http.get("/api/collab/jobs/recent", headers={"x-api-key": API_KEY})
        assert_error(response, 401, "jwt_required")


def test_a_user_never_sees_another_executors_jobs(api: Api) -> None:
    alice = api.user({"exec-a": "worker"})
    bob = api.user({"exec-b": "worker"})
    b_job = api.post("/api/collab/task.assign", {"type": "t", "executorId": "exec-b"}, bob).json()["jobId"]
    api.post("/api/collab/task.assign", {"type": "t", "executorId": "exec-a"}, alice)

    for path in (f"/api/collab/job/{b_job}", f"/api/collab/job/{b_job}/summary",
                 f"/api/collab/events/by-job/{b_job}", f"/api/collab/artifacts/by-job/{b_job}"):
        assert_error(api.get(path, alice), 404, "not_found")
    for method, path in (("POST", f"/api/collab/job/{b_job}/cancel"), ("POST", f"/api/collab/job/{b_job}/retry"),
                         ("DELETE", f"/api/collab/job/{b_job}")):
        assert_error(api.http.request(method, path, headers=api.bearer(alice)), 404, "not_found")
    assert_error(api.post("/api/collab/task.result", {"jobId": b_job, "ok": True}, alice), 404, "not_found")

    seen = api.get("/api/collab/jobs/recent?limit=50", alice).json()["items"]
    assert {j["executorId"] for j in seen} == {"exec-a"}
    assert api.get("/api/collab/jobs/recent?executorId=exec-b", alice).json()["count"] == 0
    assert api.get("/api/collab/jobs/stats", alice).json()["stats"]["total"] == 1
    assert_error(api.post("/api/collab/task.assign", {"type": "t", "executorId": "exec-b"}, alice), 403, "forbidden")
    assert_error(api.post("/api/collab/task.claim", {"executorId": "exec-b", "workerId": "w"}, alice), 403, "forbidden")
    assert api.post("/api/collab/task.claim", {"executorId": "exec-b", "workerId": "w"}, bob).json()["job"]
    assert_error(api.delete("/api/collab/jobs", alice), 403, "forbidden")
    # the service key sees both executors
    assert api.get("/api/collab/jobs/stats").json()["stats"]["total"] == 2


def test_a_client_member_may_not_claim(api: Api) -> None:
    client = api.user({"ex": "client"})
    assert_error(api.post("/api/collab/task.claim", {"executorId": "ex", "workerId": "w"}, client), 403, "forbidden")


def test_rate_limit_is_429_with_retry_after(db_url: str, storage: LocalStorage, api: Api) -> None:
    runtime = make_runtime(db_url, storage, settings=Settings(rate_limit=3, rate_window_seconds=3600))
    with serving(runtime) as http:
        token = api.user({"ex": "client"})
        headers = {"Authorization": f"Bearer {token}"}
        for _ in range(3):
            assert http.get("/api/collab/jobs/stats", headers=headers).status_code == 200
        limited = http.get("/api/collab/jobs/stats", headers=headers)
        assert_error(limited, 429, "rate_limited")
        assert 1 <= int(limited.headers["Retry-After"]) <= 3600
        # per caller: another user and health are not limited by this one's budget
        other = {"Authorization": f"Bearer {api.user({'ex': 'client'})}"}
        assert http.get("/api/collab/jobs/stats", headers=other).status_code == 200
        assert http.get("/api/collab/health").status_code == 200
        # the budget lives in Postgres: a second app (another instance) sees it too
        with serving(make_runtime(db_url, storage, settings=runtime.settings)) as second:
            assert_error(second.get("/api/collab/jobs/stats", headers=headers), 429, "rate_limited")


def test_cors_allows_configured_origins_only(db_url: str, storage: LocalStorage) -> None:
    runtime = make_runtime(db_url, storage, settings=Settings(rate_limit=0, cors_origins=("https://app.example",)))
    with serving(runtime) as http:
        ok = http.get("/api/collab/health", headers={"Origin": "https://app.example"})
        assert ok.headers["Access-Control-Allow-Origin"] == "https://app.example"
        other = http.get("/api/collab/health", headers={"Origin": "https://evil.example"})
        assert "Access-Control-Allow-Origin" not in other.headers
        preflight = http.options("/api/collab/task.assign", headers={"Origin": "https://app.example"})
        assert preflight.status_code == 204
        assert "POST" in preflight.headers["Access-Control-Allow-Methods"]
        assert "Authorization" in preflight.headers["Access-Control-Allow-Headers"]


def test_cors_defaults() -> None:
    assert not Settings.from_env({}).allows_origin("http://localhost:3000")
    dev = Settings.from_env({"COLLAB_ENV": "development"})
    assert dev.allows_origin("http://localhost:3000") and not dev.allows_origin("https://evil.example")
    assert Settings.from_env({"COLLAB_RATE_LIMIT": "5/10"}).rate_limit == 5


def test_access_log_is_json_with_request_id_and_no_secrets(api: Api, caplog: pytest.LogCaptureFixture) -> None:
    token = api.user({"ex": "client"})
    with caplog.at_level(logging.INFO, logger="collab.http"):
        api.get("/api/collab/jobs/stats", headers={"X-Request-Id": "trace-1"})
        api.get("/api/collab/jobs/stats", token)
        api.http.get("/api/collab/jobs/stats", headers={"x-api-key": "wrong-key-value"})
    lines = [r.getMessage() for r in caplog.records if r.name == "collab.http"]
    assert any('"requestId": "trace-1"' in line and '"status": 200' in line for line in lines)
    text = "\n".join(lines)
    for secret in (API_KEY, token, "wrong-key-value", SECRET):
        assert secret not in text
    assert '"error": "invalid_api_key"' in text


def test_docs(api: Api) -> None:
    spec = api.http.get("/docs.json")
    assert spec.status_code == 200 and spec.json()["openapi"].startswith("3.1")
    page = api.http.get("/docs")
    assert page.status_code == 200 and b"/docs/assets/swagger-ui-bundle.js" in page.content
    assert b"https://" not in page.content  # no CDN
    asset = api.http.get("/docs/assets/swagger-ui-bundle.js")
    assert asset.status_code == 200 and len(asset.content) > 100_000
    assert_error(api.http.get("/docs/assets/..%2fcore.py"), 404, "not_found")



def test_es256_and_rs256_tokens_from_a_jwks_act_as_the_user(db_url: str, storage: LocalStorage,
                                                            api: Api) -> None:
    from cryptography.hazmat.primitives.asymmetric import ec, rsa
    from jwt.algorithms import ECAlgorithm, RSAAlgorithm

    ec_key = ec.generate_private_key(ec.SECP256R1())
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    jwks = {"keys": [ECAlgorithm.to_jwk(ec_key.public_key(), as_dict=True) | {"kid": "ec", "alg": "ES256"},
                     RSAAlgorithm.to_jwk(rsa_key.public_key(), as_dict=True) | {"kid": "rsa", "alg": "RS256"}]}
    runtime = make_runtime(db_url, storage, mode="jwks", jwt_secret=None, jwks=jwks)
    with serving(runtime) as http:
        member, stranger = uuid.uuid4(), uuid.uuid4()
        add_members(api.owner, member, {"ex": "client"})
        job_id = api.post("/api/collab/task.assign", {"type": "t", "executorId": "ex"}).json()["jobId"]
        now = int(time.time())
        for kid, key, alg in (("ec", ec_key, "ES256"), ("rsa", rsa_key, "RS256")):
            def token(sub: uuid.UUID) -> dict[str, str]:
                claims = {"sub": str(sub), "role": "authenticated", "aud": "authenticated",
                          "iat": now, "exp": now + 60}
                return {"Authorization": "Bearer " + jwt.encode(claims, key, algorithm=alg,
                                                                headers={"kid": kid})}
            assert http.get(f"/api/collab/job/{job_id}", headers=token(member)).status_code == 200
            assert_error(http.get(f"/api/collab/job/{job_id}", headers=token(stranger)), 404, "not_found")
        hs = {"Authorization": f"Bearer {api.token_for(member)}"}  # an HS256 token in jwks mode
        assert_error(http.get(f"/api/collab/job/{job_id}", headers=hs), 401, "algorithm_not_allowed")
