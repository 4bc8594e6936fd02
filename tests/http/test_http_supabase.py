"""The HTTP layer over ``SupabaseTransport`` acts as its caller: a user's bearer token is
forwarded to PostgREST (no database URL needed), so RLS decides what the user sees; an
API key or a ``service_role`` token is the trusted client (the secret key alone).

PostgREST is the stand-in (``support.postgrest_standin``) served on a real local port
(``PostgrestServer``), over the test's own database: first under Starlette's test
client in this process, then behind ``collab serve`` as a real process (the token shapes
Supabase's own stack accepts: the legacy ``service_role`` key, a token without ``iat``;
an expired one refused before anything reaches PostgREST)."""

from __future__ import annotations

import dataclasses
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest

from collab_sdk.auth.tokens import AuthConfig, Authenticator, mint_token
from collab_sdk.client.async_client import AsyncCollabClient
from collab_sdk.http import Runtime, Settings
from collab_sdk.transports.supabase.rpc import SupabaseTransport
from http_support import API_KEY, assert_error, serving, start_server
from support import Caller, add_members
from support.postgrest_standin import JWT_SECRET, SECRET_KEY, PostgrestServer

JOB = "/api/collab/job/{}"


@pytest.fixture
def postgrest(db_url: str) -> Iterator[PostgrestServer]:
    """Supabase's REST API (gateway + PostgREST) over this test's database, on a port."""
    with PostgrestServer(db_url) as server:
        yield server


def token_for(user: uuid.UUID, **kw: Any) -> str:
    """A Supabase-shaped access token that both collab and the stand-in accept."""
    return mint_token(JWT_SECRET, sub=str(user), **kw)


def forwarded(postgrest: PostgrestServer, fn: str) -> list[dict[str, Any]]:
    """What PostgREST was sent for each call of ``fn``: the apikey and the bearer's claims
    (None: no Authorization header)."""
    seen = []
    for request in postgrest.api.rpc_requests(fn):
        bearer = request.headers.get("authorization")
        claims = (jwt.decode(bearer.removeprefix("Bearer "), JWT_SECRET, algorithms=["HS256"],
                             options={"verify_aud": False}) if bearer else None)
        seen.append({"apikey": request.headers.get("apikey"), "claims": claims})
    return seen


@pytest.fixture
def members(owner: Caller) -> tuple[uuid.UUID, uuid.UUID]:
    """Alice, a worker member of exec-a, and Bob, of exec-b."""
    alice, bob = uuid.uuid4(), uuid.uuid4()
    add_members(owner, alice, {"exec-a": "worker"})
    add_members(owner, bob, {"exec-b": "worker"})
    return alice, bob


def test_a_user_token_is_forwarded_and_rls_applies(postgrest: PostgrestServer,
                                                   members: tuple[uuid.UUID, uuid.UUID]) -> None:
    alice, bob = members
    client = AsyncCollabClient(SupabaseTransport(postgrest.url, SECRET_KEY))
    runtime = Runtime(client, Authenticator(AuthConfig(mode="local", jwt_secret=JWT_SECRET, api_key=API_KEY)),
                      Settings(rate_limit=0))
    a_token, b_token = token_for(alice), token_for(bob)
    with serving(runtime) as http:
        def call(method: str, path: str, token: str | None, body: Any = None) -> httpx.Response:
            headers = {"Authorization": f"Bearer {token}"} if token else {"x-api-key": API_KEY}
            return http.request(method, path, headers=headers, json=body)

        a_job = call("POST", "/api/collab/task.assign", a_token, {"type": "t", "executorId": "exec-a"})
        assert a_job.status_code == 200, a_job.text  # a JWT caller needs no database URL
        b_job = call("POST", "/api/collab/task.assign", b_token, {"type": "t", "executorId": "exec-b"}).json()
        [as_alice, as_bob] = forwarded(postgrest, "assign_job_v1")
        assert as_alice["apikey"] == SECRET_KEY and as_alice["claims"]["sub"] == str(alice)
        assert as_alice["claims"]["role"] == "authenticated" and as_bob["claims"]["sub"] == str(bob)

        assert call("GET", JOB.format(a_job.json()["jobId"]), a_token).json()["job"]["executorId"] == "exec-a"
        assert_error(call("GET", JOB.format(b_job["jobId"]), a_token), 404, "not_found")  # RLS
        assert_error(call("POST", "/api/collab/task.assign", a_token, {"type": "t", "executorId": "exec-b"}),
                     403, "forbidden")
        recent = call("GET", "/api/collab/jobs/recent?limit=50", a_token).json()["items"]
        assert {j["executorId"] for j in recent} == {"exec-a"}
        assert [c["claims"]["sub"] for c in forwarded(postgrest, "get_job_v1")] == [str(alice)] * 2

        # the service-role path is unchanged: the secret key alone, and it sees both executors
        assert call("GET", "/api/collab/jobs/stats", None).json()["stats"]["total"] == 2
        assert forwarded(postgrest, "stats_v1") == [{"apikey": SECRET_KEY, "claims": None}]
        assert call("GET", JOB.format(b_job["jobId"]), None).json()["job"]["executorId"] == "exec-b"
        assert forwarded(postgrest, "get_job_v1")[-1]["claims"] is None


def test_the_token_cases_through_collab_serve(postgrest: PostgrestServer, tmp_path: Path,
                                              members: tuple[uuid.UUID, uuid.UUID]) -> None:
    alice, _ = members
    now = int(time.time())
    legacy_service_key = jwt.encode({"iss": "supabase", "ref": "abcdefghijklmnopqrst", "role": "service_role",
                                     "iat": now, "exp": now + 10 * 365 * 86400}, JWT_SECRET, algorithm="HS256")
    no_iat = jwt.encode({"sub": str(alice), "role": "authenticated", "aud": "authenticated",
                         "exp": now + 600}, JWT_SECRET, algorithm="HS256")
    expired = token_for(alice, extra={"iat": now - 7200, "exp": now - 3600})
    env = {"COLLAB_DATABASE_URL": "", "SUPABASE_URL": postgrest.url, "SUPABASE_SECRET_KEY": SECRET_KEY,
           "COLLAB_JWT_MODE": "local", "SUPABASE_JWT_SECRET": JWT_SECRET}
    with start_server("", tmp_path, **env) as server:
        def call(method: str, path: str, token: str, body: Any = None) -> httpx.Response:
            return httpx.request(method, server.base + path, json=body, timeout=10,
                                 headers={"Authorization": f"Bearer {token}"})

        made = call("POST", "/api/collab/task.assign", no_iat, {"type": "t", "executorId": "exec-a"})
        assert made.status_code == 200, (made.text, server.log.read_text())
        assert forwarded(postgrest, "assign_job_v1")[-1]["claims"]["sub"] == str(alice)
        assert "iat" not in forwarded(postgrest, "assign_job_v1")[-1]["claims"]

        other = call("POST", "/api/collab/task.assign", legacy_service_key, {"type": "t", "executorId": "exec-b"})
        assert other.status_code == 200, other.text
        assert forwarded(postgrest, "assign_job_v1")[-1]["claims"] is None  # the secret key alone
        assert_error(call("GET", JOB.format(other.json()["jobId"]), no_iat), 404, "not_found")  # RLS
        assert call("GET", "/api/collab/jobs/stats", legacy_service_key).json()["stats"]["total"] == 2

        sent = len(postgrest.api.requests)
        assert_error(call("GET", "/api/collab/jobs/stats", expired), 401, "token_expired")
        assert len(postgrest.api.requests) == sent  # refused before anything reached PostgREST
    for token in (legacy_service_key, no_iat, expired):
        assert token not in server.log.read_text()


def test_an_identity_keeps_its_token_out_of_repr_and_equality() -> None:
    token = token_for(uuid.uuid4())
    identity = Authenticator(AuthConfig(mode="local", jwt_secret=JWT_SECRET)).verify_token(token)
    assert identity.token == token and token not in repr(identity)
    assert identity == dataclasses.replace(identity, token=None)
