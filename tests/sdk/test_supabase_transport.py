"""SupabaseTransport: the exact requests supabase-py makes, and how PostgREST's answers
(from the stand-in over the real database, or canned from PostgREST's docs) become
collab errors; retries only for reads."""

from __future__ import annotations

import json
import uuid
import warnings
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import respx

from collab_sdk.client.async_client import AsyncCollabClient
from collab_sdk.errors import (CollabError, Forbidden, LeaseLost, SchemaMismatch, TransportError,
                               Unauthorized)
from collab_sdk.errors import TRANSIENT_RETRIES, Transient
from collab_sdk.transports.supabase.rpc import IDEMPOTENT_RPCS, SupabaseTransport
from collab_sdk.transports.supabase.session import key_role
from support.postgrest_standin import (ANON_KEY, PUBLISHABLE_KEY, SECRET_KEY, SERVICE_ROLE_KEY, SUPABASE_URL,
                               PostgrestStandin, http_status, make_jwt, user_token)
from support import Caller, add_members
from support.faults import inject_transient, injected

RPC = f"{SUPABASE_URL}/rest/v1/rpc"


def body(request: httpx.Request) -> Any:
    return json.loads(request.content)


@pytest.fixture
async def service(postgrest: PostgrestStandin) -> AsyncIterator[AsyncCollabClient]:
    async with AsyncCollabClient(SupabaseTransport(SUPABASE_URL, SECRET_KEY, backoff=0)) as client:
        yield client


async def test_service_requests_carry_the_secret_key_only_as_apikey(
        postgrest: PostgrestStandin, service: AsyncCollabClient) -> None:
    assigned = await service.assign("t.req", executor_id="ex", payload={"url": "u"}, idempotency_key="k")
    await service.get_job(assigned.job_id)

    version, assign, get = postgrest.rpc_requests()
    assert [r.url.path for r in (version, assign, get)] == [
        "/rest/v1/rpc/schema_version", "/rest/v1/rpc/assign_job_v1", "/rest/v1/rpc/get_job_v1"]
    for request in (version, assign, get):
        assert request.method == "POST" and request.url.query == b""
        assert request.headers["apikey"] == SECRET_KEY
        assert "authorization" not in request.headers  # an sb_ key is not a JWT: never a Bearer
        assert request.headers["content-profile"] == request.headers["accept-profile"] == "collab"
        assert request.headers["content-type"] == "application/json"
    assert body(version) == {}
    assert body(assign) == {"type": "t.req", "executor_id": "ex", "payload": {"url": "u"},
                            "idempotency_key": "k"}  # unset arguments are left to SQL defaults
    assert body(get) == {"job_id": str(assigned.job_id)}
    answer = postgrest.responses("assign_job_v1")[0]
    assert answer.status_code == 200 and answer.json() == [{"job_id": str(assigned.job_id), "queued": True}]
    assert postgrest.responses("schema_version")[0].json() == 4  # a scalar: the bare value


async def test_user_session_is_the_bearer_and_the_publishable_key_the_apikey(
        postgrest: PostgrestStandin, owner: Caller) -> None:
    user_id = uuid.uuid4()
    add_members(owner, user_id, {"ex": "worker"})
    token = user_token(user_id)
    async with AsyncCollabClient(SupabaseTransport(SUPABASE_URL, PUBLISHABLE_KEY, access_token=token)) as user:
        assert (await user.assign("t.user", executor_id="ex")).queued
        assert (await user.stats(executor_id="ex")).queued == 1
    for request in postgrest.rpc_requests():
        assert request.headers["authorization"] == f"Bearer {token}"
        assert request.headers["apikey"] == PUBLISHABLE_KEY


@pytest.mark.parametrize("key, expected", [(SERVICE_ROLE_KEY, None), (ANON_KEY, Unauthorized)],
                         ids=["service_role", "anon"])
async def test_legacy_jwt_keys_are_sent_as_bearer_too(postgrest: PostgrestStandin, key: str,
                                                      expected: type[CollabError] | None) -> None:
    transport = SupabaseTransport(SUPABASE_URL, key)
    try:
        if expected is None:
            assert (await transport.call("stats_v1", {}))["total"] == 0
        else:
            with pytest.raises(expected):  # even schema_version is not for anon
                await transport.call("stats_v1", {})
    finally:
        await transport.aclose()
    request = postgrest.rpc_requests()[-1]
    assert request.headers["authorization"] == f"Bearer {key}" and request.headers["apikey"] == key


def test_key_roles() -> None:
    assert key_role(SECRET_KEY) == key_role(SERVICE_ROLE_KEY) == "service_role"
    assert key_role(PUBLISHABLE_KEY) == key_role(ANON_KEY) == key_role("not-a-jwt") == "anon"
    assert SupabaseTransport(SUPABASE_URL, PUBLISHABLE_KEY).anonymous
    assert not SupabaseTransport(SUPABASE_URL, PUBLISHABLE_KEY, access_token="t").anonymous
    assert not SupabaseTransport(SUPABASE_URL, SECRET_KEY).anonymous


async def test_database_errors_through_postgrest(postgrest: PostgrestStandin, service: AsyncCollabClient) -> None:
    await service.assign("t.err", executor_id="ex")
    job = await service.claim("ex", "w1")
    assert job is not None
    with pytest.raises(LeaseLost) as lost:
        await service.complete(job.id, "w2")
    assert lost.value.code == "CL410" and "lease" in lost.value.message
    answer = postgrest.responses("complete_job_v1")[-1]
    assert answer.status_code == 400 and answer.json()["code"] == "CL410"  # unknown SQLSTATE: 400
    assert set(answer.json()) == {"code", "details", "hint", "message"}

    anon = AsyncCollabClient(SupabaseTransport(SUPABASE_URL, PUBLISHABLE_KEY))
    with pytest.raises(Unauthorized) as denied:
        await anon.stats()  # already the schema check is refused
    await anon.aclose()
    assert denied.value.code == "42501"
    assert postgrest.responses("schema_version")[-1].status_code == 401  # 42501 as anon


async def test_unknown_function_or_argument_is_pgrst202(postgrest: PostgrestStandin) -> None:
    transport = SupabaseTransport(SUPABASE_URL, SECRET_KEY)
    try:
        with pytest.raises(SchemaMismatch) as missing:
            await transport.call("get_job_v9", {"job_id": str(uuid.uuid4())})
        with pytest.raises(SchemaMismatch) as misspelt:
            await transport.call("get_job_v1", {"jobid": str(uuid.uuid4())})
        with pytest.raises(SchemaMismatch):
            await transport.call("get_job_v1", {})  # a required argument left out
    finally:
        await transport.aclose()
    assert missing.value.code == misspelt.value.code == "PGRST202"
    assert "collab.get_job_v1(jobid)" in misspelt.value.message and misspelt.value.details
    assert {r.status_code for r in postgrest.responses()} == {404}


async def test_wrong_schema_and_bad_tokens(postgrest: PostgrestStandin) -> None:
    hidden = SupabaseTransport(SUPABASE_URL, SECRET_KEY, schema="private")
    expired = SupabaseTransport(SUPABASE_URL, PUBLISHABLE_KEY,
                                access_token=user_token(uuid.uuid4(), expires_in=-60))
    forged = SupabaseTransport(SUPABASE_URL, PUBLISHABLE_KEY, access_token=make_jwt(
        {"role": "service_role"}, secret="another-secret-that-is-at-least-32-chars"))
    try:
        with pytest.raises(SchemaMismatch) as schema:
            await hidden.call("schema_version", {})
        with pytest.raises(Unauthorized) as late:
            await expired.call("schema_version", {})
        with pytest.raises(Unauthorized) as fake:
            await forged.call("schema_version", {})
    finally:
        for transport in (hidden, expired, forged):
            await transport.aclose()
    assert schema.value.code == "PGRST106" and "collab" in schema.value.message
    assert late.value.code == fake.value.code == "PGRST301"
    assert [r.status_code for r in postgrest.responses()] == [406, 401, 401]


async def test_a_project_that_does_not_expose_collab_says_how_to_expose_it(db_url: str) -> None:
    # A hosted project's default Data API: public and graphql_public only.
    async with PostgrestStandin(db_url, exposed_schemas=("public", "graphql_public")) as api:
        transport = SupabaseTransport(SUPABASE_URL, SECRET_KEY)
        try:
            with pytest.raises(SchemaMismatch) as hidden:
                await transport.call("schema_version", {})
        finally:
            await transport.aclose()
        assert [r.status_code for r in api.responses()] == [406]
    assert hidden.value.code == "PGRST106"
    assert "Project Settings → Data API → Exposed schemas, add 'collab'" in hidden.value.message
    assert hidden.value.hint is not None and "[api] schemas in supabase/config.toml" in hidden.value.hint


async def test_a_user_without_membership_is_forbidden(postgrest: PostgrestStandin) -> None:
    user = SupabaseTransport(SUPABASE_URL, PUBLISHABLE_KEY, access_token=user_token(uuid.uuid4()))
    try:
        with pytest.raises(Forbidden) as denied:
            await user.call("assign_job_v1", {"type": "t", "executor_id": "ex"})
    finally:
        await user.aclose()
    assert denied.value.code == "CL403"


async def test_reads_are_retried_after_network_errors_and_503s(postgrest: PostgrestStandin,
                                                              service: AsyncCollabClient) -> None:
    await service.assign("t.retry", executor_id="ex")
    before = len(postgrest.rpc_requests("stats_v1"))
    postgrest.faults.extend([httpx.ConnectError("connection refused"),
                             httpx.Response(503, text="<html>upstream unavailable</html>"),
                             httpx.ReadTimeout("timed out")])
    assert (await service.stats(executor_id="ex")).queued == 1
    assert len(postgrest.rpc_requests("stats_v1")) - before == 4


async def test_reads_give_up_after_the_retries(postgrest: PostgrestStandin, service: AsyncCollabClient) -> None:
    await service.connect()
    postgrest.faults.extend([httpx.Response(503, json={"code": "PGRST001", "details": None, "hint": None,
                                                       "message": "Database client error"})] * 4)
    with pytest.raises(TransportError) as failed:
        await service.jobs_recent()
    assert failed.value.code == "PGRST001"
    assert len(postgrest.rpc_requests("jobs_recent_v1")) == 4  # 1 + retries=3


@pytest.mark.parametrize("fault", [httpx.ConnectError("connection refused"),
                                   httpx.Response(503, text="Service Unavailable")])
async def test_writes_are_never_retried(postgrest: PostgrestStandin, service: AsyncCollabClient,
                                        fault: httpx.Response | Exception) -> None:
    await service.connect()
    postgrest.faults.append(fault)
    with pytest.raises(TransportError):
        await service.assign("t.once", executor_id="ex")
    assert len(postgrest.rpc_requests("assign_job_v1")) == 1
    assert (await service.stats(executor_id="ex")).total == 0  # the fault stood for a lost request


async def test_a_gateway_answer_without_code_is_a_transport_error(postgrest: PostgrestStandin) -> None:
    transport = SupabaseTransport(SUPABASE_URL, "sb_publishable_unknown")
    try:
        with pytest.raises(TransportError, match="Invalid API key"):
            await transport.call("stats_v1", {})
    finally:
        await transport.aclose()
    assert len(postgrest.rpc_requests()) == 1  # a codeless answer is not retried
    assert postgrest.responses()[0].status_code == 401


CANNED = [  # PostgREST answers as documented (https://docs.postgrest.org/en/v12/references/errors.html)
    (400, {"code": "CL410", "details": None, "hint": None,
           "message": "lease lost: job 5 is not held by worker w1"}, SECRET_KEY, None, LeaseLost),
    (401, {"code": "42501", "details": None, "hint": None,
           "message": "permission denied for function stats_v1"}, PUBLISHABLE_KEY, None, Unauthorized),
    (403, {"code": "42501", "details": None, "hint": None,
           "message": "permission denied for function stats_v1"}, PUBLISHABLE_KEY, "token", Forbidden),
    (404, {"code": "PGRST202", "details": "Searched for the function collab.stats_v1 with parameter x",
           "hint": "Perhaps you meant to call the function collab.stats_v1",
           "message": "Could not find the function collab.stats_v1(x) in the schema cache"},
     SECRET_KEY, None, SchemaMismatch),
]


@pytest.mark.parametrize("status, answer, key, token, expected", CANNED)
async def test_canned_postgrest_errors(status: int, answer: dict[str, Any], key: str, token: str | None,
                                       expected: type[CollabError]) -> None:
    with respx.mock(assert_all_called=True) as router:
        route = router.post(f"{RPC}/stats_v1").mock(return_value=httpx.Response(status, json=answer))
        transport = SupabaseTransport(SUPABASE_URL, key, access_token=token, backoff=0)
        with pytest.raises(expected) as raised:
            await transport.call("stats_v1", {})
        await transport.aclose()
    error = raised.value
    assert (error.code, error.message, error.hint, error.details) == (
        answer["code"], answer["message"], answer["hint"], answer["details"])
    assert route.call_count == 1


async def test_no_deprecation_warnings_and_lazy_client(postgrest: PostgrestStandin) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error", DeprecationWarning)
        transport = SupabaseTransport(SUPABASE_URL, SECRET_KEY)
        assert not transport.session.started and not postgrest.requests  # nothing until the first call
        assert await transport.call("schema_version", {}) == 4
        supabase = await transport.supabase()
        assert supabase.storage is not None and supabase.postgrest is not None
        await transport.aclose()
        await transport.aclose()  # twice is harmless


async def test_a_given_http_client_is_used_and_left_open(postgrest: PostgrestStandin) -> None:
    seen: list[httpx.Request] = []

    async def record(request: httpx.Request) -> None:
        seen.append(request)

    async with httpx.AsyncClient(event_hooks={"request": [record]}) as http:
        transport = SupabaseTransport(SUPABASE_URL, SECRET_KEY, http_client=http)
        assert await transport.call("schema_version", {}) == 4
        await transport.aclose()
        assert not http.is_closed and len(seen) == 1


def test_idempotent_rpcs_are_reads_only() -> None:
    assert "schema_version" in IDEMPOTENT_RPCS
    assert not {"assign_job_v1", "claim_one_job_v3", "complete_job_v1", "dlq_retry_v1"} & IDEMPOTENT_RPCS


@pytest.mark.parametrize("sqlstate, anonymous, status", [
    ("42501", True, 401), ("42501", False, 403), ("42883", False, 404), ("P0001", False, 400),
    ("22P02", False, 400), ("23502", False, 400), ("23505", False, 409), ("25006", False, 405),
    ("08006", False, 503), ("53300", False, 503), ("53400", False, 500), ("40001", False, 500),
    ("CL410", False, 400), ("PT402", False, 402)])
def test_standin_status_table(sqlstate: str, anonymous: bool, status: int) -> None:
    assert http_status(sqlstate, anonymous=anonymous) == status


async def test_stable_functions_run_read_only(postgrest: PostgrestStandin, owner: Caller) -> None:
    """As PostgREST: POST to a STABLE function runs in a READ ONLY transaction (25006 → 405)."""
    owner.sql("create sequence collab.t_counter")
    owner.sql("create function collab.t_sneaky_read() returns bigint language plpgsql stable"
              " as $$ begin return nextval('collab.t_counter'); end $$")
    owner.sql("grant usage, update on sequence collab.t_counter to service_role")
    # Granted by hand: functions made after migrating are no longer executable by PUBLIC.
    owner.sql("grant execute on function collab.t_sneaky_read() to service_role")
    transport = SupabaseTransport(SUPABASE_URL, SECRET_KEY)
    try:
        with pytest.raises(CollabError) as refused:
            await transport.call("t_sneaky_read", {})
    finally:
        await transport.aclose()
    assert refused.value.code == "25006" and "read-only transaction" in refused.value.message
    assert postgrest.responses("t_sneaky_read")[0].status_code == 405


async def test_transient_errors_are_retried_for_writes_too(postgrest: PostgrestStandin, db_url: str,
                                                          service: AsyncCollabClient) -> None:
    """40001/40P01 rolled PostgREST's transaction back whole: a write is repeated (up to
    TRANSIENT_RETRIES times) and stored once; past the budget it is Transient, nothing written."""
    await service.connect()
    inject_transient(db_url, TRANSIENT_RETRIES, on="insert")
    job = await service.assign("t.raced", executor_id="ex")
    assert injected(db_url) == TRANSIENT_RETRIES + 1
    assert len(postgrest.rpc_requests("assign_job_v1")) == TRANSIENT_RETRIES + 1
    inject_transient(db_url, injected(db_url) + TRANSIENT_RETRIES + 1, on="insert")
    with pytest.raises(Transient):
        await service.assign("t.lost", executor_id="ex")
    stats = await service.stats(executor_id="ex")
    assert stats.total == 1 and job.queued
